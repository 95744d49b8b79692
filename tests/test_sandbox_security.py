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


def hostile(guard, code: str, timeout: float = 2.0) -> dict:
    env = {**os.environ, "HF_TOKEN": SECRET, "WANDB_API_KEY": SECRET, "MY_SERVICE_KEY": SECRET}
    pids_dir = next(d for d in guard.dirs if "pids" in d.parts)
    out = subprocess.run(
        [sys.executable, str(RUNNER), code, str(timeout), str(pids_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=guard.join,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # The worker survived, and the private tmp was wiped: only the next run's own job dir is there.
    assert report["warm"] == "warm\n" and report["again"] == "['job'] []\n", report
    assert report["procs_after"] == report["procs_before"], f"stray processes remain: {report}"
    assert (pids_dir / "cgroup.procs").read_text().split() == [], "processes outlived the sandbox"
    return report


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
    assert not Path("/root/pwned").exists()


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
    report = hostile(guard, "x = []\nwhile True:\n    x.append(bytearray(10**7))\n")
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
