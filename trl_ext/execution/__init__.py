"""The sandbox that runs untrusted generated code: isolation, limits, parallel batches, test judging."""

from trl_ext.execution.judge import (
    STATUSES,
    ExecResult,
    TestResult,
    TestsResult,
    check_tests,
    default_sandbox,
    outputs_match,
    run,
    run_batch,
    run_tests,
    run_tests_batch,
    values_match,
)
from trl_ext.execution.sandbox import Sandbox, SandboxUnavailableError

__all__ = [
    "STATUSES",
    "ExecResult",
    "Sandbox",
    "SandboxUnavailableError",
    "TestResult",
    "TestsResult",
    "check_tests",
    "default_sandbox",
    "outputs_match",
    "run",
    "run_batch",
    "run_tests",
    "run_tests_batch",
    "values_match",
]
