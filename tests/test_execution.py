"""The sandbox's functional side: statuses, test suites in both shapes, batches, arguments, HumanEval."""

import pytest

from hub_datasets import humaneval
from trl_ext.execution import (
    STATUSES,
    Sandbox,
    outputs_match,
    run,
    run_batch,
    run_tests,
    run_tests_batch,
    values_match,
)
from trl_ext.rewards.code import verify_job


def test_statuses():
    cases = {
        "print(input()[::-1])": "ok",
        "raise ValueError('boom')": "runtime_error",
        "import sys; sys.exit(3)": "runtime_error",
        "while True: pass": "timeout",
        "x = bytearray(2**31)": "memory_limit",
        "print('x' * 10**6)": "output_limit",
        "def broken(:": "runtime_error",
    }
    results = run_batch([{"code": code, "stdin": "abc\n", "timeout": 1} for code in cases])
    assert [r.status for r in results] == list(cases.values())
    assert results[0].stdout == "cba\n" and results[0].exit_code == 0 and results[0].wall_time > 0
    assert "ValueError: boom" in results[1].stderr and results[2].exit_code == 3
    assert results[5].output_truncated and len(results[5].stdout) == 64 * 1024
    assert "SyntaxError" in results[6].stderr
    assert set(r.status for r in results) <= set(STATUSES)


def test_cpu_time_limit():
    result = run("while True: pass", timeout=10, cpu_time=1)
    assert result.status == "timeout" and result.cpu_time < 3


def test_stdin_tests_and_comparison():
    code = "a, b = map(float, input().split())\nprint(a / b)\nprint('  done  ')"
    tests = [
        {"input": "1 3", "output": "0.333333333\ndone"},
        {"input": "1 0", "output": "inf"},
        {"input": "2 1", "output": "2.0 done"},
    ]
    result = run_tests(code, tests, stop_on_failure=False)
    assert [r.status for r in result.results] == ["ok", "runtime_error", "ok"]
    assert result.fraction == pytest.approx(2 / 3) and not result.passed and result.status == "runtime_error"
    stopped = run_tests(code, tests)
    assert len(stopped.results) == 2 and stopped.num_tests == 3
    assert outputs_match("1 2\n3 \n\n", "1 2 3") and not outputs_match("1 2", "1 2 3")
    assert outputs_match("0.1000000001", "0.1") and not outputs_match("0.11", "0.1")


def test_call_mode_and_test_code():
    code = "def add(a, b):\n    return [a + b, (a, b)]\n"
    tests = [
        {"input": "[1, 2]", "output": "[3, [1, 2]]"},
        {"input": "[0.1, 0.2]", "output": "[0.3, [0.1, 0.2]]"},
    ]
    assert run_tests(code, tests, fn_name="add").passed
    wrong = run_tests(code, [{"input": "[1, 1]", "output": "[3, [1, 1]]"}] + tests, fn_name="add")
    assert wrong.status == "wrong_answer" and wrong.results[0].got == "[2, [1, 1]]"
    assert len(wrong.results) == 1 and wrong.num_tests == 3  # stopped at the first failure
    leetcode = "class Solution:\n    def twice(self, x):\n        return 2 * x\n"
    assert run_tests(leetcode, [{"input": "[4]", "output": "8"}], fn_name="twice").passed
    assert values_match([1, 2.0000000001], (1, 2.0)) and not values_match(True, 1)
    check = "def check(candidate):\n    assert candidate(1, 2)[0] == 3\n"
    assert run_tests(code, test_code=check, fn_name="add").passed
    # exiting early, before the checks ran, is not a pass
    cheat = "import sys\nsys.exit(0)\n" + code
    assert run_tests(cheat, test_code=check, fn_name="add").status == "runtime_error"


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="code must be a str"):
        run(b"print(1)")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        run("print(1)", timeout=0)
    with pytest.raises(ValueError, match="test 0 is malformed"):
        run_tests("print(1)", [{"in": "1", "out": "1"}])
    with pytest.raises(ValueError, match="test 1 is malformed"):
        run_tests("print(1)", [{"input": "1", "output": "1"}, {"input": 1, "output": "1"}])
    with pytest.raises(ValueError, match="must be JSON"):
        run_tests("def f(x): return x", [{"input": "not json", "output": "1"}], fn_name="f")
    with pytest.raises(ValueError, match="at least one test"):
        run_tests("print(1)", [])
    with pytest.raises(ValueError, match="isolation must be one of"):
        Sandbox(isolation="docker")


def test_rlimits_fallback_warns_loudly():
    with pytest.warns(RuntimeWarning, match="RESOURCE LIMITS ONLY"):
        box = Sandbox(num_workers=1, isolation="rlimits")
    with box:
        assert run("print(6 * 7)", sandbox=box).stdout == "42\n"
        assert run("while True: pass", timeout=1, sandbox=box).status == "timeout"


def test_humaneval_canonical_solutions_pass_and_broken_ones_fail():
    rows = humaneval.rows()
    assert len(rows) == 164
    good = run_tests_batch([verify_job(r["solutions"][0], r) for r in rows])
    assert [r.passed for r in good] == [True] * 164
    # Broken: the function returns None.
    broken = run_tests_batch([verify_job(r["starter_code"] + "    return None\n", r) for r in rows])
    assert sum(r.passed for r in broken) == 0
    # The split judge (unconverted checks) accepts every canonical solution too.
    as_code = [{**r, "private_tests": []} for r in rows]
    assert all(r.passed for r in run_tests_batch([verify_job(r["solutions"][0], r) for r in as_code]))


def test_refuses_without_isolation_when_required(monkeypatch):
    from trl_ext.execution import SandboxUnavailableError, sandbox

    monkeypatch.setattr(sandbox, "bwrap_works", lambda: False)
    with pytest.raises(SandboxUnavailableError, match="refusing to run untrusted code"):
        Sandbox(isolation="bwrap")
    monkeypatch.setenv("TRL_EXT_SANDBOX", "bwrap")
    with pytest.raises(SandboxUnavailableError):
        Sandbox()
