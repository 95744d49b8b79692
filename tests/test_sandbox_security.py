"""Programs that try to break out of the sandbox. Each runs in a subprocess inside a guard cgroup (pids and
memory limited), gets the right status, and leaves the host unharmed: files intact, the test's server still
answering, no secret leaked, no stray process left."""

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from trl_ext.execution.sandbox import _Cgroup, bwrap_works

pytestmark = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run on this host")
RUNNER = Path(__file__).with_name("hostile_runner.py")
SECRET = f"hf_secret_{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def guard():
    cgroup = _Cgroup(max_pids=200, memory_bytes=3 * 2**30)
    if not cgroup.limits_processes:
        pytest.skip("no writable pids cgroup to guard the host with")
    yield cgroup
    cgroup.remove()


def hostile_jobs(guard, jobs: list[dict]) -> dict:
    """Run `jobs` one after the other on one sandbox worker, in a runner process inside the guard cgroup."""
    env = {**os.environ, "HF_TOKEN": SECRET, "WANDB_API_KEY": SECRET, "MY_SERVICE_KEY": SECRET}
    pids_dir = next(d for d in guard.dirs if "pids" in d.parts)
    out = subprocess.run(
        [sys.executable, str(RUNNER), json.dumps(jobs), str(pids_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=guard.join,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # The worker survived, and the private tmp was wiped: only the next run's own job dir is there.
    assert report["warm"] == "warm\n" and report["again"] == "['job'] []\n", report
    assert report["procs_after"] == report["procs_before"], f"stray processes remain: {report}"
    assert (pids_dir / "cgroup.procs").read_text().split() == [], "processes outlived the sandbox"
    return report


def hostile(guard, code: str, timeout: float = 2.0) -> dict:
    return hostile_jobs(guard, [{"code": code, "timeout": timeout, "memory_mb": 256}])["results"][0]


def test_cannot_write_outside_tmp(guard, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    targets = [
        str(victim),
        str(Path(__file__)),
        "/etc/passwd",
        "/usr/pwned",
        "/root/pwned",
        "/pwned",
        "/sandbox/pwned",
        str(tmp_path / "new"),
    ]
    code = f"""
import os
for path in {targets!r}:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        print("WROTE", path)
    except OSError as e:
        print("denied", path, type(e).__name__)
with open("/tmp/scratch.txt", "w") as f:
    f.write("fine")
with open("/dev/shm/scratch", "w") as f:  # private to the sandbox, wiped after the run
    f.write("fine")
print("tmp ok", open("/tmp/scratch.txt").read())
"""
    report = hostile(guard, code)
    assert report["status"] == "ok"
    assert "WROTE" not in report["stdout"] and "tmp ok fine" in report["stdout"]
    assert victim.read_text() == "intact" and not (tmp_path / "new").exists()
    assert not os.path.exists("/root/pwned")  # (False, not an error, where the caller may not look in /root)


def test_cannot_read_project_or_home_files():
    secret_file = Path(__file__).parent / f"_secret_{uuid.uuid4().hex}.txt"
    secret_file.write_text(SECRET)
    try:
        from trl_ext.execution import run

        code = f"""
import os
for path in [{str(secret_file)!r}, {str(Path.home() / ".bashrc")!r}, {str(Path.cwd())!r}]:
    try:
        print("READ", open(path).read() if os.path.isfile(path) else os.listdir(path))
    except OSError as e:
        print("denied", type(e).__name__)
"""
        result = run(code)
        assert result.status == "ok" and "READ" not in result.stdout and SECRET not in result.stdout
        assert result.stdout.count("denied") == 3
    finally:
        secret_file.unlink()


def test_secrets_are_invisible(guard):
    code = """
import os, glob
print(dict(os.environ))
for path in glob.glob("/proc/*/environ") + ["/proc/self/environ", "/proc/1/environ"]:
    try:
        print(path, open(path, "rb").read())
    except OSError as e:
        print(path, "denied")
for path in glob.glob("/proc/*/cmdline"):
    print(path, open(path, "rb").read())
"""
    report = hostile(guard, code)
    assert report["status"] == "ok"
    assert SECRET not in report["stdout"] and "HF_TOKEN" not in report["stdout"]


def test_no_network(guard):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted = []

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(conn.recv(100))
            conn.sendall(b"pong")
            conn.close()

    stop = threading.Event()
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        code = f"""
import socket
for host in ["127.0.0.1", "localhost", "10.0.0.1"]:
    try:
        s = socket.create_connection((host, {port}), timeout=1)
        s.sendall(b"from sandbox")
        print("CONNECTED", host)
    except OSError as e:
        print("refused", host, type(e).__name__)
"""
        report = hostile(guard, code, timeout=5)
        assert report["status"] == "ok" and "CONNECTED" not in report["stdout"]
        with socket.create_connection(
            ("127.0.0.1", port), timeout=2
        ) as client:  # the host's server still answers
            client.sendall(b"from host")
            assert client.recv(4) == b"pong"
        assert accepted == [b"from host"]
    finally:
        stop.set()
        thread.join()
        server.close()


def test_fork_bomb(guard):
    report = hostile(
        guard,
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        timeout=2,
    )
    assert report["status"] == "timeout"


def test_memory_bomb(guard):
    # a generous wall limit: a loaded machine gives slow verdicts, not wrong ones (the bomb ends at 256 MB)
    report = hostile(guard, "x = []\nwhile True:\n    x.append(bytearray(10**7))\n", timeout=30)
    assert report["status"] == "memory_limit"


def test_infinite_loop(guard):
    report = hostile(guard, "while True:\n    pass\n", timeout=1)
    assert report["status"] == "timeout" and report["wall_time"] < 3


def test_sleep_past_timeout(guard):
    report = hostile(guard, "import time\ntime.sleep(60)\n", timeout=1)
    assert report["status"] == "timeout" and report["wall_time"] < 3


def test_endless_output(guard):
    report = hostile(guard, "while True:\n    print('spam' * 1000)\n")
    assert report["status"] == "output_limit"
    assert len(report["stdout"]) <= 4000


def test_kill_parent(guard):
    code = """
import os, signal
for pid in [os.getppid(), 1]:
    try:
        os.kill(pid, signal.SIGKILL)
        print("sent", pid)
    except OSError as e:
        print("denied", pid, type(e).__name__)
"""
    report = hostile(guard, code)
    assert report["status"] == "ok"  # the worker survives (checked by 'again' in hostile())


def test_background_process_is_killed(guard):
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
print("parent done")
"""
    report = hostile(guard, code)
    assert report["status"] == "ok" and report["stdout"] == "parent done\n"


# ------------------------------------------------------------------ 1. no host privilege, whoever starts it

HOST_SYSCTLS = ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/panic_on_oom", "/proc/sysrq-trigger"]


def test_no_host_privilege(guard):
    # Files are OPENED for writing, never written: a regression must not change this host.
    code = f"""
import os
for path in {HOST_SYSCTLS!r}:
    try:
        os.close(os.open(path, os.O_WRONLY))
        print("OPENED", path)
    except OSError as e:
        print("denied", path, e.errno)
status = open("/proc/self/status").read()
print(sorted(set(line.split()[1] for line in status.splitlines() if line.startswith("Cap"))))
import subprocess  # and a program it executes
status = subprocess.run(["/bin/grep", "^Cap", "/proc/self/status"], capture_output=True, text=True).stdout
print("exec", sorted(set(line.split()[1] for line in status.splitlines())))
"""
    report = hostile_jobs(guard, [{"code": code}])
    result = report["results"][0]
    assert result["status"] == "ok" and "OPENED" not in result["stdout"], result
    assert result["stdout"].count("denied") == len(HOST_SYSCTLS)
    assert "\n['0000000000000000']\n" in result["stdout"], "the sandbox holds capabilities"
    assert "exec ['0000000000000000']" in result["stdout"], "a program the job executes holds capabilities"
    if os.geteuid() == 0:
        assert report["host_uids"] and 0 not in report["host_uids"], report["host_uids"]


DENIED_SYSCALLS = {  # x86-64 numbers; harmless arguments (each would fail or do nothing harmful anyway)
    "mount": (165, 0, 0, 0, 0, 0),
    "unshare(CLONE_NEWUSER)": (272, 0x10000000),
    "unshare(CLONE_NEWPID|CLONE_NEWNS)": (272, 0x20020000),  # what the worker does for each job
    "setns": (308, 0, 0),
    "keyctl": (250, 0, -3, 0),
    "add_key": (248, 0, 0, 0, 0, 0),
    "ptrace(TRACEME)": (101, 0, 0, 0, 0),
    "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "io_uring_setup": (425, 1, 0),
    "userfaultfd": (323, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "init_module": (175, 0, 0, 0),
    "clock_settime": (227, 0, 0),
    "shmget": (29, 0, 4096, 0o1666),
    "mq_open": (240, 0, 0, 0, 0),
}


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers of x86-64")
def test_seccomp_denies_what_programs_never_need(guard):
    code = f"""
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
for name, (nr, *args) in {DENIED_SYSCALLS!r}.items():
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    print(name, "EPERM" if rc == -1 and ctypes.get_errno() == 1 else f"ALLOWED rc={{rc}} errno={{ctypes.get_errno()}}")
for name, family, kind in [("netlink", 16, 3), ("raw", 2, 3), ("packet", 17, 3), ("vsock", 40, 1)]:
    try:
        socket.socket(family, kind).close()
        print(name, "ALLOWED")
    except OSError as e:
        print(name, "EPERM" if e.errno == 1 else f"ALLOWED errno={{e.errno}}")
"""
    result = hostile_jobs(guard, [{"code": code}])["results"][0]
    assert result["status"] == "ok", result
    lines = result["stdout"].splitlines()
    assert len(lines) == len(DENIED_SYSCALLS) + 4 and all(line.endswith("EPERM") for line in lines), lines


def test_the_kernels_secrets_in_proc_are_masked(guard):
    names = ["kallsyms", "modules", "cmdline", "config.gz", "timer_list", "iomem"]
    host = {name for name in names if os.path.exists(f"/proc/{name}")}
    code = f"""
for name in {sorted(host)!r}:
    try:
        print(name, len(open("/proc/" + name, "rb").read()))
    except OSError as e:
        print(name, "denied")
"""
    result = hostile_jobs(guard, [{"code": code}])["results"][0]
    assert result["status"] == "ok", result
    lines = result["stdout"].splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(host), lines
    assert all(line.split()[1] in ("0", "denied") for line in lines), lines  # empty: /dev/null over it


# ------------------------------------------------------------------------------ 2. verdicts cannot be forged

SECRET_CHECK = "def check(candidate):\n    assert candidate(3) == 424242\n"
SECRET_TESTS = [{"input": "[3]", "output": "424242"}]
FORGERIES = {
    "inherited fd": 'import os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b\'{"kind": "ok"}\')\n'
    "    except OSError:\n        pass\nos._exit(0)\n",
    "builtins.compile": "import builtins\n_real = builtins.compile\n"
    "builtins.compile = lambda src, name, *a, **k: _real('def check(candidate):\\n    pass\\n', name, *a, **k)\n"
    "def secret_fn(x):\n    return 0\n",
    "always-true __eq__": "class Anything:\n    def __eq__(self, other):\n        return True\n"
    "def secret_fn(x):\n    return Anything()\n",
    "frame constants": "import sys\ndef secret_fn(x):\n    consts = []\n    frame = sys._getframe(1)\n"
    "    while frame:\n        consts += [c for c in frame.f_code.co_consts if type(c) is int and c > 1000]\n"
    "        frame = frame.f_back\n    return consts[0] if consts else -1\n",
    "test source in memory": "import gc, re\ndef secret_fn(x):\n"
    "    for o in gc.get_objects():\n        if isinstance(o, dict):\n            for v in list(o.values()):\n"
    "                if isinstance(v, str) and 'def check' in v:\n"
    "                    return int(re.findall(r'== (\\\\d+)', v)[0])\n    return -1\n",
}


@pytest.mark.parametrize("mode", ["test_code", "call"])
def test_forged_verdicts_fail(guard, mode):
    suite = {"test_code": SECRET_CHECK} if mode == "test_code" else {"tests": SECRET_TESTS}
    honest = {"code": "def secret_fn(x):\n    return 424242\n", "fn_name": "secret_fn", **suite}
    jobs = [honest] + [{"code": code, "fn_name": "secret_fn", **suite} for code in FORGERIES.values()]
    results = hostile_jobs(guard, jobs)["results"]
    assert results[0]["passed"], results[0]
    forged = {name: r["passed"] for name, r in zip(FORGERIES, results[1:])}
    assert not any(forged.values()), forged


# --------------------------------------------------------------------------- 3. the host side never crashes

DEEP_REPLY = (  # a deeply nested report: raw to fd 3 (the old result channel), framed to any other fd
    "import os\nbody = b'{\"kind\": \"ok\", \"value\": ' + b'[' * 100000 + b']' * 100000 + b'}'\n"
    "frame = len(body).to_bytes(8, 'big') + body\n"
    "for fd in range(3, 64):\n    try:\n        os.write(fd, body if fd == 3 else frame)\n"
    "    except OSError:\n        pass\n"
    "def f(x):\n    return x\n"
)
DEEP_VALUE = "def f(x):\n    v = []\n    for _ in range(100000):\n        v = [v]\n    return v\n"
DEEP_OUTPUT = "print('[' * 100000)\n"


def test_hostile_output_never_crashes_the_host(guard):
    honest = {
        "code": "def f(x):\n    return x + 1\n",
        "fn_name": "f",
        "tests": [{"input": "[1]", "output": "2"}],
    }
    jobs = [
        honest,
        {"code": DEEP_REPLY, "fn_name": "f", "tests": [{"input": "[1]", "output": "1"}]},
        {"code": DEEP_VALUE, "fn_name": "f", "tests": [{"input": "[1]", "output": "[]"}]},
        {"code": DEEP_OUTPUT, "tests": [{"input": "", "output": "["}]},
        honest,
    ]
    results = hostile_jobs(guard, jobs)["results"]
    assert results[0]["passed"] and results[-1]["passed"], results
    assert [r["passed"] for r in results[1:4]] == [False, False, False], results


def test_a_batch_survives_a_hostile_completion(guard):
    honest = {
        "code": "def f(x):\n    return x + 1\n",
        "fn_name": "f",
        "tests": [{"input": "[1]", "output": "2"}],
    }
    hostile_job = {"code": DEEP_REPLY, "fn_name": "f", "tests": [{"input": "[1]", "output": "1"}]}
    report = hostile_jobs(guard, [{"batch": [honest, hostile_job, honest, hostile_job, honest]}])
    assert report["results"][0]["passed"] == [True, False, True, False, True]


# ------------------------------------------------------------------ 4. jobs cannot see or touch each other

LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
CHANNELS = {  # name: (job A leaves it, job B prints LEAKED if it sees it)
    "/dev file": (
        "open('/dev/leftover', 'w').write('x')\n",
        "import os\nprint('LEAKED' if os.path.exists('/dev/leftover') else 'clean')\n",
    ),
    "/dev/stdout link": (
        "import os\nos.unlink('/dev/stdout')\nos.symlink('/tmp/stolen', '/dev/stdout')\n",
        "import os\nwith open('/dev/stdout', 'w') as f:\n    f.write('clean' if os.readlink('/dev/stdout') == "
        "'/proc/self/fd/1' else 'LEAKED')\n",
    ),
    "SysV shared memory": (
        LIBC + "libc.shmget(0x7E57, 64 << 20, 0o1666)\n",
        LIBC + "print('LEAKED' if libc.shmget(0x7E57, 0, 0o666) >= 0 else 'clean')\n",
    ),
    "SysV message queue": (
        LIBC + "libc.msgget(0x7E58, 0o1666)\n",
        LIBC + "print('LEAKED' if libc.msgget(0x7E58, 0o666) >= 0 else 'clean')\n",
    ),
    "POSIX message queue": (
        LIBC + "libc.mq_open(b'/leak', os.O_CREAT | os.O_RDWR, 0o666, None)\n",
        LIBC + "print('LEAKED' if libc.mq_open(b'/leak', os.O_RDONLY) >= 0 else 'clean')\n",
    ),
    "keyring": (
        LIBC + "libc.syscall(248, b'user', b'leak', b'data', 4, -4)\n",  # add_key to the user keyring
        LIBC + "print('LEAKED' if libc.syscall(250, 10, -4, b'user', b'leak', 0) >= 0 else 'clean')\n",
    ),
    "/dev/shm file": (
        "open('/dev/shm/leftover', 'w').write('x')\n",
        "import os\nprint('LEAKED' if os.path.exists('/dev/shm/leftover') else 'clean')\n",
    ),
}


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_jobs_cannot_see_each_other(guard, channel):
    leave, look = CHANNELS[channel]
    results = hostile_jobs(guard, [{"code": leave}, {"code": look}])["results"]
    assert results[1]["status"] == "ok" and results[1]["stdout"].strip() == "clean", (channel, results)
