"""Nothing a job does outlives it (issue 22, items 1-3): a hostile job writes every channel it can find, and
the next job on the SAME worker, in every mode (stdin, call, test_code), must find each one pristine and
still be judged right (a correct solution passes, the plain wrong one fails).

The channels: rlimits (soft and hard) of itself, of its job server and of pid 1 (the worker) via prlimit;
nice (per process, process group and user), affinity, scheduler policy, ioprio (per process, group, user);
umask, cwd, environment, signal dispositions and mask, timers, personality, timer slack, oom_score_adj,
`comm`; files in every writable place, /dev/shm, SysV IPC objects, POSIX message queues, abstract unix
sockets, keyrings, a daemon process that tries to live on; and the memory of the job server and worker.
The PID counter and the inode numbers of /tmp and /dev/shm too: each job has a PID namespace and tmpfs
mounts of its own, so the next job sees the same numbers whatever the attack forked or created.
Not covered, and named in the threat model: timing, and counters the kernel keeps for the whole host.
"""

import json
import os

import pytest

from trl_ext.execution import Sandbox, run, run_tests
from trl_ext.execution.judge import _make_tests_job
from trl_ext.execution.sandbox import bwrap_works, default_memory_cap_mb, host_memory_mb

pytestmark = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run on this host")

MARK = "poison_c0ffee"

# The state a job can observe, process ids and inode numbers included.
FINGERPRINT = r"""
import ctypes, glob, json, os, resource, signal, socket, stat
_libc = ctypes.CDLL(None, use_errno=True)
_IOPRIO_GET = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)

def _status(pid):
    keep = ("Umask", "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
            "NoNewPrivs", "Seccomp", "Cpus_allowed_list", "Mems_allowed_list", "Speculation_Store_Bypass")
    lines = open(f"/proc/{pid}/status").read().splitlines()
    return [line for line in lines if line.split(":")[0] in keep]

def _read(path):
    with open(path, "rb") as f:
        return f.read(1 << 16).decode("utf-8", "replace")

def _tree(root):
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        names += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return sorted(names)

def _processes():
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                found.append(_read(f"/proc/{entry}/cmdline").replace("\0", " "))
            except OSError:
                found.append("?")
    return sorted(found)

def _marked(roots):
    hits = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath.startswith(("/proc", "/sys", "/usr", "/lib", "/bin", "/sbin")):  # read-only system dirs
                dirnames[:] = []
                continue
            hits += [os.path.join(dirpath, n) for n in dirnames + filenames if "poison" in n]
    return sorted(hits)

def _pids():  # the PID counter: this process, its parent, a new child, the last pid in /proc/loadavg
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    return [os.getpid(), os.getppid(), child, _read("/proc/loadavg").split()[-1]]

def _inodes():  # inode numbers: the tmpfs roots, and a new file and directory in each
    found = []
    for root in ("/tmp", "/dev/shm"):
        path = os.path.join(root, "fingerprint_probe")
        with open(path, "w"):
            pass
        os.mkdir(path + "_dir")
        found += [os.stat(root).st_ino, os.stat(path).st_ino, os.stat(path + "_dir").st_ino]
        os.unlink(path)
        os.rmdir(path + "_dir")
    return found

def fingerprint():
    fp = {}
    def probe(name, fn):
        try:
            fp[name] = fn()
        except Exception as e:
            fp[name] = "error " + type(e).__name__
    limits = sorted(n for n in dir(resource) if n.startswith("RLIMIT_"))
    for who, pid in (("self", 0), ("server", os.getppid()), ("pid1", 1)):
        for n in limits:
            probe(f"{who} {n}", lambda: list(resource.prlimit(pid, getattr(resource, n))))
        probe(f"{who} nice", lambda: os.getpriority(os.PRIO_PROCESS, pid))
        probe(f"{who} affinity", lambda: sorted(os.sched_getaffinity(pid)))
        probe(f"{who} scheduler", lambda: os.sched_getscheduler(pid))
        probe(f"{who} sched_param", lambda: os.sched_getparam(pid).sched_priority)
        probe(f"{who} ioprio", lambda: _libc.syscall(_IOPRIO_GET, 1, pid))
        probe(f"{who} status", lambda: _status(pid or "self"))
        probe(f"{who} oom_score_adj", lambda: _read(f"/proc/{pid or 'self'}/oom_score_adj"))
        probe(f"{who} comm", lambda: _read(f"/proc/{pid or 'self'}/comm"))
        probe(f"{who} autogroup", lambda: _read(f"/proc/{pid or 'self'}/autogroup").split()[-1])
    probe("pgrp nice", lambda: os.getpriority(os.PRIO_PGRP, 0))
    probe("user nice", lambda: os.getpriority(os.PRIO_USER, 0))
    probe("umask", lambda: os.umask(os.umask(0o022)))
    probe("cwd", os.getcwd)
    probe("cwd listing", lambda: sorted(n for n in os.listdir(".") if not n.startswith(".std")))
    probe("environ", lambda: sorted(os.environ.items()))
    probe("signals", lambda: {s.name: str(signal.getsignal(s)) for s in signal.valid_signals()
                              if isinstance(s, signal.Signals)})
    probe("sigmask", lambda: sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    probe("itimers", lambda: [signal.getitimer(t) for t in (0, 1, 2)])
    probe("posix timers", lambda: _read("/proc/self/timers"))
    probe("personality", lambda: _libc.personality(0xFFFFFFFF))
    probe("timerslack", lambda: _libc.prctl(30, 0, 0, 0, 0))
    probe("dumpable", lambda: _libc.prctl(3, 0, 0, 0, 0))
    probe("hostname", socket.gethostname)
    probe("tmp", lambda: _tree("/tmp"))
    probe("dev/shm", lambda: _tree("/dev/shm"))
    probe("marked files", lambda: _marked(["/"]))
    probe("sysv ipc", lambda: [_read(f"/proc/sysvipc/{k}").splitlines()[1:] for k in ("shm", "sem", "msg")])
    probe("mqueue", lambda: _tree("/dev/mqueue"))
    probe("unix sockets", lambda: sorted(line.split()[-1] for line in _read("/proc/net/unix").splitlines()[1:]
                                         if len(line.split()) > 7))
    probe("tcp", lambda: _read("/proc/net/tcp").splitlines()[1:] + _read("/proc/net/tcp6").splitlines()[1:])
    probe("udp", lambda: _read("/proc/net/udp").splitlines()[1:])
    probe("keys", lambda: _read("/proc/keys"))
    probe("key-users", lambda: _read("/proc/key-users"))
    probe("processes", _processes)
    probe("pids", _pids)
    probe("inodes", _inodes)
    return json.dumps(fp, sort_keys=True)
"""

# Writes every channel; returns the list of writes that reached anything beyond this process.
ATTACK = r"""
import ctypes, os, resource, signal, socket, time
_libc = ctypes.CDLL(None, use_errno=True)
_NR = {"x86_64": {"ioprio_set": 251, "add_key": 248, "shmget": 29, "semget": 64, "msgget": 68,
                  "process_vm_writev": 311, "ptrace": 101, "sched_setattr": 314},
       "aarch64": {"ioprio_set": 30, "add_key": 217, "shmget": 194, "semget": 190, "msgget": 186,
                   "process_vm_writev": 271, "ptrace": 117, "sched_setattr": 274}}.get(os.uname().machine, {})

def _sys(name, *args):
    ctypes.set_errno(0)
    rc = _libc.syscall(_NR[name], *[ctypes.c_long(a) for a in args])
    if rc == -1:
        raise OSError(ctypes.get_errno(), name)
    return rc

def attack():
    reached = []
    def attempt(name, fn):
        try:
            fn()
            reached.append(name)
        except Exception:
            pass
    others = {"pid1": 1, "server": os.getppid()}
    for who, pid in others.items():
        for n in sorted(n for n in dir(resource) if n.startswith("RLIMIT_")):
            r = getattr(resource, n)
            def lower(r=r, pid=pid):
                soft, hard = resource.prlimit(pid, r)
                new = (hard - 3) if hard != resource.RLIM_INFINITY else 2**40 + 12345
                resource.prlimit(pid, r, (min(new, hard) - 1 if new > 1 else new, min(new, hard)))
            attempt(f"prlimit {who} {n}", lower)
        attempt(f"setpriority {who}", lambda pid=pid: os.setpriority(os.PRIO_PROCESS, pid, 17))
        attempt(f"affinity {who}", lambda pid=pid: os.sched_setaffinity(pid, {min(os.sched_getaffinity(pid))}))
        attempt(f"scheduler {who}", lambda pid=pid: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)))
        attempt(f"batch {who}", lambda pid=pid: os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0)))
        attempt(f"sched_setattr {who}", lambda pid=pid: _sys("sched_setattr", pid, 0, 0))
        attempt(f"ioprio {who}", lambda pid=pid: _sys("ioprio_set", 1, pid, (3 << 13)))
        for path in ("oom_score_adj", "comm", "autogroup", "timerslack_ns", "coredump_filter", "attr/current"):
            def write(path=path, pid=pid):
                with open(f"/proc/{pid}/{path}", "w") as f:
                    f.write("7")
            attempt(f"/proc/{who}/{path}", write)
        def mem(pid=pid):
            with open(f"/proc/{pid}/mem", "r+b") as f:
                f.write(b"x")
        attempt(f"/proc/{who}/mem", mem)
        attempt(f"ptrace {who}", lambda pid=pid: _sys("ptrace", 16, pid, 0, 0))
        buf = ctypes.create_string_buffer(8)
        iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)
        remote = (ctypes.c_void_p * 2)(0x400000, 8)
        attempt(f"process_vm_writev {who}", lambda pid=pid: _sys("process_vm_writev", pid, ctypes.addressof(iov), 1,
                                                            ctypes.addressof(remote), 1, 0))
    attempt("setpriority pgrp 1", lambda: os.setpriority(os.PRIO_PGRP, 1, 18))
    attempt("setpriority user", lambda: os.setpriority(os.PRIO_USER, 0, 19))
    attempt("ioprio pgrp 1", lambda: _sys("ioprio_set", 2, 1, (3 << 13)))
    attempt("ioprio user", lambda: _sys("ioprio_set", 3, 0, (3 << 13)))
    attempt("add_key", lambda: _sys("add_key", ctypes.addressof(ctypes.create_string_buffer(b"user")),
                                    ctypes.addressof(ctypes.create_string_buffer(b"poison")), 0, 0, -3))
    attempt("shmget", lambda: _sys("shmget", 0x5EED, 4096, 0o1666))
    attempt("semget", lambda: _sys("semget", 0x5EED, 1, 0o1666))
    attempt("msgget", lambda: _sys("msgget", 0x5EED, 0o1666))
    attempt("mq_open", lambda: os.close(_libc.mq_open(b"/poison", 0o100 | 2, 0o666, None)) if hasattr(_libc, "mq_open") else None)
    # own state: nothing of it may reach the next job either
    os.umask(0o777); os.umask(0o077)
    os.environ["POISON"] = "1"; os.putenv("POISON", "1")
    for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    signal.setitimer(signal.ITIMER_VIRTUAL, 100.0)
    _libc.prctl(30, 12345, 0, 0, 0)
    _libc.personality(0x0040000)
    # move the PID counter and the tmpfs inode counters: the next job must not see where they got to
    for _ in range(37):
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
    for root in ("/tmp", "/dev/shm"):
        for i in range(23):
            try:
                open(os.path.join(root, f"counter_{i}"), "w").close()
            except OSError:
                pass
    for where in ["/tmp", "/dev/shm", "/var/tmp", "/run", "/run/lock", "/dev/mqueue", "/", "/sandbox", os.getcwd(),
                  os.path.expanduser("~"), "/dev", "/etc", "/proc/self", "/proc/1/cwd", "/proc/1/root/tmp"]:
        def create(where=where):
            with open(os.path.join(where, "poison_file"), "w") as f:
                f.write("1")
            os.chmod(os.path.join(where, "poison_file"), 0o000)
        try:  # files are looked for by the next job's fingerprint; the private /tmp and /dev/shm take them
            create()
        except OSError:
            pass
    for dirpath, dirnames, _ in os.walk("/"):
        if dirpath.startswith(("/proc", "/sys", "/usr", "/lib", "/bin", "/sbin")) or dirpath.count("/") > 3:
            dirnames[:] = []
            continue
        if os.access(dirpath, os.W_OK):
            try:
                os.mkdir(os.path.join(dirpath, "poison_dir"), 0o500)
            except OSError:
                pass
    try:
        os.chdir("/tmp"); os.chmod("/tmp", 0o500)
    except OSError:
        pass
    # a daemon holding an abstract socket, double-forked and in its own session
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            s = socket.socket(socket.AF_UNIX); s.bind("\0poison_socket")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(30)
        os._exit(0)
    os.wait()
    return reached
"""

CALL_SUITE = [{"input": "[2]", "output": "4"}, {"input": "[5]", "output": "25"}]
STDIN_SUITE = [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "25\n"}]
CHECK = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(5) == 25\n"
RIGHT = "def f(x):\n    return x * x\n"
WRONG = "def f(x):\n    return x + x\n"
MODES = ("stdin", "call", "test_code")


def _tests_job(code: str, mode: str, **extra) -> dict:
    if mode == "stdin":
        return {"code": code, "tests": STDIN_SUITE, **extra}
    if mode == "call":
        return {"code": code, "tests": CALL_SUITE, "fn_name": "f", **extra}
    return {"code": code, "test_code": CHECK, "fn_name": "f", **extra}


def _controls(box: Sandbox, mode: str) -> list[str]:
    """What is wrong with the verdicts of a correct and a wrong solution in `mode` ([] when both are right)."""
    right = RIGHT if mode != "stdin" else "x = int(input())\nprint(x * x)\n"
    wrong = WRONG if mode != "stdin" else "x = int(input())\nprint(x + x)\n"
    problems = []
    got = run_tests(sandbox=box, stop_on_failure=False, **_tests_job(right, mode))
    if not got.passed:
        problems.append(
            f"{mode}: correct solution failed: {[(r.status, r.stderr[-300:]) for r in got.results]}"
        )
    got = run_tests(sandbox=box, stop_on_failure=False, **_tests_job(wrong, mode))
    if got.passed or got.status != "wrong_answer":
        problems.append(f"{mode}: wrong solution got {got.status}")
    return problems


def _read_state(box: Sandbox, mode: str) -> str:
    """The fingerprint a job sees in `mode` (stdin: its stdout; call: its return value; test_code: what the
    candidate wrote to stderr while `check` called it)."""
    code = FINGERPRINT + "import sys\ndef f(x):\n    print(fingerprint(), file=sys.stderr)\n    return 1\n"
    tests = [{"input": "[0]", "output": "1"}]
    if mode == "call":  # (the expected output's size sets how long a reply the host accepts)
        code = FINGERPRINT + "def f(x):\n    return fingerprint()\n"
        tests = [{"input": "[0]", "output": json.dumps("x" * 100_000)}]
    if mode == "stdin":
        code, tests = FINGERPRINT + "print(fingerprint())\n", [{"input": "", "output": ""}]
    extra = (
        {"test_code": "def check(candidate):\n    assert candidate(0) == 1\n"} if mode == "test_code" else {}
    )
    job, secret, _, _ = _make_tests_job(
        code, tests if mode != "test_code" else None, fn_name=None if mode == "stdin" else "f", timeout=20,
        output_limit=1 << 20, **extra
    )  # fmt: skip
    raws = []
    box.execute(job, lambda i, raw: raws.append(raw), secret)
    assert raws and raws[0] is not None and raws[0]["exit_code"] == 0, raws
    if mode == "call":
        return json.loads(raws[0]["report"])["value"]
    return raws[0]["stdout" if mode == "stdin" else "stderr"].strip()


def _attack(box: Sandbox, mode: str) -> list[str]:
    """Run the attack as one job in `mode`; the writes that reached beyond the attacking process."""
    if mode == "stdin":
        result = run(ATTACK + "import json\nprint(json.dumps(attack()))\n", sandbox=box, timeout=20)
        return json.loads(result.stdout) if result.status == "ok" else [f"attack failed: {result.status}"]
    code = ATTACK + "def f(x):\n    return attack()\n"
    if mode == "call":
        got = run_tests(code, [{"input": "[0]", "output": "[]"}], fn_name="f", sandbox=box, timeout=20)
        return [] if got.passed else [got.results[0].got]
    got = run_tests(code, test_code="def check(candidate):\n    assert candidate(0) == []\n", fn_name="f",
                    sandbox=box, timeout=20)  # fmt: skip
    return [] if got.passed else [f"attack reached beyond its process ({got.status})"]


def _diff(before: str, after: str) -> list[str]:
    try:
        a, b = json.loads(before), json.loads(after)
    except ValueError:
        return [after[:500]]
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def test_nothing_a_job_writes_reaches_the_next_job():
    """The attack runs once in each mode, and after each, a reader in each mode compares what it sees with
    what it saw before any attack, on the same worker; correct and wrong solutions are judged right."""
    problems = []
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        assert run("print('warm')", sandbox=box).stdout == "warm\n"
        baseline = {mode: _read_state(box, mode) for mode in MODES}
        for mode in MODES:
            assert _controls(box, mode) == []
        for attack_mode in MODES:
            reached = _attack(box, attack_mode)
            problems += [f"{attack_mode} job reached: {reached}"] if reached else []
            for mode in MODES:
                problems += _controls(box, mode)
                after = _read_state(box, mode)
                problems += [
                    f"{mode} job after a {attack_mode} attack: {d}" for d in _diff(baseline[mode], after)
                ]
    assert problems == []


# ---------------------------------------------------------------------------- item 1: worker poisoning

POISON = """
import os, resource
for pid in (1, os.getppid()):
    for limit, value in ((resource.RLIMIT_FSIZE, 1000), (resource.RLIMIT_NOFILE, 8), (resource.RLIMIT_AS, 50 << 20),
                         (resource.RLIMIT_STACK, 1 << 16), (resource.RLIMIT_CPU, 1)):
        try:
            resource.prlimit(pid, limit, (value, value))
        except OSError:
            pass
    for attempt in (lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
                    lambda: os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))})):
        try:
            attempt()
        except OSError:
            pass
print("done")
"""


def test_a_job_cannot_poison_the_worker_for_later_jobs():
    honest = {"code": RIGHT, "fn_name": "f", "tests": CALL_SUITE, "memory_mb": 1024}
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        assert run(POISON, sandbox=box).stdout == "done\n"
        later = [run_tests(sandbox=box, **honest).passed for _ in range(4)]
        big = run("x = bytearray(300 << 20)\nprint(len(x) >> 20)", sandbox=box, memory_mb=1024, timeout=30)
    assert later == [True] * 4
    assert (big.status, big.stdout) == ("ok", "300\n"), "a job's memory limit was lowered by an earlier job"


# ------------------------------------------------------------------- item 2: learning answers across jobs

LEARNER = """
import os, resource
MAGIC = 0x5EED0000
def remember():
    try:
        return resource.prlimit(1, resource.RLIMIT_RSS)[0]
    except OSError:
        return 0
def store(value):
    try:
        resource.prlimit(1, resource.RLIMIT_RSS, (value, resource.prlimit(1, resource.RLIMIT_RSS)[1]))
    except OSError:
        pass
if remember() == MAGIC:  # an earlier job answered YES and was not told "pass": the answer is NO
    print("NO")
else:
    store(MAGIC)
    print("YES")
"""


def test_no_bit_survives_to_teach_a_later_job_the_answer():
    tests = [{"input": "", "output": "NO"}]
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        passed = [run_tests(LEARNER, tests, sandbox=box).passed for _ in range(4)]
        control = run_tests("print('NO')", tests, sandbox=box).passed
    assert control and passed == [False] * 4


# --------------------------------------------------------- item 3: a restarted candidate and the host's pipes

TAKEOVER = """
import os, stat, sys
def f(x):
    if x == 1:  # replace the job's stdio files with links to whatever fds 0 and 1 are, then die silently
        for name, fd in ((".stdin", 0), (".stdout", 1), (".stderr", 2)):
            try:
                os.unlink(name)
            except OSError:
                pass
            os.symlink(f"/proc/self/fd/{fd}", name)
        os._exit(0)
    kinds = ["file" if stat.S_ISREG(os.fstat(fd).st_mode) else "OTHER" for fd in (0, 1, 2)]
    if "OTHER" in kinds:  # a forged result line for the host, and a grab at the next job's frames
        os.write(1, b'{"end": true}\\n')
        os.set_blocking(0, False)
        try:
            os.read(0, 1 << 16)
        except OSError:
            pass
    return " ".join(kinds)
"""


def test_a_restarted_candidate_cannot_reach_the_servers_pipes():
    tests = [{"input": "[1]", "output": '"x"'}, {"input": "[2]", "output": '"file file file"'}]
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        attacked = run_tests(TAKEOVER, tests, fn_name="f", stop_on_failure=False, sandbox=box)
        after = [run_tests(sandbox=box, **_tests_job(RIGHT, "test_code")).passed for _ in range(2)]
        after += [not run_tests(sandbox=box, **_tests_job(WRONG, "test_code")).passed]
    assert [r.status for r in attacked.results] == ["runtime_error", "ok"], [
        (r.status, r.got) for r in attacked.results
    ]
    assert after == [True, True, True]


def test_stdin_runs_each_find_a_fresh_job_dir():
    code = """
import os
print(sorted(os.listdir(".")), open("/tmp/job/.stdin").read().strip())
for name in (".stdin", ".stdout"):
    os.unlink(name)
    os.symlink("/proc/self/fd/1", name)
open("left_behind", "w").close()
"""
    tests = [{"input": "a\n", "output": "['.stderr', '.stdin', '.stdout'] a"}] * 3
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        result = run_tests(code, tests, stop_on_failure=False, sandbox=box)
    assert [r.status for r in result.results] == ["ok"] * 3, [r.got for r in result.results]


RLIMITS_POISON = """
import os, resource
server = os.getppid()
worker = int(open(f"/proc/{server}/stat").read().rsplit(")", 1)[1].split()[1])
resource.prlimit(worker, resource.RLIMIT_FSIZE, (1000, 1000))
print("poisoned")
"""


@pytest.mark.filterwarnings("ignore:.*RESOURCE LIMITS ONLY")
def test_a_worker_whose_attributes_changed_retires_and_is_replaced():
    """Second line of defence: the worker compares its attributes before each job with those it started with
    and retires when they differ; the pool replaces it. Shown where nothing else stops the change: in
    rlimits mode the job runs as the caller and can reach its worker."""
    with Sandbox(num_workers=1, isolation="rlimits") as box:
        assert run(RLIMITS_POISON, sandbox=box).stdout == "poisoned\n"
        later = [run("print('x' * 5000)", sandbox=box) for _ in range(2)]
    assert [(r.status, len(r.stdout)) for r in later] == [("ok", 5001)] * 2


# ----------------------------------------------------------------------- item 7: memory per job, not per process

SPLIT_MEMORY = """
import os, time
children = []
for _ in range(3):  # each child stays under the per-process limit; together they hold 300 MB
    pid = os.fork()
    if pid == 0:
        block = b"\\x01" * (100 << 20)
        os.write(1, b"held\\n")
        time.sleep(2)  # long enough that the three overlap on a loaded machine too
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    print("killed" if os.WIFSIGNALED(status) else "exited", flush=True)
"""


def test_the_memory_limit_holds_for_the_whole_job():
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        if not _memory_cgroup(box):
            pytest.skip("no writable memory cgroup")
        split = run(SPLIT_MEMORY, sandbox=box, memory_mb=160, timeout=60)
        control = run(SPLIT_MEMORY.replace("100 << 20", "10 << 20"), sandbox=box, memory_mb=160, timeout=60)
    assert control.status == "ok" and control.stdout.count("exited") == 3, control
    # the job's cgroup cannot hold 300 MB: the kernel kills a process of the job (or the whole job) for it
    assert "killed" in split.stdout or split.status == "memory_limit", split


def _memory_cgroup(box: Sandbox) -> bool:
    run("pass", sandbox=box)
    (worker,) = list(box._idle.queue)
    return "memory" in worker.cgroup.limited


def test_the_per_worker_memory_cap_scales_with_the_host():
    assert default_memory_cap_mb(8, host_mb=24 * 1024) == 24 * 1024 * 3 // 4 // 8
    assert default_memory_cap_mb(64, host_mb=8 * 1024) == 256  # never below what one interpreter needs
    assert 0 < host_memory_mb() <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    with Sandbox(num_workers=2, isolation="bwrap") as box:
        assert box.memory_limit_mb == default_memory_cap_mb(2)
