"""Verifier for software-evolution rows (`task = "swe"`, `hub_datasets.swe`): SWE-RL's reward (Wei et al. 2025,
arXiv 2502.18449).

The completion follows SWE-RL's format: a reasoning section `<think>…</think>`, then `<solution>…</solution>`
holding search/replace edits (`trl_ext.rewards.patch` documents the block format). The reward is −1 when the
format is not followed or the edits do not parse or apply to the row's `code_context`; otherwise the
`difflib.SequenceMatcher` similarity between the predicted and the oracle patch (`patch.patch_similarity`), in
[0, 1]. The canonical answer (for maj@k) is the set of edited files' new contents.
"""

from __future__ import annotations

import json
import re

from trl_ext.rewards import patch

FORMAT_ERROR = patch.FORMAT_ERROR
_SOLUTION_START = re.compile(r"\s*<solution>")

# SWE-RL's thinking system prompt and its search/replace repair prompt (after Agentless), in our words.
SYSTEM_PROMPT = (
    "A user will ask you to solve a task. First draft your thinking process (inner monologue), then write the "
    "solution.\n\nYour response must follow this template:\n<think>\nYour thoughts, as on scratch paper: take as "
    "long as you need until you are confident in a correct solution.\n</think>\n<solution>\nThe final solution "
    "presented to the user.\n</solution>"
)
EDIT_INSTRUCTIONS = """Please first localize the bug based on the issue statement, and then generate *SEARCH/REPLACE* edits to fix the issue.

Every *SEARCH/REPLACE* edit must use this format:
1. The file path
2. The start of search block: <<<<<<< SEARCH
3. A contiguous chunk of lines to search for in the existing source code
4. The dividing line: =======
5. The lines to replace into the source code
6. The end of the replace block: >>>>>>> REPLACE

Here is an example:

```python
### mathweb/flask/app.py
<<<<<<< SEARCH
from flask import Flask
=======
import math
from flask import Flask
>>>>>>> REPLACE
```

Please note that the *SEARCH/REPLACE* edit REQUIRES PROPER INDENTATION. If you would like to add the line '        print(x)', you must fully write that out, with all those spaces before the code!
Wrap each *SEARCH/REPLACE* edit in a code block as shown in the example above. If you have multiple *SEARCH/REPLACE* edits, use a separate code block for each one."""


def user_prompt(issue: str, files: dict[str, str]) -> str:
    context = "\n".join(
        f"--- BEGIN FILE ---\n```\n### {path}\n{content}```\n--- END FILE ---"
        for path, content in files.items()
    )
    return (
        "We are currently solving the following issue within our repository. Here is the issue text:\n"
        f"--- BEGIN ISSUE ---\n{issue.strip()}\n--- END ISSUE ---\n\n"
        "Below are some code segments, each from a relevant file. One or more of these files may contain bugs.\n\n"
        f"{context}\n\n{EDIT_INSTRUCTIONS}"
    )


def format_edit(path: str, search: str, replace: str) -> str:
    """One search/replace edit in a fenced block, as the prompt asks for it."""
    return f"```python\n### {path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def format_answer(reasoning: str, edits: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n<solution>\n{edits}</solution>"


def edits_reproduce(old: str, new: str, edits: list[tuple[str, str]]) -> bool:
    """Whether `edits` ((search, replace) pairs), written out and parsed back, turn `old` into `new`."""
    text = "".join(format_edit("f", s, r) for s, r in edits)
    applied = patch.apply_edits({"f": old}, patch.parse_edits(text))
    return applied is not None and len(patch.parse_edits(text)) == len(edits) and applied.get("f", old) == new


def solution(text: str) -> str | None:
    """The solution section of a completion in SWE-RL's format, or None when the format is not followed."""
    # `<think>…</think> <solution>…</solution>`, as the regex ^\s*<think>(.*?)</think>\s*<solution>(.*?)
    # </solution>\s*$ reads it, in one linear scan (that regex rescans the rest for every `</think>`).
    body = text.strip()
    if not (body.startswith("<think>") and body.endswith("</solution>")):
        return None
    end = body.rfind("</solution>")
    pos = len("<think>")
    while (close := body.find("</think>", pos, end)) >= 0:
        start = _SOLUTION_START.match(body, close + len("</think>"), end)
        if start:
            return body[start.end() : end]
        pos = close + 1
    return None


def _files(row: dict) -> dict[str, str]:
    files = row.get("code_context") or {}
    return json.loads(files) if isinstance(files, str) else dict(files)


def score(texts: list[str], rows: list[dict]) -> list[float]:
    out = []
    for text, row in zip(texts, rows):
        answer = solution(text)
        oracle = row.get("oracle_patch") or ""
        out.append(FORMAT_ERROR if answer is None else patch.patch_similarity(answer, _files(row), oracle))
    return out


def answers(texts: list[str], rows: list[dict]) -> list[tuple | None]:
    """The edited files' new contents (sorted (path, content) pairs), or None for an unusable completion."""
    out: list[tuple | None] = []
    for text, row in zip(texts, rows):
        answer = solution(text)
        files = _files(row)
        new = patch.apply_edits(files, patch.parse_edits(answer)) if answer is not None else None
        changed = tuple(sorted((p, c) for p, c in (new or {}).items() if c != files.get(p)))
        out.append(changed or None)
    return out
