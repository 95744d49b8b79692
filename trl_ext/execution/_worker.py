"""The sandboxed worker: a persistent interpreter that forks the processes of each job.

It runs inside bubblewrap as PID 1 of its own PID namespace (run with `python -S -I`, stdlib only; the host
imports it only for the framing and value codec below). Starting a fresh interpreter costs ~30 ms; forking
this one costs ~1 ms, which is where the sandbox's speed comes from.

Protocol. Host → worker: frames (8-byte big-endian length, then JSON), read with bounded `readv` calls into
one buffer. Worker → host: JSON lines, written together whenever the worker is about to wait. A job is
`{"mode", "code", "inputs", "fn_name", "timeout", "cpu_time", "memory_mb", "output_limit", "nproc"}`, in
call mode with `"reply_limit"` (the longest reply relayed); the job server streams one result line per
input, then the worker (once the server exited) `{"end": true, "retire": bool}` — `retire` when its own
attributes changed, see `attributes`; the host then replaces it. The host may send `{"op": "stop"}` at any
time (results that cross it are dropped; a stop that arrives after the end is skipped). In `test_code`
mode the host sends a second frame after the job, the *secret* part `{"test_code", "test_setup"}`, which
the worker reads only after the candidate's process was forked.

Modes, and who sees what:
- `script`: one process per input, stdin from a file; the host compares stdout.
- `call`: one candidate process (C) runs the inputs (no secret: it was forked holding them) one after the
  other and streams the encoded return values; the host decodes them as plain data and compares.
- `test_code`: C is forked first; then the worker reads the secret frame into a buffer, forks the judge (J),
  and zeroes the buffer. J runs the test code with a `candidate` proxy that calls C over a pipe and gets
  plain data back. C never holds the test code or the expected values (it was forked before they were
  read), inherits no descriptor but its request/response pipes, cannot trace J (seccomp, and J is made
  non-dumpable), and the verdict is J's report on a pipe C does not have.

Being PID 1 protects the worker: signals from inside the namespace, SIGKILL included, are not delivered to
it. It is non-dumpable too. It never reads a job: each job is read and served by a fresh fork of it, the
*job server*, which forks the job's processes and exits when the job ends. So no job's processes find an
earlier job's program, outputs or test code in the memory they inherit (freed heap included). The job
server is pid 1 of a PID and mount namespace of its own (`enter_job_namespaces`), with a fresh /proc, /tmp
and /dev/shm, no capabilities, and mount and unshare denied; the job's processes get a filter of their own
that also denies signalling it.
Time: the job's CPU time is that of its whole process tree (live descendants plus reaped ones, the job
server being their subreaper), so forking busy loops does not buy time. After each run every descendant
is killed (zombies too: a process whose main thread exited alone is a zombie whose threads run on), the
work dirs and /dev/shm are wiped, and the job's namespaces (process ids, tmpfs inodes) end with it.

Nothing of a run reaches the next (issue 22). The job dir is wiped before every program starts (a call-mode
candidate restarted after a failed call included), and a program's stdin/stdout/stderr are descriptors the
server created (O_EXCL | O_NOFOLLOW) before forking it and reads back itself: nothing a program left there
(links to /proc/self/fd/0, FIFOs) is ever opened by path. Attributes the job's processes inherit from the
server and the worker (rlimits, nice, affinity, scheduling, ioprio) cannot be changed by a job (the seccomp
filter of `seccomp.py` lets those calls act only on the caller); the worker checks them after every job
all the same and retires if they changed.
"""

import builtins
import ctypes
import json
import math
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time

HEADER = struct.Struct(">Q")
MAX_FRAME = 1 << 31
MEMORY_EXIT = 251  # a script that ran out of memory exits with this code
MAX_DEPTH = 200  # deepest value the codec encodes or decodes
MAX_REPLY = 1 << 26  # largest encoded return value relayed to the host (a job may set a lower `reply_limit`)
CPU_POLL_S = 0.05
EXIT_GRACE_S = 0.1  # how long a candidate that answered every call has to exit before it is killed
_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------- framing


def read_exact(fd, n):
    """n bytes from fd into one bytearray (None at end of file), with reads of up to the whole rest."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            return None
        got += k
    return buf


def read_frame(fd):
    header = read_exact(fd, HEADER.size)
    if header is None:
        return None
    size = HEADER.unpack(header)[0]
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    return read_exact(fd, size)


def frame(payload):
    return HEADER.pack(len(payload)) + payload


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_results = []  # result lines for the host, written together whenever the worker is about to wait


def flush_results():
    if _results:
        data = b"".join(_results)
        _results.clear()
        write_all(1, data)


# ---------------------------------------------------------------------------------- value codec


def encode_value(value, depth=0):
    """A plain JSON form of a value built of None/bool/int/float/str/bytes/complex/list/tuple/set/dict.
    Raises TypeError for anything else (subclasses included: no custom __eq__ gets through)."""
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if kind is list:
        return [encode_value(v, depth + 1) for v in value]
    if kind in (tuple, set, frozenset):
        items = [encode_value(v, depth + 1) for v in value]
        return {kind.__name__: sorted(items, key=repr) if kind is not tuple else items}
    if kind is dict:
        return {"dict": [[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"bytes": value.hex()}
    if kind is complex:
        return {"complex": [encode_value(value.real), encode_value(value.imag)]}
    raise TypeError(f"a value of type {kind.__name__} cannot be judged (plain data only)")


_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode_value(data, depth=0):
    """The inverse of `encode_value`, strict: anything else raises ValueError."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode_value(v, depth + 1) for v in data]
    if kind is dict and len(data) == 1:
        ((tag, body),) = data.items()
        if tag == "float" and body in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[body]
        if tag == "bytes" and type(body) is str:
            return bytes.fromhex(body)
        if type(body) is list:
            items = [decode_value(v, depth + 1) for v in body]
            if tag == "tuple":
                return tuple(items)
            if tag in ("set", "frozenset"):
                return {"set": set, "frozenset": frozenset}[tag](items)
            if tag == "complex" and len(items) == 2:
                return complex(*items)
            if tag == "dict" and all(type(p) is list and len(p) == 2 for p in items):
                return dict(items)
    raise ValueError(f"not an encoded value: {str(data)[:80]}")


# ------------------------------------------------------------------------------------- processes


def _clean_env():
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def _proc_stats():
    """{pid: (ppid, cpu seconds of it and its reaped children, state)} for every visible process."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        stats[int(entry)] = (int(fields[1]), sum(map(int, fields[11:15])) / _TICKS, fields[0])
    return stats


def _descendants(stats):
    me, children = os.getpid(), {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(me, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all():
    """Kill every descendant of this process (repeatedly: a fork may race a kill) and reap them. Zombies are
    sent SIGKILL too: a process whose main thread exited is a zombie while its other threads run on."""
    for _ in range(10000):
        _reap()
        pids = _descendants(_proc_stats())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.0005)
    raise RuntimeError("the processes of a job could not be killed")


class TreeClock:
    """CPU seconds used by this worker's descendants since `start()`: live ones from /proc, reaped ones from
    RUSAGE_CHILDREN (orphans are reaped by the worker, their subreaper)."""

    def start(self):
        self.base = self._total()

    def used(self):
        return self._total() - self.base

    @staticmethod
    def _total():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats = _proc_stats()
        return usage.ru_utime + usage.ru_stime + sum(stats[p][1] for p in _descendants(stats))


# Signals to the job server. It is not PID 1 (see `main`), so the programs of its job could signal it (it has
# their uid): a seccomp filter of their own denies every way of doing so. Hand-assembled classic BPF, as the
# worker is stdlib only. Syscall numbers: kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo,
# pidfd_send_signal, fcntl, ioctl.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SIGNAL_SYSCALLS = {
    "x86_64": ((62, 200, 234, 129, 297), 424, 72, 16),
    "aarch64": ((129, 130, 131, 138, 240), 424, 25, 29),
}
F_SETOWN, F_SETOWN_EX, FIOSETOWN, SIOCSPGRP = 8, 15, 0x8901, 0x8902
_LD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050001


def _signal_filter(server):
    """The BPF program (bytes) that denies signalling `server` (directly, as the process group -1 or
    -server, or by a pidfd or an fd owner), or None on an architecture not listed above."""
    machine = os.uname().machine
    if machine not in _SIGNAL_SYSCALLS:
        return None
    by_pid, pidfd_signal, fcntl, ioctl = _SIGNAL_SYSCALLS[machine]
    code = [
        ("ld", 4),
        ("jeq", _AUDIT_ARCH[machine], None, "allow"),
        ("ld", 0),
        ("jge", 0x40000000, "deny", None),
    ]
    code += [("jeq", nr, "target", None) for nr in by_pid]
    code += [
        ("jeq", pidfd_signal, "deny", None),
        ("jeq", fcntl, "fcntl", None),
        ("jeq", ioctl, "ioctl", None),
    ]
    code += [("ret", _ALLOW), "target", ("ld", 16)]
    code += [("jeq", pid & 0xFFFFFFFF, "deny", None) for pid in (server, -1, -server)]
    code += [("ret", _ALLOW), "fcntl", ("ld", 24), ("jeq", F_SETOWN, "deny", None)]
    code += [("jeq", F_SETOWN_EX, "deny", None), ("ret", _ALLOW), "ioctl", ("ld", 24)]
    code += [("jeq", FIOSETOWN, "deny", None), ("jeq", SIOCSPGRP, "deny", None), ("ret", _ALLOW)]
    code += ["deny", ("ret", _EPERM), "allow", ("ret", _ALLOW)]
    return _assemble(code)


# mount and unshare: the worker's filter (`seccomp.py`) allows them so that the worker can make each job's
# namespaces; every job server denies them again for itself and its job (it has no capability left to use
# them either).
_NAMESPACE_SYSCALLS = {"x86_64": (165, 272), "aarch64": (40, 97)}


def _namespace_filter():
    """The BPF program (bytes) that denies mount and unshare, or None on an architecture not listed."""
    machine = os.uname().machine
    if machine not in _NAMESPACE_SYSCALLS:
        return None
    code = [("ld", 4), ("jeq", _AUDIT_ARCH[machine], None, "allow"), ("ld", 0)]
    code += [("jeq", nr, "deny", None) for nr in _NAMESPACE_SYSCALLS[machine]]
    code += [("ret", _ALLOW), "deny", ("ret", _EPERM), "allow", ("ret", _ALLOW)]
    return _assemble(code)


def _assemble(code):
    """Classic BPF from (op, k, jump-if-true label, jump-if-false label) tuples and label strings."""
    labels, at = {}, 0
    for item in code:
        if isinstance(item, str):
            labels[item] = at
        else:
            at += 1
    out, at = [], 0
    for item in code:
        if isinstance(item, str):
            continue
        op, k, *jumps = item
        jt, jf = ((labels[j] - at - 1 if j else 0) for j in jumps) if jumps else (0, 0)
        out.append(struct.pack("=HBBI", {"ld": _LD, "jeq": _JEQ, "jge": _JGE, "ret": _RET}[op], jt, jf, k))
        at += 1
    return b"".join(out)


def _install_filter(program, what):
    """Install the BPF `program` (bytes) on this process; every process it starts inherits it."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(buf))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (bubblewrap set it already)
    if libc.prctl(22, 2, ctypes.c_char_p(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), f"cannot install the {what} filter")


def _deny_signals_to(server):
    """Install `_signal_filter(server)` on this process (inherited by all it starts)."""
    program = _signal_filter(server)
    if program is not None:
        _install_filter(program, "signal")


def _limit_self(job, cpu_seconds, program=True):
    """Limits of a process of the job; `program`: it runs the job's code (not the judge's)."""
    if program:
        _deny_signals_to(os.getppid())
    os.setsid()
    mem = job["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = max(1, math.ceil(cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["output_limit"] + 1, job["output_limit"] + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if job.get("nproc"):
        resource.setrlimit(resource.RLIMIT_NPROC, (job["nproc"], job["nproc"]))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(_clean_env())
    sys.argv = ["solution.py"]


def _stdio(workdir, stdio, keep=()):
    """Point fds 0-2 at the job's files (descriptors the server opened before the fork: nothing a program
    left behind is ever opened by path) and close every other fd except `keep`."""
    os.chdir(workdir)
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    keep = sorted(keep)
    low = 3
    for fd in keep + [1 << 16]:
        os.closerange(low, fd)
        low = fd + 1
    sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)


def _flush():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass


def _exit_code(exit_):
    if exit_.code is None:
        return 0
    if isinstance(exit_.code, int):
        return exit_.code & 0xFF
    print(exit_.code, file=sys.stderr)
    return 1


def _script_child(job, workdir, stdio):
    """Runs in the forked child of a script run: limits, stdio, the program; never returns."""
    try:
        _limit_self(job, job["cpu_time"])
        _stdio(workdir, stdio)
    except BaseException:
        os._exit(120)
    code = 0
    try:
        exec(compile(job["code"], "solution.py", "exec"), {"__name__": "__main__", "__builtins__": builtins})
    except MemoryError:
        code = MEMORY_EXIT
    except SystemExit as exit_:
        code = _exit_code(exit_)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    _flush()
    os._exit(code)


def _requests(job, requests, first):
    """(args, kwargs) of each call C makes: call mode, the job's inputs from `first` on (inputs are no
    secret: C was forked holding them); test_code mode, what the judge sends over the `requests` pipe."""
    if job["mode"] == "call":
        for item in job["inputs"][first:]:
            args = json.loads(item)
            yield (args if isinstance(args, list) else [args]), {}
        return
    while True:
        request = read_frame(requests)
        if request is None:
            return
        yield decode_value(json.loads(request))


def _candidate_child(job, workdir, stdio, requests, responses, cpu_seconds, first):
    """The candidate process C of call / test_code mode: load the program, then answer each call with
    `{"kind": "ok", "value": ...}` or an error kind, one frame each on `responses`; never returns."""
    try:
        _limit_self(job, cpu_seconds)
        _stdio(workdir, stdio, keep=(requests, responses))
    except BaseException:
        os._exit(120)
    memory_mark = frame(b'{"kind": "memory"}')
    fn = None
    calls = _requests(job, requests, first)
    while True:
        try:
            if fn is None:
                namespace = {"__name__": "__main__", "__builtins__": builtins}
                exec(compile(job["code"], "solution.py", "exec"), namespace)
                fn = namespace.get(job["fn_name"])
                if fn is None and "Solution" in namespace:  # LeetCode style: a method of class Solution
                    fn = getattr(namespace["Solution"](), job["fn_name"], None)
                if fn is None:
                    raise NameError(f"the program defines no function {job['fn_name']!r}")
            call = next(calls, None)
            if call is None:
                _flush()
                os._exit(0)
            reply = frame(json.dumps({"kind": "ok", "value": encode_value(fn(*call[0], **call[1]))}).encode())
        except MemoryError:
            reply = memory_mark
        except SystemExit as exit_:
            _flush()
            os._exit(_exit_code(exit_))
        except BaseException as err:
            import traceback

            traceback.print_exc()
            reply = frame(json.dumps({"kind": "exception", "error": type(err).__name__}).encode())
        _flush()
        try:
            write_all(responses, reply)
        except BaseException:
            os._exit(1)
        if fn is None:  # the program did not load: that was the answer to its first call
            os._exit(1)


class CandidateError(Exception):
    """The candidate raised, ran out of memory or died during a call made by the test code."""


def _judge_child(job, secret, requests, responses, result_w):
    """The judge process J of test_code mode: runs the test code against a proxy of the candidate; its
    report on `result_w` is the verdict. Never returns."""
    report = {"kind": "exception", "error": "judge failed to start"}
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: not traceable by C
        _limit_self(job, job["cpu_time"], program=False)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        low = 3
        for fd in sorted((requests, responses, result_w)) + [1 << 16]:
            os.closerange(low, fd)
            low = fd + 1
        parts = json.loads(secret)
        del secret
        namespace = {"__name__": "__tests__", "__builtins__": builtins}

        def candidate(*args, **kwargs):
            write_all(requests, frame(json.dumps(encode_value([list(args), kwargs])).encode()))
            try:  # a reply that cannot be read is the candidate's failure, never an exception a check expects
                raw = read_frame(responses)
                reply = json.loads(raw) if raw is not None else {"kind": "the candidate process ended"}
                kind = reply.get("kind") if type(reply) is dict else None
                value = decode_value(reply.get("value")) if kind == "ok" else None
            except BaseException as err:
                raise CandidateError(f"unreadable reply ({type(err).__name__})") from None
            if kind != "ok":
                raise CandidateError(str(kind))
            return value

        candidate.__name__ = job["fn_name"]
        if parts.get("test_setup"):
            exec(compile(parts["test_setup"], "setup.py", "exec"), namespace)
        namespace[job["fn_name"]] = candidate  # as in HumanEval's harness, the name is the candidate's
        exec(compile(parts["test_code"], "tests.py", "exec"), namespace)
        namespace["check"](candidate)
        report = {"kind": "ok"}
    except AssertionError as err:
        tb = err.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        report = {"kind": "fail", "line": tb.tb_lineno}
    except CandidateError as err:
        report = {"kind": "memory" if str(err) == "memory" else "candidate_error"}
    except BaseException as err:
        report = {"kind": "exception", "error": type(err).__name__}
    try:
        write_all(result_w, json.dumps(report).encode())
    except BaseException:
        pass
    os._exit(0)


# ------------------------------------------------------------------------------------------ waiting


def _wait(pid, deadline, clock, cpu_deadline):
    """Wait until `pid` exits, or the wall deadline or the tree's CPU deadline passes (the CPU is first
    looked at after one tick: most runs end sooner). Returns 'exited', 'timeout' or 'cpu'."""
    poller = select.poll()
    pidfd = os.pidfd_open(pid)
    poller.register(pidfd, select.POLLIN)
    try:
        first = True
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if not first and clock.used() > cpu_deadline:
                return "cpu"
            first = False
            flush_results()
            if poller.poll(min(left, CPU_POLL_S) * 1000):
                return "exited"
    finally:
        os.close(pidfd)


class Replies:
    """The frames C sends back to back, read in large chunks, each awaited with a wall deadline and a CPU
    deadline of the process tree."""

    def __init__(self, fd, pid, limit=MAX_REPLY):
        self.fd, self.pidfd, self.buf, self.limit = fd, os.pidfd_open(pid), bytearray(), min(limit, MAX_REPLY)
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self.poller.register(self.pidfd, select.POLLIN)

    def _frame(self):
        """A complete frame from the buffer, or None; ValueError for a frame above the reply limit."""
        if len(self.buf) < HEADER.size:
            return None
        size = HEADER.unpack_from(self.buf)[0]
        if size > self.limit:
            raise ValueError("reply too large")
        if len(self.buf) < HEADER.size + size:
            return None
        reply = bytes(self.buf[HEADER.size : HEADER.size + size])
        del self.buf[: HEADER.size + size]
        return reply

    def next(self, deadline, clock, cpu_deadline):
        """('reply', bytes), or (how C's call ended: 'exited', 'timeout', 'cpu', 'oversized', None)."""
        first = True
        while True:
            try:
                reply = self._frame()
            except ValueError:  # C may still run: it is killed, and the call ends at its output limit
                return "oversized", None
            if reply is not None:
                return "reply", reply
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", None
            if not first and clock.used() > cpu_deadline:
                return "cpu", None
            first = False
            flush_results()
            events = dict(self.poller.poll(min(left, CPU_POLL_S) * 1000))
            if self.fd in events:
                chunk = os.read(self.fd, 1 << 20)
                if chunk:
                    self.buf += chunk
                    continue
                self.poller.unregister(self.fd)  # C closed its end: now wait for its exit (or a limit)
            elif self.pidfd in events:
                return "exited", None

    def close(self):
        os.close(self.pidfd)


def _read_prefix(fd, limit):
    """The first `limit` bytes of the output file open at `fd` (the server's own descriptor, opened before
    the program started: a program that replaced the file by a FIFO or a link cannot make the server block
    or read anything else), and whether there was more."""
    data = os.pread(fd, limit + 1, 0)
    return data[:limit], len(data) > limit


_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _process_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return sum(map(int, f.read().rsplit(b")", 1)[1].split()[11:15])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _status_of(pid):
    _, status = os.waitpid(pid, 0)
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
    }


class Job:
    """One job's processes, CPU clock and files."""

    def __init__(self, job, tmp_root):
        self.job = job
        self.tmp_root = tmp_root
        self.workdir = os.path.join(tmp_root, "job")
        self.clock = TreeClock()
        self.cpid = None
        self.stdio = ()

    def _prepare(self, stdin):
        """A fresh job dir (everything under the tmp root is wiped first: a program of this job that ran
        before, e.g. the candidate a restart replaces, may have left links or FIFOs behind) and the
        descriptors of its stdio files, created here with O_EXCL | O_NOFOLLOW and kept by the server."""
        self._close_stdio()
        _wipe(self.tmp_root)
        os.makedirs(self.workdir, 0o700)
        self.stdio = tuple(os.open(os.path.join(self.workdir, name), _CREATE | (name != ".stdin") * os.O_APPEND, 0o600)
                           for name in (".stdin", ".stdout", ".stderr"))  # fmt: skip
        write_all(self.stdio[0], stdin.encode("utf-8", "surrogatepass"))
        os.lseek(self.stdio[0], 0, os.SEEK_SET)
        return self.stdio

    def _close_stdio(self):
        for fd in self.stdio:
            os.close(fd)
        self.stdio = ()

    def _result(self, start, ended, waited, report="", outputs=True, cpu_of=None):
        """The result line of one run; `cpu_of`: report that process's CPU time (cheap) instead of the
        tree's (the tree is what the limits are enforced on)."""
        limit = self.job["output_limit"]
        stdout, out_trunc = _read_prefix(self.stdio[1], limit) if outputs else (b"", 0)
        stderr, err_trunc = _read_prefix(self.stdio[2], limit) if outputs else (b"", 0)
        return {
            **waited,
            "timed_out": ended in ("timeout", "cpu"),
            "wall_time": time.monotonic() - start,
            "cpu_time": self.clock.used() if cpu_of is None else _process_cpu(cpu_of),
            "stdout": stdout.decode("utf-8", "replace"),
            "stderr": stderr.decode("utf-8", "replace"),
            "output_truncated": out_trunc or err_trunc or ended == "oversized",
            "report": report,
        }

    def _clean(self):
        kill_all()
        self._close_stdio()
        _wipe(self.tmp_root)

    def run_script(self, stdin):
        job, start = self.job, time.monotonic()
        self.clock.start()
        stdio = self._prepare(stdin)
        pid = os.fork()
        if pid == 0:
            _script_child(job, self.workdir, stdio)
        ended = _wait(pid, start + job["timeout"], self.clock, job["cpu_time"])
        if ended != "exited":
            _kill_group(pid)
        result = self._result(start, ended, _status_of(pid))
        self._clean()  # nothing of this run survives into the next input's
        return result

    def _start_candidate(self, cpu_seconds, first=0):
        stdio = self._prepare("")
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.cpid = os.fork()
        if self.cpid == 0:
            os.close(self.req_w)
            os.close(self.resp_r)
            _candidate_child(self.job, self.workdir, stdio, req_r, resp_w, cpu_seconds, first)
        os.close(req_r)
        os.close(resp_w)

    def _stop_candidate(self):
        for fd in (self.req_w, self.resp_r):
            os.close(fd)
        self.cpid = None

    def calls(self):
        """Call mode: one result per input. C runs the inputs one after the other and streams its replies;
        each reply has its own wall deadline (from the previous one) and CPU budget (cumulative). When a call
        ends C (exit, crash, limit), a fresh C goes on from the next input."""
        job, inputs, i = self.job, self.job["inputs"], 0
        while i < len(inputs):
            self.clock.start()
            budget = 0.0
            self._start_candidate(job["cpu_time"] * (len(inputs) - i), first=i)
            replies = Replies(self.resp_r, self.cpid, job.get("reply_limit", MAX_REPLY))
            try:
                while i < len(inputs):
                    start = time.monotonic()
                    deadline, budget = start + job["timeout"], budget + job["cpu_time"]
                    ended, reply = replies.next(deadline, self.clock, budget)
                    i += 1
                    if reply is not None:  # the program's own output matters only when a call failed
                        failed = not reply.startswith(b'{"kind": "ok"')
                        report = reply.decode("utf-8", "replace")
                        waited = {"exit_code": 0, "signal": None}
                        yield self._result(start, "exited", waited, report, failed, cpu_of=self.cpid)
                        continue
                    if ended != "exited":
                        _kill_group(self.cpid)
                    waited = _status_of(self.cpid)
                    self._stop_candidate()
                    kill_all()
                    yield self._result(start, ended, waited)
                    break
                else:  # all inputs answered: C exits by itself (the caller's kill_all ends it if it does not)
                    select.select([replies.pidfd], [], [], EXIT_GRACE_S)
            finally:
                replies.close()
                if self.cpid is not None:
                    self._stop_candidate()

    def run_test_code(self, read_secret):
        job, start = self.job, time.monotonic()
        self.clock.start()
        self._start_candidate(job["cpu_time"])
        secret = read_secret()  # only now: C's memory is a copy of the worker's from before this read
        result_r, result_w = os.pipe()
        jpid = os.fork()
        if jpid == 0:
            os.close(result_r)
            _judge_child(job, secret, self.req_w, self.resp_r, result_w)
        secret[:] = bytes(len(secret))  # the worker keeps no copy of the tests for later jobs' C to find
        os.close(result_w)
        ended = _wait(jpid, start + job["timeout"], self.clock, job["cpu_time"])
        if ended != "exited":
            os.kill(jpid, signal.SIGKILL)
        waited = _status_of(jpid)
        report = os.read(result_r, 4096) if ended == "exited" else b""
        os.close(result_r)
        self._stop_candidate()
        kill_all()  # C and anything it started
        return self._result(start, ended, waited, report.decode("utf-8", "replace"))


def _wipe(root):
    """Remove everything under `root`: nothing a job leaves behind reaches the next one."""

    def unlock(func, path, _exc):  # a program may leave read-only dirs behind
        os.chmod(os.path.dirname(path) or "/", 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)

    try:  # a program may have locked its own tmp root
        os.chmod(root, 0o700 if root != "/dev/shm" else 0o1777)
    except OSError:
        pass
    try:
        entries = os.listdir(root)
    except OSError:
        return
    for entry in entries:
        path = os.path.join(root, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=unlock)
        else:
            os.unlink(path)


def serve(job, tmp_root, send, receive, stop_requested):
    """Run one job: `send(result)` per input as soon as it is known, until the inputs run out or the host
    asks to stop; then `send({"end": True})`. `receive()` reads the host's next frame (test_code: the
    secret part)."""
    runner = Job(job, tmp_root)
    try:
        if job["mode"] == "test_code":
            results = iter([runner.run_test_code(receive)])
        elif job["mode"] == "call":
            results = runner.calls()
        else:
            results = (runner.run_script(item) for item in job["inputs"])
        for result in results:
            send(result)
            if stop_requested():
                break
    finally:
        kill_all()
        _wipe(tmp_root)
        if _SANDBOXED:
            _wipe("/dev/shm")
    flush_results()  # the end mark comes from the worker, once it has checked its own attributes


# ------------------------------------------------------------------------ a fresh namespace per job

# What a program under test never needs from /proc, and what tells it about the host's kernel: masked with
# /dev/null in every job's /proc (where the host has them).
MASKED_PROC = (
    "kallsyms", "modules", "cmdline", "config.gz", "kcore", "kmsg", "keys", "key-users", "timer_list",
    "sched_debug", "latency_stats", "iomem", "ioports", "slabinfo", "vmallocinfo", "pagetypeinfo", "bootconfig",
)  # fmt: skip
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
_CAPABILITY_V3 = 0x20080522


def _mount(libc, source, target, fstype, flags, data=None):
    def c(text):
        return None if text is None else text.encode()

    if libc.mount(c(source), c(target), c(fstype), flags, c(data)) != 0:
        raise OSError(ctypes.get_errno(), f"cannot mount {target}")


def _drop_capabilities(libc):
    """Clear every capability of this process (bounding, ambient, effective, permitted, inheritable):
    bubblewrap gave the worker CAP_SYS_ADMIN in the sandbox's user namespace to make the namespaces below
    (and CAP_SETPCAP to drop it from the bounding set here); no job has any."""
    for cap in range(64):
        if (
            libc.prctl(24, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22
        ):  # PR_CAPBSET_DROP; EINVAL: no such cap
            raise OSError(ctypes.get_errno(), "cannot clear the capability bounding set")
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    header = struct.pack("Ii", _CAPABILITY_V3, 0)
    data = ctypes.create_string_buffer(24)  # two zeroed __user_cap_data_struct
    if libc.capset(ctypes.c_char_p(header), data) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop the capabilities")
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no exec'd file gains any back


def enter_job_namespaces(libc, tmp_root):
    """Make the job server pid 1 of a fresh PID namespace with a fresh mount namespace, in which /proc,
    `tmp_root` and /dev/shm are new mounts; then drop every capability and deny mount and unshare.

    Nothing of the namespaces a job saw survives it, so the next job on this worker starts from state no
    earlier job touched: process ids start at 1 again (the PID counter of a worker's namespace carried bits
    from job to job), inode numbers of /tmp and /dev/shm start afresh (per tmpfs), and when the job server
    exits the kernel kills every process left in its namespace. The calling process forks the job server
    and exits at once: the job server is reparented to the worker (their subreaper), which waits for it
    (`_wait_job_server`). Costs one more fork, two namespaces and a few mounts a job."""
    if libc.unshare(CLONE_NEWPID | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "cannot make the job's namespaces")
    if os.fork():
        os._exit(0)
    os.setsid()  # its own session and group (1): no job process signals it through a group either
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 gets no signal from its namespace it does not handle
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(libc, "/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)
    _mount(libc, None, "/proc/sys", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in MASKED_PROC:
        if os.path.exists(f"/proc/{name}"):
            _mount(libc, "/dev/null", f"/proc/{name}", None, MS_BIND)
    _mount(libc, "tmpfs", tmp_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")
    _mount(libc, "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _drop_capabilities(libc)
    program = _namespace_filter()
    if program is not None:
        _install_filter(program, "namespace")


def _wait_job_server(pid):
    """The wait status of the job server forked as `pid`: in a sandboxed worker, `pid` only made the job's
    namespaces and exited; the job server it forked is the worker's only other child."""
    _, status = os.waitpid(pid, 0)
    if _SANDBOXED and status == 0:
        _, status = os.waitpid(-1, 0)
    return status


END_OF_INPUT = 3  # exit status of a job server that found the host's pipe closed
SKIPPED = 4  # exit status of a job server that read a stop that came after its job had ended
_IOPRIO_GET = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine)


def attributes(libc):
    """The worker's own attributes that its jobs' processes inherit and that another process of its uid
    could change: every rlimit (soft and hard), nice, CPU affinity, scheduling policy and priority, I/O
    priority, umask, cwd, oom_score_adj. The seccomp filter stops jobs from changing them; the worker
    compares them before each job all the same, and retires if they changed (issue 22, item 1)."""
    limits = [
        resource.getrlimit(getattr(resource, n)) for n in sorted(dir(resource)) if n.startswith("RLIMIT_")
    ]
    mask = os.umask(0o077)
    os.umask(mask)
    with open("/proc/self/oom_score_adj", "rb") as f:
        oom = f.read()
    ioprio = libc.syscall(_IOPRIO_GET, 1, 0) if _IOPRIO_GET else None
    scheduling = (
        os.sched_getscheduler(0),
        os.sched_getparam(0).sched_priority,
        os.getpriority(os.PRIO_PROCESS, 0),
    )
    return limits, scheduling, sorted(os.sched_getaffinity(0)), ioprio, mask, os.getcwd(), oom


_SANDBOXED = False  # whether this worker is PID 1 of bubblewrap's namespace (its /dev/shm is private)


def _serve_next(tmp_root):
    """In a fresh fork of the worker (the job server): read the host's next frame and serve it."""

    def send(obj):
        _results.append(json.dumps(obj).encode() + b"\n")

    def receive():
        data = read_frame(0)
        if data is None:
            os._exit(END_OF_INPUT)
        return data

    def stop_requested():
        return bool(select.select([0], [], [], 0)[0]) and json.loads(receive()).get("op") == "stop"

    job = json.loads(receive())
    if "op" in job:  # a stop that came after its job had ended anyway
        os._exit(SKIPPED)
    serve(job, tmp_root, send, receive, stop_requested)


def _probe(libc):
    """`--probe`: print "ok" when a job's namespaces can be made here (the host's check before it uses
    bubblewrap: where they cannot, no job could run)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            enter_job_namespaces(libc, "/tmp")
            code = 0 if os.getpid() == 1 and not os.listdir("/tmp") else 1
        finally:
            os._exit(code)
    print("ok" if _wait_job_server(pid) == 0 else "no")


def main():
    global _SANDBOXED
    tmp_root = sys.argv[1]
    _SANDBOXED = os.getpid() == 1
    libc = ctypes.CDLL(None, use_errno=True)
    if tmp_root == "--probe":
        return _probe(libc)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/1/mem for the programs we run
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of a job come back to us
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    pristine = attributes(libc)
    _results.append(json.dumps({"ready": True}).encode() + b"\n")
    flush_results()

    def fork_job_server():
        # Each job is read and served by a fresh fork of this process, which never holds a job's code,
        # inputs, test code or outputs: the processes of later jobs (forked from it) cannot find another
        # job's program or answers in the memory they inherit. It is forked before the host is told that
        # the last job ended, so it makes its namespaces while the host reads that and sends the next job.
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                libc.prctl(36, 1, 0, 0, 0)  # the job's orphans come back to the server
                if _SANDBOXED:
                    enter_job_namespaces(libc, tmp_root)
                _serve_next(tmp_root)
                code = 0
            finally:
                os._exit(code)
        return pid

    pid = fork_job_server()
    while True:
        status = _wait_job_server(pid)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == SKIPPED:
            pid = fork_job_server()
            continue
        if status != 0:  # end of input, or a job server that failed: its protocol state is in doubt
            kill_all()
            sys.exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == END_OF_INPUT else 1)
        # The server killed every process of the job (it was their subreaper) and wiped its files. If the
        # job changed what the next jobs would inherit from this process, the host replaces this worker.
        changed = attributes(libc) != pristine
        if not changed:
            pid = fork_job_server()
        write_all(1, json.dumps({"end": True, "retire": changed}).encode() + b"\n")
        if changed:
            kill_all()
            sys.exit(0)


if __name__ == "__main__":
    main()
