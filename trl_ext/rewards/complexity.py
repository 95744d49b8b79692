"""Verifier for the complexity tasks (after BigO(Bench), arXiv 2503.15242), `task = "complexity"`.

Two subtasks (column `subtask`):
- `predict`: the completion names the time complexity of the given code; 1.0 when its last `O(...)` equals the
  row's `answer` (spaces, `**` and superscripts normalised).
- `generate`: the completion writes code of a required class; reward = correctness (all the row's tests pass in
  the sandbox, as `task = "code"`) × (the time class inferred by `trl_ext.complexity` on the row's `example`
  equals `required_complexity`). While it is measured, every call's output must equal the reference solution's
  (`answer`) on the same grown input (on the expansions in `checked_strategies`, all when the row has none):
  code that takes a fast wrong path for large inputs, or when it notices the harness, scores 0.
Every completion is bounded (sandbox limits, an inference budget of `INFERENCE_BUDGET_S` CPU seconds) and
nothing raises on bad code: a completion that cannot be measured scores 0. The `predict` label is found in linear
time (whitespace collapsed before any other normalisation); an `O(...)` longer than `MAX_LABEL_CHARS` is no label.
"""

from __future__ import annotations

import logging
import re

from trl_ext.complexity import ComplexityError, Settings, infer
from trl_ext.rewards import code as code_verifier
from trl_ext.rewards.common import Score, extract_code

logger = logging.getLogger(__name__)

INFERENCE_BUDGET_S = 2.0
INFERENCE_TIMEOUT_S = 20.0
SUBTASKS = ("predict", "generate")
MAX_LABEL_CHARS = 200  # a longer O(...) is no class label
# One level of parentheses inside O(...); the classes are disjoint ([^()] vs '('), so matching is linear.
_BIG_O = re.compile(r"O\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_SUPERSCRIPTS = {"²": "^2", "³": "^3", "¹": ""}


def normalize(label: str) -> str:
    """A class label in the canonical form: `O(n log n)`, `O(n^2)`, `O(n*m)`, `O(n + m)`."""
    inner = label.strip()
    if inner[:2] in ("O(", "o(") and inner.endswith(")"):
        inner = inner[2:-1]
    inner = re.sub(r"\s+", " ", inner.lower())  # first: the patterns below then meet single spaces only
    for sup, plain in _SUPERSCRIPTS.items():
        inner = inner.replace(sup, plain)
    inner = inner.replace("**", "^").replace("\\log", "log").replace("lg", "log").replace("logn", "log n")
    inner = re.sub(r"\s*\*\s*", "*", inner)
    inner = re.sub(r"\s*\+\s*", " + ", inner)
    inner = re.sub(r"\s*\^\s*", "^", inner)
    inner = re.sub(r"n\s*\*?\s*log", "n log", inner)
    inner = re.sub(r"\s+", " ", inner).strip()
    return f"O({inner})"


def parse_prediction(text: str) -> str | None:
    """The last `O(...)` of the completion, normalised; None when there is none."""
    last = None
    for match in _BIG_O.finditer(text):
        last = match
    if last is None or len(last.group(1)) > MAX_LABEL_CHARS:
        return None
    return normalize(f"O({last.group(1)})")


def inferred_time(code: str, row: dict, reference: str | None = None) -> str | None:
    """The inferred time class of `code` on the row's example, its outputs checked against `reference`; None when
    it cannot be measured or answers differently."""
    try:
        settings = Settings(budget_s=INFERENCE_BUDGET_S, timeout_s=INFERENCE_TIMEOUT_S)
        check = row.get("checked_strategies")
        return infer(
            code,
            row.get("fn_name") or None,
            row["example"],
            settings=settings,
            reference=reference,
            check=check,
        ).time
    except ComplexityError:
        return None
    except Exception:  # a sandbox failure must not stop training: log it and score 0
        logger.exception("complexity inference failed")
        return None


def _generate_scores(texts: list[str], rows: list[dict]) -> list[float]:
    passed = code_verifier.score(texts, rows)
    out = []
    for text, row, ok in zip(texts, rows, passed):
        if ok is None:  # no sandbox could run its tests: unscorable
            out.append(None)
            continue
        if not ok:  # the code verifier's 0 and its reason
            out.append(ok)
            continue
        program = code_verifier.build_program(text, row)
        reference = row.get("answer") or None
        inferred, required = inferred_time(program, row, reference), normalize(row["required_complexity"])
        out.append(Score(1.0) if inferred == required else Score(0.0, f"measured {inferred}, not {required}"))
    return out


def score(texts: list[str], rows: list[dict]) -> list[float]:
    out = [0.0] * len(texts)
    subtasks = [row.get("subtask") for row in rows]
    bad = sorted({s for s in subtasks if s not in SUBTASKS}, key=str)
    if bad:
        raise ValueError(f"complexity rows need subtask in {SUBTASKS}, got {bad[0]!r}")
    for i, (text, row) in enumerate(zip(texts, rows)):
        if row["subtask"] == "predict":
            predicted = parse_prediction(text)
            out[i] = (
                Score(1.0)
                if predicted == normalize(row["answer"])
                else Score(0.0, "no O(...) class" if predicted is None else f"predicted {predicted}")
            )
    gen = [i for i, s in enumerate(subtasks) if s == "generate"]
    for i, value in zip(gen, _generate_scores([texts[i] for i in gen], [rows[i] for i in gen])):
        out[i] = value
    return out


def answers(texts: list[str], rows: list[dict]) -> list[str | None]:
    """predict: the normalised class; generate: the code (no canonical form)."""
    return [
        parse_prediction(t) if row.get("subtask") == "predict" else extract_code(t)
        for t, row in zip(texts, rows)
    ]
