"""Verifier for programming puzzles in the P3 format (Schuster et al. 2021, arXiv 2106.05784),
`task = "puzzle"`: the answer x solves the puzzle when `sat(x)` returns True within the time limit.

The completion gives x as a Python literal: the last fenced block, or else the last non-empty line. It is
parsed on the host with `ast.literal_eval` (no code of the model runs there), then `sat` runs in the sandbox
on its canonical `repr`. Row columns: `sat` (source of `def sat(x, ...)`). An answer literal longer than
`MAX_ANSWER_CHARS` is no answer; parsing is linear in the completion and never raises.

As in P3's own harness, `from typing import List` comes before `sat` (P3's puzzles annotate `List[int]`
and the like without importing it).
"""

from __future__ import annotations

import ast

from trl_ext.execution import run_batch
from trl_ext.rewards.common import Score, clean_text, fenced_blocks

PREAMBLE = "from typing import List\n"
MAX_ANSWER_CHARS = 1_000_000  # a longer answer literal is no answer (P3 has reference answers of 280 KB)


def parse_answer(text: str) -> str | None:
    """The canonical repr of the answer literal, or None when the completion holds no literal."""
    text = clean_text(text)
    blocks = fenced_blocks(text)
    candidate = (
        blocks[-1][1] if blocks else next((line for line in reversed(text.splitlines()) if line.strip()), "")
    )
    candidate = candidate.strip()
    if len(candidate) > MAX_ANSWER_CHARS:
        return None
    if candidate.startswith(("x =", "x=", "answer =", "answer=")):
        candidate = candidate.split("=", 1)[1]
    try:  # repr can fail too: an int past Python's digit limit (ValueError), a deep list (RecursionError)
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
    out: list[Score | None] = [Score(0.0, "no Python literal could be parsed as the answer")] * len(texts)
    for i, ok in zip(todo, check([rows[i]["sat"] for i in todo], [literals[i] for i in todo])):
        if ok is None:
            out[i] = None  # no sandbox could run it: unscorable, not wrong
        else:
            out[i] = Score(1.0) if ok else Score(0.0, "sat(answer) did not return True")
    return out


def answers(texts: list[str], rows: list[dict]) -> list[str | None]:
    return [parse_answer(t) for t in texts]
