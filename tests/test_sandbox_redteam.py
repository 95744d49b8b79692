"""Attacks of a hostile policy on the sandbox that the first hardening missed; each runs inside the guard
cgroup of `test_sandbox_security.py`, on one worker, after the job it attacks."""

import pytest
from test_sandbox_security import guard, hostile_jobs  # noqa: F401  (guard is a fixture)

from trl_ext.execution.sandbox import bwrap_works

pytestmark = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run on this host")

# A job whose main thread exits alone (SYS_exit, not exit_group) leaves a zombie thread-group leader whose
# other threads run on: it must not survive into the next job (to burn its CPU, read or rewrite its files).
LURKER = """
import ctypes, os, threading, time
pid = os.fork()
if pid == 0:
    os.setsid()
    threading.Thread(target=time.sleep, args=(60,)).start()
    ctypes.CDLL(None).syscall(60, 0)  # SYS_exit: this thread only
for _ in range(2000):  # until the child's main thread is gone (its leader a zombie)
    if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
        break
    time.sleep(0.001)
print("placed")
"""
LOOK_FOR_PROCESSES = """
import os
mine = {1, os.getpid(), os.getppid()}
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) not in mine) or 'clean')
"""


def test_a_process_whose_main_thread_exited_does_not_outlive_its_job(guard):  # noqa: F811
    results = hostile_jobs(guard, [{"code": LURKER}, {"code": LOOK_FOR_PROCESSES}])["results"]
    assert results[0]["status"] == "ok", results
    assert results[1]["status"] == "ok" and results[1]["stdout"].strip() == "clean", results


# Jobs on one worker are forked from it: whatever an earlier job left in the worker's memory (freed or not)
# is in a later job's memory too. A later completion must not find a sibling's program, its output, its
# return value, or the test code, by scanning its own heap.
EARLIER = [
    {"code": "print('RT_OUT_' + str(7 ** 77))\n# RT_CODE_MARK_q9z\n"},
    {
        "code": "def f(x):\n    return 'RT_VAL_' + str(11 ** 71)\n",
        "fn_name": "f",
        "tests": [{"input": "[1]", "output": '"x"'}],
    },
    {
        "code": "def f(x):\n    return x\n",
        "fn_name": "f",
        "test_code": "def check(candidate):\n    assert candidate(1) == 'RT_TEST_SECRET_zz'\n",
    },
]
SCAN = r"""
import ctypes
needles = {  # (prefix, what follows it in the earlier job's data); never contiguous in this program
    "output": (b"RT_" + b"OUT_", str(7 ** 77)[:20].encode()),
    "code": (b"RT_" + b"CODE", b"_MARK_q9z"),
    "value": (b"RT_" + b"VAL_", str(11 ** 71)[:20].encode()),
    "test code": (b"RT_" + b"TEST", b"_SECRET_zz"),
}
found = dict.fromkeys(needles, 0)
for line in open("/proc/self/maps"):
    parts = line.split()
    if not parts[1].startswith("rw") or (len(parts) > 5 and parts[5] != "[heap]"):
        continue
    lo, hi = (int(v, 16) for v in parts[0].split("-"))
    data = ctypes.string_at(lo, hi - lo)
    for name, (prefix, rest) in needles.items():
        at = data.find(prefix)
        while at >= 0:
            found[name] += data[at + len(prefix) : at + len(prefix) + len(rest)] == rest
            at = data.find(prefix, at + 1)
print(found)
"""


def test_a_later_job_finds_nothing_of_earlier_jobs_in_its_memory(guard):  # noqa: F811
    results = hostile_jobs(guard, [*EARLIER, {"code": SCAN}])["results"]
    assert results[-1]["status"] == "ok", results[-1]
    assert results[-1]["stdout"].strip() == str(dict.fromkeys(["output", "code", "value", "test code"], 0))


# The judge's proxy of the candidate must not raise, on a malformed reply, an exception that a check
# catches as the behaviour it expects (here ValueError): the candidate controls its replies.
RAISES_CHECK = (
    "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        return\n"
    "    assert False, 'a negative input must raise'\n"
)
MALFORMED_REPLY = """
import os, time
def f(x):
    body = b'{"kind": "ok", "value": {"bogus": 1}}'
    for fd in range(3, 64):
        try:
            os.write(fd, len(body).to_bytes(8, "big") + body)
        except OSError:
            pass
    time.sleep(1)
"""
NOT_JSON_REPLY = MALFORMED_REPLY.replace("""b'{"kind": "ok", "value": {"bogus": 1}}'""", "b'{'")


def test_a_malformed_reply_cannot_pose_as_the_exception_a_check_expects(guard):  # noqa: F811
    jobs = [
        {"code": code, "fn_name": "f", "test_code": RAISES_CHECK, "timeout": 3}
        for code in (MALFORMED_REPLY, NOT_JSON_REPLY)
    ]
    results = hostile_jobs(guard, jobs)["results"]
    assert [r["passed"] for r in results] == [False, False], results


# A reply frame that announces more than the reply limit ends the call at once (output_limit), instead of
# leaving the worker waiting for a candidate that never exits (sandbox_error, and a worker restart).
OVERSIZED_REPLY = """
import os, time
def f(x):
    for fd in range(3, 64):
        try:
            os.write(fd, (1 << 40).to_bytes(8, "big"))
        except OSError:
            pass
    time.sleep(60)
"""


def test_an_oversized_reply_is_an_output_limit(guard):  # noqa: F811
    job = {"code": OVERSIZED_REPLY, "fn_name": "f", "tests": [{"input": "[1]", "output": "1"}], "timeout": 2}
    results = hostile_jobs(guard, [job])["results"]
    assert results[0]["statuses"] == ["output_limit"], results


# Each job is served by a fresh fork of the worker (so that it holds no other job's data), which is not
# PID 1: the job's programs must have no way to signal it (else a program stops or kills its own judge,
# and its job ends in a sandbox error instead of its status).
SIGNAL_THE_SERVER = """
import ctypes, fcntl, os, signal
libc = ctypes.CDLL(None, use_errno=True)
server = os.getppid()
r, w = os.pipe()
def set_owner():
    fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC)
    fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG
    fcntl.fcntl(r, fcntl.F_SETOWN, server)
    os.write(w, b"x")
def by_pidfd():
    signal.pidfd_send_signal(os.open(f"/proc/{server}", os.O_RDONLY | os.O_DIRECTORY), signal.SIGKILL)
def tgkill():
    if libc.tgkill(server, server, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "tgkill")
attempts = {
    "kill": lambda: os.kill(server, signal.SIGSTOP),
    "kill -1": lambda: os.kill(-1, signal.SIGKILL),
    "killpg": lambda: os.killpg(os.getpgid(server), signal.SIGKILL),
    "tgkill": tgkill,
    "pidfd": by_pidfd,
    "fd owner": set_owner,
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "SENT")
    except OSError as e:
        print(name, "denied")
"""


def test_a_job_cannot_signal_its_job_server(guard):  # noqa: F811
    result = hostile_jobs(guard, [{"code": SIGNAL_THE_SERVER}])["results"][0]
    assert result["status"] == "ok" and "SENT" not in result["stdout"], result
    assert result["stdout"].count("denied") == 6, result


# A program may replace its own output file with a FIFO (or a link to one of the worker's descriptors):
# reading it must not block the worker (that cost a sandbox error after the wall limit plus 10 s).
def test_an_output_file_replaced_by_a_fifo_does_not_hang_the_worker(guard):  # noqa: F811
    code = "import os\nos.unlink('/tmp/job/.stdout')\nos.mkfifo('/tmp/job/.stdout')\nprint('x')\n"
    job = {"code": code, "tests": [{"input": "", "output": "5"}], "timeout": 2}
    results = hostile_jobs(guard, [job])["results"]
    assert results[0]["statuses"] == ["wrong_answer"], results


# The job server holds the host's pipe (test_code: the test code arrives on it after the candidate was
# forked) and the job's data: a program must not reach them through /proc.
READ_THE_SERVER = """
import os
for pid in (os.getppid(), 1):
    for path in ("fd/0", "fd/1", "mem", "environ", "maps"):
        try:
            with open(f"/proc/{pid}/{path}", "rb") as f:
                f.read(1)
            print("READ", pid, path)
        except OSError:
            print("denied")
"""


def test_a_job_cannot_read_its_job_servers_descriptors_or_memory(guard):  # noqa: F811
    result = hostile_jobs(guard, [{"code": READ_THE_SERVER}])["results"][0]
    assert result["status"] == "ok" and "READ" not in result["stdout"], result
    assert result["stdout"].count("denied") == 10, result
