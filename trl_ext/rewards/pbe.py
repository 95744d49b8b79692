"""Verifier for PBE string-rewrite cascades (after PBEBench, arXiv 2505.23126), `task = "pbe"`.

A program is an ordered list of `replace(old, new)` rules applied with `str.replace` to every input. The
completion writes one rule per line (in its last fenced block, or the whole text), either `old>new` or
`replace("old", "new")` (Python string literals); lines that parse as neither are no-ops.

Row columns: `inputs`, `outputs` (lists of str: the examples the prompt shows) and, in datasets built since
held-out pairs exist, `held_out_inputs`, `held_out_outputs` (made by the same ground-truth cascade, never shown).
A completion passes when it maps every shown AND every held-out input to its output, so a lookup table of
one `input>output` rule per shown example does not pass. Feedback (RLEF) names shown examples only.

Caps (every step is linear in the completion's length, and memory is bounded by the caps):
- at most `MAX_RULES` rules are applied; a line longer than `MAX_LINE_CHARS` is not a rule;
- a rule that would grow any string past `MAX_LENGTH` characters stops the cascade, and the completion fails
  (its length is computed with `str.count` before the string is built).
"""

from __future__ import annotations

import ast

from rapidfuzz.distance import Levenshtein

from trl_ext.rewards.common import Score, completion_text, last_block, rows_from_columns

MAX_RULES = 64
MAX_LENGTH = 10_000  # a string grown past this fails the cascade (replace can grow strings exponentially)
MAX_LINE_CHARS = 4_096  # a longer line is not a rule (no example string comes near it)
_CALL = "replace("


def _call_rule(line: str) -> tuple[str, str] | None:
    """`replace("old", "new")`, anywhere on the line and ending it: the two arguments as Python string
    literals. One `ast.literal_eval` of the argument tuple (linear; deep nesting is a failed parse)."""
    start = line.find(_CALL)
    try:
        args = ast.literal_eval("(" + line[start + len(_CALL) : -1] + ")")
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(args, tuple) and len(args) == 2 and all(isinstance(a, str) for a in args):
        return args
    return None


def parse_rules(text: str) -> list[tuple[str, str]]:
    rules = []
    for line in last_block(text).splitlines():
        line = line.strip()
        if len(line) > MAX_LINE_CHARS:
            continue
        if _CALL in line and line.endswith(")"):
            rule = _call_rule(line)
            if rule is None:
                continue
        elif ">" in line:
            rule = tuple(line.split(">", 1))
        else:
            continue
        if rule[0]:
            rules.append(rule)
        if len(rules) == MAX_RULES:
            break
    return rules


def run_rules(rules: list[tuple[str, str]], text: str) -> str | None:
    """The cascade's output on `text`; None when a rule would grow the string past `MAX_LENGTH`."""
    for old, new in rules[:MAX_RULES]:
        if len(new) > len(old) and len(text) + text.count(old) * (len(new) - len(old)) > MAX_LENGTH:
            return None
        text = text.replace(old, new)
    return text


def format_rules(rules: list[tuple[str, str]]) -> str:
    """The canonical answer text: one `old>new` line per rule."""
    return "\n".join(f"{old}>{new}" for old, new in rules)


def examples(row: dict) -> tuple[list[str], list[str]]:
    """Every (input, output) pair the verdict is decided on: the shown ones, then the held-out ones."""
    inputs = list(row["inputs"]) + list(row.get("held_out_inputs") or [])
    outputs = list(row["outputs"]) + list(row.get("held_out_outputs") or [])
    return inputs, outputs


def outputs_of(text: str, row: dict) -> tuple[str | None, ...] | None:
    """The cascade's output on every input (shown, then held-out; None for an overgrown one); None when no rule
    parses."""
    rules = parse_rules(text)
    if not rules:
        return None
    return tuple(run_rules(rules, s) for s in examples(row)[0])


def _verdict(text: str, row: dict) -> Score:
    produced = outputs_of(text, row)
    if produced is None:
        return Score(0.0, "no rule could be parsed")
    inputs, outputs = examples(row)
    shown = len(row["inputs"])
    for i, (got, want) in enumerate(zip(produced, outputs)):
        if got is None:
            return Score(0.0, f"a rule grows input {i} past {MAX_LENGTH} characters")
        if got != want:
            where = f"shown example {i}" if i < shown else f"held-out example {i - shown}"
            return Score(0.0, f"wrong output on {where}")
    return Score(1.0)


def score(texts: list[str], rows: list[dict]) -> list[float]:
    """1.0 when every input (shown and held-out) maps exactly to its output, else 0.0 with the reason."""
    return [_verdict(t, r) for t, r in zip(texts, rows)]


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
    """Dense shaping on every example (shown and held-out); an overgrown output counts as the input."""
    out = []
    for text, row in zip(texts, rows):
        inputs, outputs = examples(row)
        produced = outputs_of(text, row) or tuple(inputs)  # no rules: nothing changed
        produced = [p if p is not None else i for p, i in zip(produced, inputs)]
        out.append(edit_similarity(produced, inputs, outputs))
    return out


def pbe_similarity_reward(prompts, completions, **columns) -> list[float]:
    """TRL reward: dense edit-similarity shaping for PBE rows (use beside `task_reward`)."""
    texts = [completion_text(c) for c in completions]
    return similarity(texts, rows_from_columns(len(texts), columns))


def feedback(completion, row: dict) -> str | None:
    """Execution feedback for multi-turn training (RLEF): which shown example input the rules map wrong, with
    what they produce and what was expected; None when every shown input maps to its output (held-out pairs
    are never revealed)."""
    rules = parse_rules(completion_text(completion))
    if not rules:
        return "No rule could be parsed: write one `old>new` rule per line."
    for source, target in zip(row["inputs"], row["outputs"]):
        produced = run_rules(rules, source)
        if produced is None:
            return f"Your rules grow input {source!r} past {MAX_LENGTH} characters."
        if produced != target:
            return f"Input {source!r} should map to {target!r}, but your rules give {produced!r}."
    return None
