"""Helpers shared by the reward functions: completion text, code extraction, TRL column plumbing."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+\-]*)[^\n]*\n(.*?)```", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string (standard format) or a list of messages (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return "" if completion is None else str(completion)


def extract_code(text: str) -> str | None:
    """The last fenced code block of `text` (```python ... ```), or the whole text when there is no fence.
    None when there is nothing to run."""
    blocks = _FENCE.findall(text)
    if blocks:
        code = blocks[-1][1]
    elif "```" in text:  # an unclosed fence: take what follows it
        code = text.split("```", 1)[1].split("\n", 1)[-1]
    else:
        code = text
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
