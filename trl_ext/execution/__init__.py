"""The sandbox that runs untrusted generated code: isolation, limits, parallel batches, test judging.

Threat model. The code comes from a policy optimised to make the verdict say "pass": it is assumed to try
everything, from forging the verdict to attacking the host, the jobs of other callers, or its own later
jobs (teaching a later run the answers it learned were wrong).

What is isolated (bubblewrap mode, `sandbox.py`):
- Host privilege: none, whoever starts it. When the caller is root, bubblewrap runs as the host uid `nobody`
  (from a world-readable copy of bubblewrap when `nobody` cannot reach the installed one, with an
  interpreter `nobody` can reach: this one, the venv's base, or the system's Python 3), so the sandbox's uid
  maps to no privileged host uid, wherever the checkout and venv are (a 0700 `/root` or `mktemp -d`
  included). It fails closed: a root caller that cannot run it as `nobody` gets an error, never a sandbox
  mapped to host root, unless it sets `TRL_EXT_SANDBOX_ALLOW_HOST_ROOT=1`; `isolation="auto"` as root never
  falls back to rlimits. No capabilities in any job (the worker alone holds CAP_SYS_ADMIN inside the
  sandbox's user namespace, to make each job's namespaces, and every job server drops all capabilities,
  bounding set included); nested user namespaces disabled; each job runs in a PID and mount namespace of
  its own, whose `/proc` has `/proc/sys` read-only and the kernel's secrets (kallsyms, modules,
  cmdline, config.gz, kcore, timer_list, iomem, ...) masked; a seccomp filter (`seccomp.py`) denies mount,
  namespaces, keyrings, ptrace and other processes' memory, bpf, perf, io_uring, userfaultfd, kexec,
  modules, clocks, SysV IPC, POSIX message queues, raw/packet/netlink/vsock sockets, and lets prlimit,
  setpriority, sched_setaffinity/setscheduler/setparam/setattr and ioprio_set act only on the caller.
- Files, network, secrets: a read-only view of the system and the interpreter only; no network; a cleared
  environment; a `/tmp` and `/dev/shm` of each job's own (fresh tmpfs mounts, gone when it ends); a
  read-only `/dev`.
- Nothing a job does outlives it (tested channel by channel, in every mode, by `tests/test_sandbox_isolation.py`):
  no job can change an attribute of its job server or worker (rlimits soft and hard, nice, affinity,
  scheduler, ioprio: the filter above), and the worker compares its attributes after every job and retires
  if they changed (the pool replaces it); every job has its own PID namespace (its job server is pid 1:
  when it exits, the kernel kills every process left) and its own tmpfs `/tmp` and `/dev/shm`, so process
  ids and inode numbers start afresh in every job, whatever an earlier job forked or created; the job dir
  is wiped before every program starts, and no IPC object, key or `/dev` entry can be created. A job's
  processes are forked from a fresh fork of the worker that read only that job, so they cannot find
  another job's program, outputs or test code in the memory they inherit.
- Verdicts (`judge.py`, `_worker.py`): decided on the host from plain data: stdout text, or a return value
  encoded as plain data and decoded strictly (no object of the candidate's, so no custom `__eq__`).
  Expected outputs never enter the candidate's process. HumanEval-style `check` code runs in a judge
  process apart from the candidate's, forked after it, calling it over a pipe; the candidate inherits no
  descriptor to the judge, and the verdict is the judge's report. A program's stdio are descriptors the
  server opened before it started, so no link it leaves (e.g. to the server's pipes) is ever opened.
- Limits: wall time; CPU time of the job's whole process tree; memory of the whole job (the worker's
  cgroup is set to the job's `memory_mb` before each job, capped per worker at a share of the host's
  memory) and of each process (rlimit); processes (pids cgroup); output size; one CPU core per worker
  (cgroup). Each cgroup limit that cannot be set is named in a warning.
- The host side: nothing a job emits can crash it (it ends in a status for that job, and a worker whose
  protocol state is in doubt is discarded), and judging what it returned costs linear time and bounded
  memory (caps in `judge.py`).

What is not: the kernel is shared (a kernel exploit through an allowed syscall escapes). Counters the
kernel keeps for the whole host (forks since boot in `/proc/stat`, memory and file statistics, load) move
with everything running on the host, and timing is not isolated: a job could try to pass a few noisy bits
to a later job through them. The
candidate sees the arguments of each call and may keep state across the calls of one job; in `test_code`
mode it may stall or kill the judge (the job then fails) and learns, from the calls that do or do not
follow, where a `check` stopped. Test code that passes functions or objects, inspects the candidate object,
or relies on its arguments being mutated cannot run in `test_code` mode. Timing side channels between
concurrent jobs are not closed. On architectures other than x86-64 and aarch64 a job's processes may
signal its job server (see `_worker.py`): that job then fails, others are unaffected. A check that catches
an exception from `candidate` cannot tell the candidate's exception from its failure to reply. Without
libseccomp the attribute filter is missing: the worker's check after each job is then what retires a
worker a job changed (the change still reaches the rest of that job). `isolation="rlimits"` (no
bubblewrap) isolates nothing but the limits and runs programs as the caller, root included: a root caller
must ask for it explicitly; it warns loudly; `isolation="bwrap"` refuses instead.

Where jobs run (`backends.py`): this pool (default), replicas of `trl-ext sandbox serve` or another SandboxFusion
deployment (`remote.py`, `server.py`), or Ray actors (`ray_backend.py`), chosen by `TRL_EXT_EXECUTION` or a
config's `execution` field; `run*` dispatch there when no explicit `sandbox` is given.
"""

from trl_ext.execution.backends import arun_batch, arun_tests_batch, configure
from trl_ext.execution.judge import (
    STATUSES,
    ExecResult,
    TestResult,
    TestsResult,
    check_tests,
    default_sandbox,
    outputs_match,
    run,
    run_batch,
    run_tests,
    run_tests_batch,
    values_match,
)
from trl_ext.execution.sandbox import Sandbox, SandboxUnavailableError

__all__ = [
    "STATUSES",
    "ExecResult",
    "arun_batch",
    "arun_tests_batch",
    "configure",
    "Sandbox",
    "SandboxUnavailableError",
    "TestResult",
    "TestsResult",
    "check_tests",
    "default_sandbox",
    "outputs_match",
    "run",
    "run_batch",
    "run_tests",
    "run_tests_batch",
    "values_match",
]
