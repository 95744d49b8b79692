"""Verifier for programming puzzles in the P3 format (Schuster et al. 2021, arXiv 2106.05784),
`task = "puzzle"`: the answer x solves the puzzle when `sat(x)` returns True within the time limit.

The completion gives x as a Python literal: the last fenced block, or else the last non-empty line. It is
parsed on the host with `ast.literal_eval` (no code of the model runs there), then `sat` runs in the sandbox
on its canonical `repr`. Row columns: `sat` (source of `def sat(x, ...)`).

As in P3's own harness, `from typing import List` comes before `sat` (P3's puzzles annotate `List[int]`
and the like without importing it).
"""

from __future__ import annotations

import ast
import re

from trl_ext.execution import run_batch

_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
PREAMBLE = "from typing import List\n"


def parse_answer(text: str) -> str | None:
    """The canonical repr of the answer literal, or None when the completion holds no literal."""
    blocks = _FENCE.findall(text)
    candidate = (
        blocks[-1] if blocks else next((line for line in reversed(text.splitlines()) if line.strip()), "")
    )
    candidate = candidate.strip()
    if candidate.startswith(("x =", "x=", "answer =", "answer=")):
        candidate = candidate.split("=", 1)[1]
    try:
        return repr(ast.literal_eval(candidate.strip()))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def check(sat_sources: list[str], answer_literals: list[str], timeout: float = 5.0) -> list[bool | None]:
    """Run `sat(answer)` in the sandbox for each pair; True when it returned exactly True, None when no sandbox
    could run it (status `sandbox_error`)."""
    jobs = [
        {"code": f"{PREAMBLE}{sat}\nprint(sat({answer}) is True)\n", "timeout": timeout}
        for sat, answer in zip(sat_sources, answer_literals)
    ]
    results = run_batch(jobs) if jobs else []
    return [None if r.status == "sandbox_error" else r.ok and r.stdout.strip() == "True" for r in results]


def score(texts: list[str], rows: list[dict]) -> list[float | None]:
    literals = [parse_answer(t) for t in texts]
    todo = [i for i, lit in enumerate(literals) if lit is not None]
    out: list[float | None] = [0.0] * len(texts)
    for i, ok in zip(todo, check([rows[i]["sat"] for i in todo], [literals[i] for i in todo])):
        out[i] = None if ok is None else float(ok)
    return out


def answers(texts: list[str], rows: list[dict]) -> list[str | None]:
    return [parse_answer(t) for t in texts]
