"""Helpers shared by the reward functions: completion text, code extraction, TRL column plumbing, scores
that carry the reason for a failure.

Every parser here runs in linear time in the length of the completion (no regex with nested or overlapping
quantifiers over completion text: a policy being optimised finds the backtracking cases).
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
FENCE = "```"


class Score(float):
    """A reward value that carries the reason it is not full marks (`reason`; "" for a pass). A plain float
    everywhere else: TRL turns the list into a tensor, comparisons and JSON see the number."""

    reason: str

    def __new__(cls, value: float, reason: str = "") -> Score:
        score = super().__new__(cls, value)
        score.reason = reason
        return score

    def __reduce__(self):  # picklable across processes, reason included
        return Score, (float(self), self.reason)


def clean_text(text: str) -> str:
    """`text` with every lone surrogate (which no UTF-8 program or file can hold) replaced by U+FFFD, so that
    a completion decoded with `errors="surrogateescape"` or built from broken tokens can still be judged."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string (standard format) or a list of messages (conversational)."""
    if isinstance(completion, str):
        text = completion
    elif isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        text = str(completion[-1].get("content") or "")
    else:
        text = "" if completion is None else str(completion)
    return clean_text(text)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every ``` fenced block of `text` as (info string, body), in order: an opening fence runs to the end of
    its line, the body to the next ``` (as the regex ```[^\\n]*\\n(.*?)``` finds them, in one linear scan)."""
    blocks, pos = [], 0
    while (start := text.find(FENCE, pos)) >= 0:
        newline = text.find("\n", start + len(FENCE))
        if newline < 0:
            break
        end = text.find(FENCE, newline + 1)
        if end < 0:
            break
        blocks.append((text[start + len(FENCE) : newline], text[newline + 1 : end]))
        pos = end + len(FENCE)
    return blocks


def last_block(text: str) -> str:
    """The body of the last fenced block of `text`; the text after an unclosed fence; else the whole text."""
    blocks = fenced_blocks(text)
    if blocks:
        return blocks[-1][1]
    if FENCE in text:  # an unclosed fence: take what follows its line
        return text.split(FENCE, 1)[1].split("\n", 1)[-1]
    return text


def extract_code(text: str) -> str | None:
    """The last fenced code block of `text` (```python ... ```), or the whole text when there is no fence.
    None when there is nothing to run. Lone surrogates become U+FFFD (the sandbox takes UTF-8 only)."""
    code = clean_text(last_block(text))
    return code if code.strip() else None


def rows_from_columns(n: int, columns: dict[str, Any]) -> list[dict[str, Any]]:
    """TRL passes each dataset column as a list with one value per completion: turn them into n row dicts."""
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, values in columns.items():
        if isinstance(values, list) and len(values) == n:
            for row, value in zip(rows, values):
                row[name] = value
    return rows


def as_list(value: Any) -> list:
    """A column holding a list, possibly stored as a JSON string; None → []."""
    if value is None:
        return []
    if isinstance(value, str):
        return json.loads(value) if value.strip() else []
    return list(value)
