"""The code verifier: run the completion's program on the problem's tests in the sandbox.

Rows follow the code-problem schema (DESIGN.md): `public_tests`/`private_tests` (lists of {input, output}),
`fn_name` (call mode) or none (stdin mode), optional HumanEval-style `test_code`, `starter_code`,
`time_limit_s`, `memory_limit_mb`. A completion with no code scores 0; nothing here raises on bad code.

Preambles, as each source's upstream harness gives them (chosen by the row's `source` prefix): APPS and
TACO prepend their `testing_util.py` import block (`sys`, `itertools`, `collections`, `math`, `heapq`,
`typing.List`/`Tuple`, … — LeetCode-style starter code such as `def twoSum(self, nums: List[int])` relies
on it; numpy is imported only where installed, as the sandbox runs the bare standard library);
CodeContests and HumanEval run programs as they are (HumanEval's prompt carries its own imports).
HumanEval-style `test_code` runs after the problem's `starter_code` (its prompt, which may define helpers
the checks call) in the sandbox's judge process, apart from the candidate's.
"""

from __future__ import annotations

from typing import Any

from trl_ext.execution import run_tests_batch
from trl_ext.rewards.common import Score, as_list, completion_text, extract_code, rows_from_columns

TEST_SETS = ("all", "public", "private")
MODES = ("all_pass", "fraction")
APPS_IMPORTS = """import sys
import time
import itertools
from itertools import accumulate, product, permutations, combinations
import collections
from collections import Counter, OrderedDict, deque, defaultdict, ChainMap
from functools import lru_cache
import math
from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2
import fractions
from typing import List, Tuple
try:
    import numpy as np
except ImportError:
    pass
import random
import heapq
from heapq import *
"""
PREAMBLES = {"apps": APPS_IMPORTS, "taco": APPS_IMPORTS}


def preamble(row: dict[str, Any]) -> str:
    """The code the row's upstream harness puts before every program (see the module docstring)."""
    return PREAMBLES.get(str(row.get("source") or "").split("/", 1)[0], "")


def build_program(text: str, row: dict[str, Any]) -> str | None:
    """The program to run for a completion: its code, after the starter code when the completion only gives
    a function body or omits the signature (HumanEval prompts end mid-function)."""
    code = extract_code(text)
    if code is None:
        return None
    fn_name, starter = row.get("fn_name"), row.get("starter_code") or ""
    if fn_name and starter and f"def {fn_name}" not in code:
        code = starter + code
    return preamble(row) + code


def _tests(row: dict[str, Any], which: str) -> list[dict]:
    public, private = as_list(row.get("public_tests")), as_list(row.get("private_tests"))
    return {"all": public + private, "public": public, "private": private}[which]


def verify_job(program: str, row: dict[str, Any], which: str = "all", stop_on_failure: bool = True) -> dict:
    """The `run_tests` arguments that verify `program` (already built) on the row's `which` tests."""
    tests = _tests(row, which)
    job = {
        "code": program,
        "stop_on_failure": stop_on_failure,
        "timeout": float(row.get("time_limit_s") or 5.0),
        "memory_mb": int(row.get("memory_limit_mb") or 512),
    }
    if tests:
        return {**job, "tests": tests, "fn_name": row.get("fn_name") or None}
    if row.get("test_code"):
        return {
            **job,
            "test_code": row["test_code"],
            "test_setup": row.get("starter_code") or None,
            "fn_name": row.get("fn_name"),
        }
    raise ValueError(f"code problem has no {which} tests and no test_code: cannot verify it")


def score(
    texts: list[str], rows: list[dict], *, tests: str = "all", mode: str = "all_pass"
) -> list[float | None]:
    """1.0/0.0 for all tests passed (mode 'all_pass') or the fraction of tests passed (mode 'fraction'); None
    when no sandbox could run the program (status `sandbox_error`: unscorable, not wrong)."""
    if tests not in TEST_SETS or mode not in MODES:
        raise ValueError(f"tests must be one of {TEST_SETS} and mode one of {MODES}")
    programs = [build_program(t, r) for t, r in zip(texts, rows)]
    todo = [i for i, p in enumerate(programs) if p is not None]
    results = run_tests_batch([verify_job(programs[i], rows[i], tests, mode == "all_pass") for i in todo])
    scores: list[Score | None] = [Score(0.0, "the completion holds no code")] * len(texts)
    for i, result in zip(todo, results):
        if any(r.status == "sandbox_error" for r in result.results):
            scores[i] = None  # no sandbox could judge it: unscorable (advantage 0), not wrong
            continue
        value = float(result.passed) if mode == "all_pass" else result.fraction
        failed = next((k for k, r in enumerate(result.results) if r.status != "ok"), None)
        scores[i] = Score(value, "" if failed is None else f"test {failed}: {result.results[failed].status}")
    return scores


def public_pass(texts: list[str], rows: list[dict]) -> list[bool | None]:
    """Whether each completion passes the public tests (rows without public tests: False); None where no sandbox
    could run them (unknown, not failed)."""
    has_public = [bool(as_list(r.get("public_tests"))) for r in rows]
    scores = (
        score([t if h else "" for t, h in zip(texts, has_public)], rows, tests="public")
        if any(has_public)
        else []
    )
    return [None if s is None else bool(s) for s in scores] if scores else [False] * len(texts)


def answers(texts: list[str], rows: list[dict]) -> list[tuple | None]:
    """Canonical answer of each completion, for majority voting: what its program prints/returns on the
    problem's test inputs (public ones when there are any), with each run's status. None without code, or
    when the problem has no test inputs (HumanEval-style `test_code` only)."""
    programs = [build_program(t, r) for t, r in zip(texts, rows)]
    inputs = [as_list(r.get("public_tests")) or as_list(r.get("private_tests")) for r in rows]
    todo = [i for i, p in enumerate(programs) if p is not None and inputs[i]]
    jobs = []
    for i in todo:
        row, tests = rows[i], inputs[i]
        # Expected outputs play no part in the answer: run on the inputs with placeholder expectations.
        probe = [{"input": t["input"], "output": "null" if row.get("fn_name") else ""} for t in tests]
        jobs.append(
            {
                "code": programs[i],
                "tests": probe,
                "fn_name": row.get("fn_name") or None,
                "stop_on_failure": False,
            }
        )
    out: list[tuple | None] = [None] * len(texts)
    for i, result in zip(todo, run_tests_batch(jobs) if jobs else []):
        out[i] = (
            tuple(
                (r.status if r.status not in ("ok", "wrong_answer") else "ran", " ".join(r.got.split()))
                for r in result.results
            )
            or None
        )
    return out


def make_code_reward(tests: str = "all", mode: str = "all_pass"):
    """A TRL reward function running each completion on the row's tests (see `score`)."""

    def code_reward(prompts, completions, **columns) -> list[float]:
        texts = [completion_text(c) for c in completions]
        return score(texts, rows_from_columns(len(texts), columns), tests=tests, mode=mode)

    code_reward.__name__ = f"code_{mode}" if tests == "all" else f"code_{tests}_{mode}"
    return code_reward


code_reward = make_code_reward()
