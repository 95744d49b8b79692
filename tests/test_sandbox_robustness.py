"""The sandbox's judging rules, limits, portability and transport (issue 10, items 5-8). Programs that could
harm the host run through the guarded runner of test_sandbox_security.py."""

import json
import os
import subprocess
import threading

import pytest
from test_sandbox_security import guard, hostile_jobs  # noqa: F401  (guard is a fixture)

from trl_ext.execution import Sandbox, _worker, outputs_match, run, run_tests, sandbox, values_match
from trl_ext.execution import judge as judge_module
from trl_ext.execution.judge import judge_raw as judge
from trl_ext.execution.sandbox import _Cgroup, bwrap_works

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run on this host")


# ----------------------------------------------------------------------------- 5. exact integer comparison


def test_integers_compare_exactly_floats_with_tolerance():
    for got, expected in [("999999", "1000000"), (str(10**18 + 1000), str(10**18)), ("1_000_000", "1000000")]:
        assert not outputs_match(got, expected), (got, expected)
    assert (
        not outputs_match("1000000.0", "1000000") and outputs_match("+7", "7") and outputs_match("007", "7")
    )
    assert outputs_match("0.1000000001", "0.1") and outputs_match("1e6", "1000000.0")
    assert not outputs_match("0.11", "0.1") and not outputs_match("abc", "abd")
    assert not values_match(999999, 1000000) and not values_match(10**18 + 1000, 10**18)
    assert values_match(10**18, 10**18) and values_match(3.0, 3) and not values_match(3.0000001, 3)
    assert values_match(2.0000000001, 2.0) and values_match([1, (2.0, 3)], [1, [2.0, 3]])
    assert not values_match(True, 1) and not values_match("1", 1)


# ------------------------------------------------ issue 22, item 5: host-side parsers are linear and bounded


def _raw(report: str = "", stdout: str = "") -> dict:
    """A worker's raw result line for a run that exited normally."""
    return {"report": report, "stdout": stdout, "stderr": "", "timed_out": False, "signal": None, "exit_code": 0,
            "output_truncated": False, "wall_time": 0.0, "cpu_time": 0.0}  # fmt: skip


def test_stdout_tokens_are_judged_in_linear_time():
    # One 65,534-digit token ending in a letter against a float: 98 s of CPU for the old, backtracking regex.
    assert not outputs_match("9" * 65534 + "x", "1.5")
    # Integers longer than the 4300 digits `int()` accepts are compared exactly, as text.
    big = "1" + "0" * 65533
    assert outputs_match(big, "+" + big) and outputs_match("000" + big, big) and outputs_match("-0", "0")
    assert not outputs_match(big, big[:-1] + "1") and not outputs_match("-" + big, big)
    _, status, got = judge(_raw(stdout=big + "\n"), "script", big)
    assert status == "ok" and len(got) == judge_module.MAX_SHOWN


def test_call_replies_are_parsed_once_and_capped_by_the_expected_size():
    huge = '{"kind": "ok", "value": [' + "0, " * 2_000_000 + "0]}"  # 6 MB: far longer than any equal value
    result, status, got = judge(_raw(huge), "call", "[0]")
    assert (status, result.value) == ("wrong_answer", None) and "too long" in got
    assert len(huge) > judge_module.reply_cap("[0]")
    # Equal values whose encodings are longer than the expected JSON still pass: floats for ints, escapes.
    expected = json.dumps([1] * 100_000)
    reply = json.dumps({"kind": "ok", "value": [1.0000000000000002] * 100_000})
    result, status, got = judge(_raw(reply), "call", expected)
    assert status == "wrong_answer"  # an int is expected: exactly 1 only
    reply = json.dumps({"kind": "ok", "value": [-1.2345678901234567e-300] * 1000})
    assert judge(_raw(reply), "call", json.dumps([0.0] * 1000))[1] == "ok"
    emoji = ["\U0001f600" * 1000]
    reply = json.dumps({"kind": "ok", "value": emoji})  # ASCII escapes: 12 characters per character
    result, status, got = judge(_raw(reply), "call", json.dumps(emoji, ensure_ascii=False))
    assert status == "ok" and len(got) == judge_module.MAX_SHOWN
    deep = '{"kind": "ok", "value": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert (
        judge(_raw(deep), "call", "[" * 100_000 + "]" * 100_000)[1] == "runtime_error"
    )  # too deep to decode


# ----------------------------------------------------------------------- 6. CPU time of the whole process tree

FORK_BURNERS = """
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os.setsid()
        while time.process_time() < 0.6:  # 0.6 s of CPU each: under any per-process limit
            pass
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print("done")
"""


@needs_bwrap
def test_cpu_limit_covers_the_process_tree(guard):  # noqa: F811
    result = hostile_jobs(guard, [{"code": FORK_BURNERS, "timeout": 60, "cpu_time": 1}])["results"][0]
    assert result["status"] == "timeout" and "done" not in result["stdout"], result


# ------------------------------------------------------------------- 7. cgroup v2, loud about missing limits


def _fake_v2(tmp_path, controllers: str):
    root = tmp_path / "cgroup"
    (root / "job").mkdir(parents=True)
    (root / "cgroup.controllers").write_text(controllers)
    (root / "job" / "cgroup.controllers").write_text(controllers)
    (root / "job" / "cgroup.subtree_control").write_text("")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("0::/job\n")
    return root, proc


def test_cgroup_v2_limits_and_a_warning_naming_each_missing_one(tmp_path):
    root, proc = _fake_v2(tmp_path, "cpuset cpu io memory pids")
    cgroup = _Cgroup(40, 256 * 2**20, 1.0, root=root, proc_cgroup=proc)
    (directory,) = cgroup.dirs
    assert (directory / "pids.max").read_text() == "40"
    assert (directory / "memory.max").read_text() == str(256 * 2**20)
    assert (directory / "cpu.max").read_text() == "100000 100000"
    assert cgroup.missing == [] and "+cpu" in (root / "job" / "cgroup.subtree_control").read_text()

    root, proc = _fake_v2(tmp_path / "partial", "memory")
    cgroup = _Cgroup(40, 256 * 2**20, 1.0, root=root, proc_cgroup=proc)
    assert cgroup.missing == ["cpu", "pids"]
    with pytest.warns(RuntimeWarning, match=r"cpu \(cpu.max / cpu.cfs_quota_us\), pids \(pids.max"):
        sandbox.warn_missing_limits(cgroup.missing)


@needs_bwrap
def test_worker_outlives_the_thread_that_started_it():
    with Sandbox(num_workers=1) as box:
        first = []
        thread = threading.Thread(target=lambda: first.append(run("print(1)", sandbox=box)))
        thread.start()
        thread.join()
        (worker,) = list(box._idle.queue)
        with pytest.raises(subprocess.TimeoutExpired):  # still running a second after its thread ended
            worker.proc.wait(timeout=1)
        assert first[0].status == "ok" and run("print(2)", sandbox=box).stdout == "2\n"


def test_root_without_an_unprivileged_bubblewrap_fails_closed(monkeypatch):
    """Issue 22, item 0: a root caller whose `nobody` cannot run bubblewrap gets no sandbox (auto does not
    fall back to rlimits, which would run the code as root either), unless an option naming the risk says
    that it accepts the sandbox's uid mapping to host root."""
    if os.geteuid() != 0 or sandbox.bwrap_executable() is None:
        pytest.skip("the fallback of a root caller with bubblewrap installed")
    monkeypatch.setattr(sandbox, "_probe", lambda bwrap, as_nobody: not as_nobody)
    monkeypatch.setattr(sandbox, "_warned", set())
    monkeypatch.delenv(sandbox.ALLOW_HOST_ROOT, raising=False)
    with pytest.warns(
        RuntimeWarning, match="cannot run as `nobody`.*refusing.*TRL_EXT_SANDBOX_ALLOW_HOST_ROOT=1"
    ):
        assert sandbox.bwrap_mode.__wrapped__() is None
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: False)
    for isolation in ("auto", "bwrap"):
        with pytest.raises(sandbox.SandboxUnavailableError, match="refusing"):
            sandbox.resolve_isolation(isolation)
    monkeypatch.setenv(sandbox.ALLOW_HOST_ROOT, "1")
    with pytest.warns(RuntimeWarning, match="ALLOW_HOST_ROOT=1: the sandbox's uid maps to host ROOT"):
        assert sandbox.bwrap_mode.__wrapped__() == "host-root"


# ------------------------------------------------------------------------------------ 8. robust transport


def test_frames_are_read_in_large_chunks(monkeypatch):
    payload = b"x" * (4 << 20)
    read_end, write_end = os.pipe()
    writer = threading.Thread(
        target=lambda: (_worker.write_all(write_end, _worker.frame(payload)), os.close(write_end))
    )
    calls = []
    real_readv = os.readv
    monkeypatch.setattr(os, "readv", lambda fd, bufs: calls.append(1) or real_readv(fd, bufs))
    writer.start()
    assert _worker.read_frame(read_end) == payload
    writer.join()
    os.close(read_end)
    assert len(calls) <= 2 + len(payload) // 4096, len(calls)  # at least a page per read, never a byte


def test_sending_to_a_worker_that_stopped_reading_times_out():
    import time

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        with pytest.raises(TimeoutError, match="timed out"):
            sandbox.send_all(write_end, b"x" * (8 << 20), time.monotonic() + 0.2)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_lone_surrogate_is_a_clear_error_and_memoryerror_text_is_not_a_verdict():
    with Sandbox(num_workers=1) as box:
        with pytest.raises(ValueError, match="lone surrogate"):
            run("print(input())", "a\ud800b", sandbox=box)
        with pytest.raises(ValueError, match="lone surrogate"):
            run_tests("print(1)", [{"input": "\udfff", "output": "1"}], sandbox=box)
        assert run("print(input())", "still fine\n", sandbox=box).stdout == "still fine\n"
        noisy = run("import sys\nprint('MemoryError: not really', file=sys.stderr)\nprint(42)", sandbox=box)
        assert noisy.status == "ok" and noisy.stdout == "42\n"
        assert run_tests(
            "import sys\nprint('MemoryError', file=sys.stderr)\nprint(input())",
            [{"input": "7", "output": "7"}],
            sandbox=box,
        ).passed


@needs_bwrap
def test_ordinary_programs_still_run_under_the_filter():
    code = (
        "import threading, multiprocessing, subprocess, socket\n"
        "t = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n"
        "with multiprocessing.Pool(2) as pool:\n    print(pool.map(abs, [-1, -2]))\n"
        "print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout.strip())\n"
        "a, b = socket.socketpair()\na.sendall(b'pair')\nprint(b.recv(4).decode())\n"
        # a program may still change its own attributes (the filter denies only other processes')
        "import os, resource\nos.nice(1)\nresource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "os.sched_setaffinity(0, os.sched_getaffinity(0))\nprint(resource.prlimit(0, resource.RLIMIT_NOFILE))\n"
    )
    result = run(code, timeout=30)
    expected = ["thread", "[1,", "2]", "child", "pair", "(64,", "64)"]
    assert result.status == "ok" and result.stdout.split() == expected, result
