"""Verifier for PBE string-rewrite cascades (after PBEBench, arXiv 2505.23126), `task = "pbe"`.

A program is an ordered list of `replace(old, new)` rules applied with `str.replace` to every input. The
completion writes one rule per line, either `old>new` or `replace("old", "new")` (Python string literals);
lines that parse as neither are no-ops, and at most `MAX_RULES` rules are applied, so a runaway answer
cannot stall the verifier. Row columns: `inputs`, `outputs` (lists of str).
"""

from __future__ import annotations

import ast
import re

from rapidfuzz.distance import Levenshtein

from trl_ext.rewards.common import completion_text, rows_from_columns

MAX_RULES = 64
MAX_LENGTH = 10_000  # a string grown past this stops the cascade (replace can grow strings exponentially)
_CALL = re.compile(r"replace\(\s*(.+?)\s*,\s*(.+?)\s*\)\s*$")


def _rule_text(text: str) -> str:
    """The answer part of a completion: its last fenced block when there is one."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.DOTALL)
    return blocks[-1] if blocks else text


def parse_rules(text: str) -> list[tuple[str, str]]:
    rules = []
    for line in _rule_text(text).splitlines():
        line = line.strip()
        call = _CALL.search(line)
        if call:
            try:
                old, new = ast.literal_eval(call.group(1)), ast.literal_eval(call.group(2))
            except (ValueError, SyntaxError):
                continue
            if isinstance(old, str) and isinstance(new, str) and old:
                rules.append((old, new))
        elif ">" in line:
            old, new = line.split(">", 1)
            if old:
                rules.append((old, new))
        if len(rules) == MAX_RULES:
            break
    return rules


def apply_rules(rules: list[tuple[str, str]], text: str) -> str:
    for old, new in rules[:MAX_RULES]:
        text = text.replace(old, new)
        if len(text) > MAX_LENGTH:
            break
    return text


def format_rules(rules: list[tuple[str, str]]) -> str:
    """The canonical answer text: one `old>new` line per rule."""
    return "\n".join(f"{old}>{new}" for old, new in rules)


def outputs_of(text: str, row: dict) -> tuple[str, ...] | None:
    rules = parse_rules(text)
    if not rules:
        return None
    return tuple(apply_rules(rules, s) for s in row["inputs"])


def score(texts: list[str], rows: list[dict]) -> list[float]:
    """1.0 when every input maps exactly to its output, else 0.0."""
    return [float(outputs_of(t, r) == tuple(r["outputs"])) for t, r in zip(texts, rows)]


def answers(texts: list[str], rows: list[dict]) -> list[tuple | None]:
    """Canonical answer for majority voting: the tuple of produced outputs (None when no rule parses)."""
    return [outputs_of(t, r) for t, r in zip(texts, rows)]


def edit_similarity(produced: list[str], inputs: list[str], outputs: list[str]) -> float:
    """1 − Σ ED(produced, target) / Σ ED(input, target), clipped to [0, 1] for shaping. When inputs already
    equal outputs (zero denominator) it is 1 for an exact answer, else 0."""
    denominator = sum(Levenshtein.distance(i, o) for i, o in zip(inputs, outputs))
    numerator = sum(Levenshtein.distance(p, o) for p, o in zip(produced, outputs))
    if denominator == 0:
        return float(numerator == 0)
    return min(1.0, max(0.0, 1.0 - numerator / denominator))


def similarity(texts: list[str], rows: list[dict]) -> list[float]:
    out = []
    for text, row in zip(texts, rows):
        produced = outputs_of(text, row) or tuple(row["inputs"])  # no rules: nothing changed
        out.append(edit_similarity(list(produced), row["inputs"], row["outputs"]))
    return out


def pbe_similarity_reward(prompts, completions, **columns) -> list[float]:
    """TRL reward: dense edit-similarity shaping for PBE rows (use beside `task_reward`)."""
    texts = [completion_text(c) for c in completions]
    return similarity(texts, rows_from_columns(len(texts), columns))


def feedback(completion, row: dict) -> str | None:
    """Execution feedback for multi-turn training (RLEF): which example input the rules map wrong, with what
    they produce and what was expected; None when every input maps to its output."""
    rules = parse_rules(completion_text(completion))
    if not rules:
        return "No rule could be parsed: write one `old>new` rule per line."
    for source, target in zip(row["inputs"], row["outputs"]):
        produced = apply_rules(rules, source)
        if produced != target:
            return f"Input {source!r} should map to {target!r}, but your rules give {produced!r}."
    return None
