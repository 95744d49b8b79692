"""The sandboxed worker: a persistent interpreter that forks one child per program run.

It runs inside bubblewrap as PID 1 of its own PID namespace (run with `python -S -I`, stdlib only, not
imported by the library). Starting a fresh interpreter costs ~30 ms; forking this one costs ~1 ms, which is
where the sandbox's speed comes from.

Protocol (newline-delimited JSON): the host sends a job `{"mode", "code", "inputs", "fn_name", "test_code",
"timeout", "cpu_time", "memory_mb", "output_limit", "nproc"}`; for each input the worker runs the program once
and answers one result line; when inputs remain it then reads one line, `{"op": "next"}` or `{"op": "stop"}`.
The worker never receives expected outputs: the host compares, so a program cannot find them in memory.

Being PID 1 protects the worker: signals from inside the namespace, SIGKILL included, are not delivered to
it. It is also made non-dumpable, so the programs it runs (same uid, no capabilities) cannot ptrace it or
read its memory. After each run every other process in the namespace is killed and the work dir is wiped.
"""

import builtins
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import time

RESULT_FD = 3  # where the child's harness reports how the program ended
MEMORY_MARK = b'{"kind": "memory"}'


def _clean_env():
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def _rmtree(path):
    def unlock(func, p, _exc):  # a program may leave read-only dirs behind
        os.chmod(os.path.dirname(p) or "/", 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o700)
        func(p)

    shutil.rmtree(path, onerror=unlock)


def _wipe(root):
    """Remove everything under the private tmp root: nothing a run leaves behind reaches the next run."""
    for entry in os.listdir(root):
        path = os.path.join(root, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            _rmtree(path)
        else:
            os.unlink(path)


def _child(job, stdin_path, workdir, result_w):
    """Runs in the forked child: set limits, wire stdio, run the program, never return."""
    try:
        os.setsid()
        mem = job["memory_mb"] * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = max(1, int(job["cpu_time"] + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (job["output_limit"] + 1, job["output_limit"] + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if job.get("nproc"):
            resource.setrlimit(resource.RLIMIT_NPROC, (job["nproc"], job["nproc"]))
        os.chdir(workdir)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        os.dup2(os.open(stdin_path, os.O_RDONLY), 0)
        os.dup2(os.open(os.path.join(workdir, ".stdout"), flags, 0o600), 1)
        os.dup2(os.open(os.path.join(workdir, ".stderr"), flags, 0o600), 2)
        os.dup2(result_w, RESULT_FD)
        os.closerange(RESULT_FD + 1, 1 << 16)
        os.environ.clear()
        os.environ.update(_clean_env())
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        sys.argv = ["solution.py"]
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    except BaseException:
        os._exit(120)
    memory_mark = MEMORY_MARK
    code = 0
    report = b'{"kind": "ok"}'
    try:
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        exec(compile(job["code"], "solution.py", "exec"), namespace)
        if job["mode"] == "call":
            fn = namespace.get(job["fn_name"])
            if fn is None and "Solution" in namespace:  # LeetCode style: a method of class Solution
                fn = getattr(namespace["Solution"](), job["fn_name"], None)
            if fn is None:
                raise NameError(f"the program defines no function {job['fn_name']!r}")
            args = json.loads(job["input"])
            value = fn(*args) if isinstance(args, list) else fn(args)
            report = json.dumps({"kind": "ok", "value": value}, default=repr).encode()
        elif job["mode"] == "test_code":
            exec(compile(job["test_code"], "tests.py", "exec"), namespace)
            namespace["check"](namespace[job["fn_name"]])
    except MemoryError:
        report, code = memory_mark, 1
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if exit_.code is not None and not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
        report = b'{"kind": "exit"}'
    except BaseException:
        import traceback

        traceback.print_exc()
        report, code = b'{"kind": "exception"}', 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    try:
        os.write(RESULT_FD, report)
    except BaseException:
        pass
    os._exit(code & 0xFF)


def _sweep(keep):
    """Kill every process in this PID namespace but this one, and reap them."""
    for _ in range(100):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != keep]
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not others:
            return
        time.sleep(0.001)


def _read_prefix(path, limit):
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return b"", False
    return data[:limit], len(data) > limit


def _wait(pid, deadline, result_r, limit):
    """Wait for the child until the deadline, draining its result pipe. Returns (status, rusage, timed_out, report)."""
    pidfd = os.pidfd_open(pid)
    report = b""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(result_r, select.POLLIN)
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                break
            events = poller.poll(left * 1000)
            done = False
            for fd, _ in events:
                if fd == result_r:
                    chunk = os.read(result_r, 65536)
                    if chunk and len(report) <= limit:
                        report += chunk
                    elif not chunk:
                        poller.unregister(result_r)
                else:
                    done = True
            if done:
                break
    finally:
        os.close(pidfd)
    _, status, rusage = os.wait4(pid, 0)
    while True:  # whatever is left in the pipe after the exit
        try:
            chunk = os.read(result_r, 65536)
        except OSError:
            break
        if not chunk or len(report) > limit:
            break
        report += chunk
    return status, rusage, timed_out, report


def run_once(job, workdir):
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    stdin_path = os.path.join(workdir, ".stdin")
    with open(stdin_path, "w", encoding="utf-8") as f:
        f.write(job.get("stdin") or "")
    result_r, result_w = os.pipe()
    os.set_blocking(result_r, False)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(result_r)
        _child(job, stdin_path, workdir, result_w)
    os.close(result_w)
    limit = job["output_limit"]
    try:
        status, rusage, timed_out, report = _wait(pid, start + job["timeout"], result_r, limit)
    finally:
        os.close(result_r)
    wall = time.monotonic() - start
    stdout, out_trunc = _read_prefix(os.path.join(workdir, ".stdout"), limit)
    stderr, err_trunc = _read_prefix(os.path.join(workdir, ".stderr"), limit)
    if os.getpid() == 1:
        _sweep(keep=1)
        _wipe("/dev/shm")
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _wipe(os.path.dirname(workdir))
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "wall_time": wall,
        "cpu_time": rusage.ru_utime + rusage.ru_stime,
        "stdout": stdout.decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace"),
        "output_truncated": out_trunc or err_trunc,
        "report": report[: limit + 1].decode("utf-8", "replace"),
    }


def main():
    tmp_root = sys.argv[1]
    try:  # PR_SET_DUMPABLE = 4: no ptrace, no /proc/1/mem for the programs we run
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except OSError:
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    host_in = os.fdopen(0, "rb", buffering=0)
    host_out = os.fdopen(1, "wb", buffering=0)
    lines = iter(host_in.readline, b"")
    host_out.write(b'{"ready": true}\n')
    for line in lines:
        job = json.loads(line)
        inputs = job.pop("inputs")
        for i, stdin in enumerate(inputs):
            job["stdin" if job["mode"] == "script" else "input"] = stdin
            if job["mode"] == "call":
                job["stdin"] = ""
            result = run_once(job, os.path.join(tmp_root, "job"))
            host_out.write(json.dumps(result).encode() + b"\n")
            if i + 1 < len(inputs) and json.loads(next(lines)).get("op") != "next":
                break


if __name__ == "__main__":
    main()
