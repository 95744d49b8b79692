"""The JSON form of execution results between `trl-ext sandbox serve` (`server.py`) and its clients
(`remote.py`), and the SandboxFusion `run_code` mapping both sides share.

Return values of call mode travel in the sandbox's plain-data codec (`_worker.encode_value`), decoded strictly:
a tuple stays a tuple, and no object of anyone's can come back.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from trl_ext.execution._worker import decode_value, encode_value
from trl_ext.execution.judge import ExecResult, TestResult, TestsResult

API = "trl_ext/v1"  # our own endpoints live under /trl_ext/v1/
SERVER_NAME = "trl-ext"
_EXEC_FIELDS = tuple(f.name for f in fields(ExecResult))
_TEST_FIELDS = tuple(f.name for f in fields(TestResult))


def exec_to_json(result: ExecResult) -> dict:
    out = asdict(result)
    out["value"] = encode_value(result.value)
    return out


def exec_from_json(data: dict) -> ExecResult:
    """Strict: a reply that is not exactly a result raises ValueError (the caller treats it as a server fault)."""
    if not isinstance(data, dict) or set(data) != set(_EXEC_FIELDS):
        raise ValueError(f"not an execution result: {str(data)[:200]}")
    return ExecResult(**{**data, "value": decode_value(data["value"])})


def tests_to_json(result: TestsResult) -> dict:
    return {"num_tests": result.num_tests, "results": [asdict(r) for r in result.results]}


def tests_from_json(data: dict) -> TestsResult:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError(f"not a test-suite result: {str(data)[:200]}")
    results = []
    for item in data["results"]:
        if not isinstance(item, dict) or set(item) != set(_TEST_FIELDS):
            raise ValueError(f"not a test result: {str(item)[:200]}")
        results.append(TestResult(**item))
    return TestsResult(results=results, num_tests=int(data["num_tests"]))


# SandboxFusion: run_result.status is Finished | Error | TimeLimitExceeded; the response status is Success (ran,
# exit code 0), Failed (non-zero exit or time limit) or SandboxError (the sandbox itself failed).


_MESSAGES = {"memory_limit": "memory limit exceeded", "output_limit": "output limit exceeded"}


def run_code_response(result: ExecResult) -> dict:
    """SandboxFusion's RunCodeResponse for one local run (no compile step: Python)."""
    if result.status == "sandbox_error":
        return {
            "status": "SandboxError",
            "message": result.stderr or "the sandbox failed",
            "compile_result": None,
            "run_result": None,
            "executor_pod_name": None,
            "files": {},
        }
    timed_out = result.status == "timeout"
    if result.exit_code is not None:
        return_code = result.exit_code
    else:
        return_code = -result.signal if result.signal else (None if timed_out else 0)
    run_result = {
        "status": "TimeLimitExceeded" if timed_out else "Finished",
        "execution_time": result.wall_time,
        "cpu_time": result.cpu_time,
        "return_code": return_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }
    return {
        "status": "Success" if result.status == "ok" else "Failed",
        "message": _MESSAGES.get(result.status, ""),
        "compile_result": None,
        "run_result": run_result,
        "executor_pod_name": None,
        "files": {},
    }


def exec_from_run_code(data: dict) -> ExecResult | None:
    """Our ExecResult for a SandboxFusion response; None when the sandbox itself failed (run it elsewhere)."""
    run = data.get("run_result") if isinstance(data, dict) else None
    if (
        data.get("status") not in ("Success", "Failed")
        or not isinstance(run, dict)
        or run.get("status") == "Error"
    ):
        return None
    code = run.get("return_code")
    if run.get("status") == "TimeLimitExceeded":
        status = "timeout"
    elif run.get("status") != "Finished":
        return None
    else:
        status = "ok" if code == 0 else "runtime_error"
    return ExecResult(
        status=status,
        stdout=str(run.get("stdout") or ""),
        stderr=str(run.get("stderr") or ""),
        exit_code=code if isinstance(code, int) and code >= 0 else None,
        signal=-code if isinstance(code, int) and code < 0 else None,
        wall_time=float(run.get("execution_time") or 0.0),
        cpu_time=float(run.get("cpu_time") or 0.0),
    )
