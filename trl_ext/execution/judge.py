"""Running programs and test suites in the sandbox, and judging their output.

Statuses (exactly): ok, wrong_answer, runtime_error, timeout, memory_limit, output_limit, sandbox_error.
Bad *code* never raises: it gets a status; nothing a job emits can raise here (a reply that cannot be parsed
or compared is that job's failure). Bad *arguments* raise ValueError/TypeError naming the problem.
Expected outputs never enter the candidate's process: it runs on inputs only and the host compares plain
data (stdout text; in call mode the return value, encoded as plain data and decoded here, strictly).

Comparison (the contest-checker rule). stdout: whitespace-separated tokens, compared one by one; where the
expected token is an integer (`[+-]?[0-9]+`) the output token must be an integer of exactly that value
(`999999` ≠ `1000000`, `1_000_000` ≠ `1000000`); where the expected token is a float (it has a `.`, an
exponent, or is inf/nan) the output token must be a number within 1e-6 (absolute or relative); any other
token must be equal as text. Call mode: an expected integer equals only an integer (or float) of exactly
that value, an expected float equals a number within 1e-6, `True` is not `1`, tuples compare as lists.

Host-side cost (issue 22, item 5): everything here runs in the trainer's process, on what a hostile job
returned, so each parser is linear in its size and holds memory proportional to it, under these caps:
- stdout/stderr: at most the job's `output_limit` bytes each (default 64 KiB; the worker truncates).
  Tokens are compared without quadratic work: integers as canonical digit strings (no `int()`, which is
  quadratic in the digits and refuses more than 4300), floats matched by an unambiguous regex (the old one
  backtracked quadratically: 98 s for one 65,534-digit token) and parsed by `float()` (linear).
- call-mode replies: at most `reply_cap` of the longest expected output of the job (and never more than
  `_worker.MAX_REPLY`, 64 MiB) cross the pipe (a longer one ends that call: `output_limit`), each parsed
  once by the C JSON decoder; a reply longer than `REPLY_CAP_FACTOR` x the expected output's JSON + `REPLY_CAP_SLACK`
  characters cannot encode an equal value (the longest encoding of an element is under 16x its shortest
  JSON form: a float for an int, two 6-character escapes for one character) and is a wrong answer without being
  decoded; values are at most `_worker.MAX_DEPTH` deep; the shown `got` is encoded only up to `MAX_SHOWN`
  characters.
Worst cases are timed in `scripts/bench_sandbox.py --parsers`.
"""

from __future__ import annotations

import atexit
import json
import math
import re
import signal
import threading
from dataclasses import dataclass, field

from trl_ext.execution._worker import MEMORY_EXIT, decode_value
from trl_ext.execution.sandbox import Sandbox


def remote_backend():
    """The backend that runs jobs given no explicit `sandbox`, or None for the local pool. `backends` (which sits
    above this module: its remote clients judge with it) replaces this at import with its own `remote_backend`."""
    return None


STATUSES = ("ok", "wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit", "sandbox_error")
DEFAULT_TIMEOUT = 5.0
DEFAULT_MEMORY_MB = 512
DEFAULT_OUTPUT_LIMIT = 64 * 1024
REPLY_CAP_FACTOR = 32
REPLY_CAP_SLACK = 4096
MAX_SHOWN = 2000  # characters of a test's output kept in TestResult.got


@dataclass
class ExecResult:
    """How one run of a program ended."""

    status: str
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    wall_time: float = 0.0
    cpu_time: float = 0.0
    output_truncated: bool = False
    value: object = None  # call mode: the function's return value (JSON)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class TestResult:
    status: str
    input: str
    expected: str
    got: str
    stderr: str = ""
    wall_time: float = 0.0


@dataclass
class TestsResult:
    """Per-test results of one program on a test suite; tests after the first failure are skipped when
    `stop_on_failure` (then `results` is shorter than the suite)."""

    results: list[TestResult] = field(default_factory=list)
    num_tests: int = 0

    @property
    def passed(self) -> bool:
        return self.num_tests > 0 and self.num_passed == self.num_tests

    @property
    def num_passed(self) -> int:
        return sum(r.status == "ok" for r in self.results)

    @property
    def fraction(self) -> float:
        return self.num_passed / self.num_tests if self.num_tests else 0.0

    @property
    def status(self) -> str:
        """ok when all passed, else the status of the first failing test."""
        return next(
            (r.status for r in self.results if r.status != "ok"), "ok" if self.passed else "wrong_answer"
        )


# ------------------------------------------------------------------------------------ output comparison


_INTEGER = re.compile(r"[+-]?[0-9]+")
# Unambiguous (each character has one way to match), so a failing match backtracks in linear time.
_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)", re.I
)


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def _canonical_integer(token: str) -> str:
    """An integer token's value as text (sign and leading zeros normalised): linear, unlike `int()`."""
    digits = token.lstrip("+-").lstrip("0") or "0"
    return "-" + digits if token.startswith("-") and digits != "0" else digits


def _token_equal(got: str, expected: str) -> bool:
    if got == expected:
        return True
    if _INTEGER.fullmatch(expected):
        return _INTEGER.fullmatch(got) is not None and _canonical_integer(got) == _canonical_integer(expected)
    if _FLOAT.fullmatch(expected) and _FLOAT.fullmatch(got):
        return _close(float(got), float(expected))
    return False


def outputs_match(got: str, expected: str) -> bool:
    """stdout comparison as contest judges do it (see the module docstring): integers exact, floats within
    1e-6 where the expected token is a float, other tokens as text; whitespace-insensitive."""
    got_tokens, expected_tokens = got.split(), expected.split()
    return len(got_tokens) == len(expected_tokens) and all(map(_token_equal, got_tokens, expected_tokens))


def values_match(got, expected) -> bool:
    """Call-mode comparison of plain values (see the module docstring); False, never an error, for values
    too deep to compare."""
    try:
        return _values_match(got, expected)
    except RecursionError:
        return False


def _values_match(got, expected) -> bool:
    if isinstance(got, bool) or isinstance(expected, bool):  # True is not 1
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int) and isinstance(got, int | float):
        return got == expected
    if isinstance(expected, float) and isinstance(got, int | float):
        return _close(got, expected)
    if isinstance(got, list | tuple) and isinstance(expected, list | tuple):
        return len(got) == len(expected) and all(map(_values_match, got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(_values_match(got[k], expected[k]) for k in got)
    return type(got) is type(expected) and got == expected


# ---------------------------------------------------------------------------------------- statuses


TOO_LARGE = {"kind": "too_large"}  # a reply too long to encode the expected value: never decoded


def _status(raw: dict | None, mode: str, report: dict) -> str:
    if raw is None:
        return "sandbox_error"
    kind = report.get("kind")
    if raw["timed_out"] or raw["signal"] == signal.SIGXCPU:
        return "timeout"
    if raw["signal"] == signal.SIGXFSZ or raw["output_truncated"]:
        return "output_limit"
    if kind == "memory" or (mode == "script" and raw["exit_code"] == MEMORY_EXIT):
        return "memory_limit"
    if raw["signal"] == signal.SIGKILL:  # not ours: the memory cgroup's OOM killer
        return "memory_limit"
    if raw["exit_code"] != 0:
        return "runtime_error"
    if (mode == "test_code" and kind == "fail") or report is TOO_LARGE:
        return "wrong_answer"
    if mode != "script" and kind != "ok":  # e.g. exit(0) before the checks ran, or an unreadable reply
        return "runtime_error"
    return "ok"


def _report(raw: dict) -> dict:
    """The job's report (call mode: the candidate's reply) as a dict; {} when it is anything else."""
    try:
        report = json.loads(raw.get("report") or "{}")
    except (ValueError, RecursionError, MemoryError):
        return {}
    return report if isinstance(report, dict) else {}


def _value(report: dict):
    """The decoded return value of a call-mode reply, and whether it could be decoded."""
    try:
        return decode_value(report.get("value")), True
    except (ValueError, TypeError, RecursionError, MemoryError):
        return None, False


def _exec_result(raw: dict | None, mode: str, max_report: int | None = None) -> ExecResult:
    """The result of one run; the report (call mode: the candidate's reply) is parsed once, and not at all
    when it is longer than `max_report` characters (see the module docstring)."""
    if raw is None:
        return ExecResult("sandbox_error", stderr="the sandbox worker died or hung")
    too_large = max_report is not None and len(raw.get("report") or "") > max_report
    report = TOO_LARGE if too_large else _report(raw)
    status, value = _status(raw, mode, report), None
    if mode == "call" and status == "ok":
        value, decoded = _value(report)
        status = status if decoded else "runtime_error"
    return ExecResult(
        status=status,
        stdout=raw["stdout"],
        stderr=raw["stderr"],
        exit_code=raw["exit_code"],
        signal=raw["signal"],
        wall_time=raw["wall_time"],
        cpu_time=raw["cpu_time"],
        output_truncated=raw["output_truncated"],
        value=value,
    )


# --------------------------------------------------------------------------------------- arguments


def _limits(timeout, memory_mb, cpu_time, output_limit) -> dict:
    for name, value in (("timeout", timeout), ("memory_mb", memory_mb), ("output_limit", output_limit)):
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if memory_mb < 32:
        raise ValueError(f"memory_mb must be at least 32 (a Python interpreter needs it), got {memory_mb}")
    return {
        "timeout": float(timeout),
        "cpu_time": float(cpu_time if cpu_time is not None else timeout),
        "memory_mb": int(memory_mb),
        "output_limit": int(output_limit),
    }


def _check_text(name: str, text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{name} is not valid UTF-8 text: lone surrogate {text[err.start]!r} at position {err.start}"
        ) from None
    return text


def _check_code(code) -> str:
    return _check_text("code", code)


def check_tests(tests) -> list[dict]:
    """Validate a test list of the code-problem schema: [{"input": str, "output": str}, ...]."""
    if not isinstance(tests, list | tuple):
        raise ValueError(
            f"tests must be a list of {{'input': str, 'output': str}}, got {type(tests).__name__}"
        )
    for i, test in enumerate(tests):
        if not isinstance(test, dict) or not {"input", "output"} <= test.keys():
            raise ValueError(
                f"test {i} is malformed: expected a dict with 'input' and 'output', got {test!r:.200}"
            )
        if not isinstance(test["input"], str) or not isinstance(test["output"], str):
            raise ValueError(f"test {i} is malformed: 'input' and 'output' must be strings")
        _check_text(f"test {i} input", test["input"])
    return list(tests)


# ------------------------------------------------------------------------------------- entry points

_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide sandbox pool (one worker per core), started on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
            atexit.register(_default.close)
        return _default


def _run_job(job: dict, sandbox: Sandbox | None) -> ExecResult:
    results: list[ExecResult] = []
    (sandbox or default_sandbox()).execute(job, lambda i, raw: results.append(_exec_result(raw, job["mode"])))
    return results[0]


def _make_run_job(
    code,
    stdin="",
    *,
    timeout=DEFAULT_TIMEOUT,
    memory_mb=DEFAULT_MEMORY_MB,
    cpu_time=None,
    output_limit=DEFAULT_OUTPUT_LIMIT,
) -> dict:
    return {
        "mode": "script",
        "code": _check_code(code),
        "inputs": [_check_text("stdin", stdin)],
        **_limits(timeout, memory_mb, cpu_time, output_limit),
    }


def run(code: str, stdin: str = "", *, sandbox: Sandbox | None = None, **limits) -> ExecResult:
    """Run a Python program on `stdin`. Limits: timeout (wall s), cpu_time (s), memory_mb, output_limit (bytes)."""
    if sandbox is None and remote_backend() is not None:
        return run_batch([{"code": code, "stdin": stdin, **limits}])[0]
    return _run_job(_make_run_job(code, stdin, **limits), sandbox)


def run_batch(jobs: list[dict], *, sandbox: Sandbox | None = None) -> list[ExecResult]:
    """`run` for many jobs in parallel; each job is a dict of `run`'s arguments (`code`, `stdin`, limits)."""
    prepared = [_make_run_job(**job) for job in jobs]
    if sandbox is None and (remote := remote_backend()) is not None:
        return remote.run_batch(jobs)
    box = sandbox or default_sandbox()
    return box.map(lambda job: _run_job(job, box), prepared)


def _make_tests_job(
    code,
    tests=None,
    *,
    fn_name=None,
    test_code=None,
    test_setup=None,
    stop_on_failure=True,
    timeout=DEFAULT_TIMEOUT,
    memory_mb=DEFAULT_MEMORY_MB,
    cpu_time=None,
    output_limit=DEFAULT_OUTPUT_LIMIT,
):
    tests = check_tests(tests or [])
    secret = None
    if test_code is not None:
        if not isinstance(test_code, str) or "def check" not in test_code:
            raise ValueError("test_code must be Python source defining check(candidate)")
        if not fn_name:
            raise ValueError("test_code needs fn_name: the function passed to check()")
        secret = {
            "test_code": _check_text("test_code", test_code),
            "test_setup": _check_text("test_setup", test_setup or ""),
        }
        mode, inputs = "test_code", [""]
    elif not tests:
        raise ValueError("run_tests needs at least one test (or test_code)")
    else:
        mode, inputs = ("call" if fn_name else "script"), [t["input"] for t in tests]
        if fn_name:
            for i, test in enumerate(tests):
                try:
                    json.loads(test["input"]), json.loads(test["output"])
                except json.JSONDecodeError as err:
                    raise ValueError(
                        f"test {i} is malformed: call-mode input/output must be JSON ({err})"
                    ) from err
    if fn_name is not None:
        _check_text("fn_name", fn_name)
    job = {"mode": mode, "code": _check_code(code), "inputs": inputs, "fn_name": fn_name}
    if mode == "call":  # the worker relays no reply longer than any that could encode an expected value
        job["reply_limit"] = max(reply_cap(t["output"]) for t in tests) + 64
    job.update(_limits(timeout, memory_mb, cpu_time, output_limit))
    return job, secret, tests, stop_on_failure


def _show(value) -> str:
    """The first MAX_SHOWN characters of `value` as JSON, encoded only that far."""
    shown, size = [], 0
    try:
        for chunk in json.JSONEncoder(default=repr).iterencode(value):
            shown.append(chunk[: MAX_SHOWN - size])
            size += len(shown[-1])
            if size >= MAX_SHOWN:
                break
    except (ValueError, RecursionError):
        return repr(type(value))
    return "".join(shown)


def reply_cap(expected: str) -> int:
    """The longest call-mode report (characters) that can still encode a value equal to `expected`."""
    return REPLY_CAP_FACTOR * len(expected) + REPLY_CAP_SLACK


def _judge(result: ExecResult, mode: str, expected: str) -> tuple[str, str]:
    """(status, shown output) of one test; anything that cannot be compared is a wrong answer."""
    status = result.status
    if status == "ok" and mode == "script" and not outputs_match(result.stdout, expected):
        status = "wrong_answer"
    if status == "ok" and mode == "call" and not values_match(result.value, json.loads(expected)):
        status = "wrong_answer"
    if result.status == "wrong_answer" and result.value is None and mode == "call":
        return status, "<a reply too long to be equal to the expected value>"
    return status, result.stdout[:MAX_SHOWN] if mode == "script" else _show(result.value)


def judge_raw(raw: dict | None, mode: str, expected: str) -> tuple[ExecResult, str, str]:
    """(result, status, shown output) of one test from the worker's raw result; never raises."""
    result = _exec_result(raw, mode, reply_cap(expected) if mode == "call" else None)
    try:
        status, got = _judge(result, mode, expected)
    except Exception as err:  # whatever the job emitted, it ends in a status for this job only
        status, got = "wrong_answer", f"<cannot be judged: {type(err).__name__}>"
    return result, status, got


def _run_tests_job(prepared, sandbox: Sandbox | None) -> TestsResult:
    job, secret, tests, stop_on_failure = prepared
    mode = job["mode"]
    out = TestsResult(num_tests=len(tests) if mode != "test_code" else 1)

    def on_result(i: int, raw: dict | None) -> bool:
        expected = tests[i]["output"] if tests and mode != "test_code" else ""
        result, status, got = judge_raw(raw, mode, expected)
        test_input = tests[i]["input"] if mode != "test_code" else ""
        out.results.append(
            TestResult(status, test_input, expected, got, result.stderr[-MAX_SHOWN:], result.wall_time)
        )
        return status == "ok" or not stop_on_failure

    (sandbox or default_sandbox()).execute(job, on_result, secret)
    return out


def run_tests(
    code: str,
    tests: list[dict] | None = None,
    *,
    fn_name: str | None = None,
    test_code: str | None = None,
    test_setup: str | None = None,
    stop_on_failure: bool = True,
    sandbox: Sandbox | None = None,
    **limits,
) -> TestsResult:
    """Run `code` on a test suite of the code-problem schema.

    - stdin mode (`fn_name` None): each test's `input` is stdin, `output` the expected stdout (token match).
    - call mode (`fn_name` given): `input` is a JSON list of arguments, `output` the JSON return value; one
      candidate process answers all the calls of the suite, the host compares.
    - HumanEval style (`test_code` given): `check(candidate)` of `test_code` (after the trusted `test_setup`,
      e.g. the problem's prompt, which may define helpers the tests use) runs in a judge process apart
      from the candidate's; `candidate` is a proxy that calls `<fn_name>` in the candidate's process with
      plain-data arguments and gets its plain-data return value back. Test code that passes functions or
      other objects, inspects the candidate object, or relies on the candidate mutating its arguments is
      not supported there (such a check fails); convert such suites to call-mode tests instead.
    """
    if sandbox is None and remote_backend() is not None:
        job = dict(code=code, tests=tests, fn_name=fn_name, test_code=test_code, test_setup=test_setup)
        return run_tests_batch([{**job, "stop_on_failure": stop_on_failure, **limits}])[0]
    return _run_tests_job(
        _make_tests_job(
            code,
            tests,
            fn_name=fn_name,
            test_code=test_code,
            test_setup=test_setup,
            stop_on_failure=stop_on_failure,
            **limits,
        ),
        sandbox,
    )


def run_tests_batch(jobs: list[dict], *, sandbox: Sandbox | None = None) -> list[TestsResult]:
    """`run_tests` for many (program, suite) jobs in parallel; each job is a dict of `run_tests`' arguments."""
    prepared = [_make_tests_job(**job) for job in jobs]
    if sandbox is None and (remote := remote_backend()) is not None:
        return remote.run_tests_batch(jobs)
    box = sandbox or default_sandbox()
    return box.map(lambda p: _run_tests_job(p, box), prepared)
