"""SWE-RL patch-similarity reward (Wei et al. 2025, arXiv 2502.18449).

The completion proposes edits as search/replace blocks (SWE-RL's format):

    ### path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

They are applied to the row's original files (`code_context`: {path: content}, or its JSON string); a
format error — no block, an unknown file, a SEARCH text not found — scores −1. Otherwise each changed file
gets a unified diff, compared with the oracle patch's diff of that file (`oracle_patch`, a unified/git diff)
by `difflib.SequenceMatcher(None, pred, oracle, autojunk=False).ratio()`, averaged over the union of files
(a file on one side only scores 0). Diff headers are dropped before comparing, so `a/`/`b/` prefixes and
index lines do not matter; hunks are compared as text, as SWE-RL does.

Caps: the blocks are found in one linear scan; `SequenceMatcher` is quadratic in the diffs it compares, so a
predicted file diff longer than `MAX_DIFF_CHARS` scores 0 for that file (no real edit comes near it).
"""

from __future__ import annotations

import difflib
import json
import re

from trl_ext.rewards.common import Score, completion_text, rows_from_columns

FORMAT_ERROR = -1.0
MAX_DIFF_CHARS = 200_000
_SEARCH, _DIVIDER, _REPLACE = "<<<<<<< SEARCH\n", "=======\n", ">>>>>>> REPLACE"
_FILE_HEADER = re.compile(r"^\+\+\+ (?:b/)?(\S+)")
_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def parse_edits(text: str) -> list[tuple[str, str, str]]:
    """The (path, search, replace) blocks: a `### path` line, then SEARCH / ======= / REPLACE markers. One
    linear scan with `str.find` (a regex with lazy bodies rescans the text for every unclosed block)."""
    edits, pos = [], 0
    while (start := text.find(_SEARCH, pos)) >= 0:
        divider = text.find(_DIVIDER, start + len(_SEARCH))
        end = text.find(_REPLACE, divider + len(_DIVIDER)) if divider >= 0 else -1
        if end < 0:
            break
        before = text[pos:start].rstrip()  # the header: the last non-blank line before SEARCH
        header = before[before.rfind("\n") + 1 :].strip()
        path = header[3:].strip() if header.startswith("###") else ""
        if path and not any(c.isspace() for c in path):
            search, replace = text[start + len(_SEARCH) : divider], text[divider + len(_DIVIDER) : end]
            edits.append((path, search.removesuffix("\n"), replace.removesuffix("\n")))
        pos = end + len(_REPLACE)
    return edits


def apply_edits(files: dict[str, str], edits: list[tuple[str, str, str]]) -> dict[str, str] | None:
    """New contents of the edited files, or None when an edit does not apply."""
    new = {}
    for path, search, replace in edits:
        content = new.get(path, files.get(path))
        if content is None or search not in content:
            return None
        new[path] = content.replace(search, replace, 1)
    return new


def _hunks(diff_text: str) -> str:
    """The hunk lines of one file's diff (from the first @@), headers dropped."""
    lines = diff_text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("@@")), len(lines))
    return "".join(lines[start:])


def split_patch(patch: str) -> dict[str, str]:
    """A multi-file unified diff → {path: hunks of that file}. Each hunk takes exactly the lines its header
    counts, so the next file's `diff --git`/`index`/`---` lines never end up in the previous file's hunks."""
    lines = re.findall(r"[^\n]*\n|[^\n]+$", patch)  # split at newlines only (a form feed is file content)
    out: dict[str, str] = {}
    path, i = None, 0
    while i < len(lines):
        header, hunk = _FILE_HEADER.match(lines[i]), _HUNK_HEADER.match(lines[i])
        if header and i > 0 and lines[i - 1].startswith("--- "):
            path = header.group(1)
            out.setdefault(path, "")
        elif hunk and path is not None:
            old = 1 if hunk.group(1) is None else int(hunk.group(1))
            new = 1 if hunk.group(2) is None else int(hunk.group(2))
            out[path] += lines[i]
            while i + 1 < len(lines) and (old > 0 or new > 0 or lines[i + 1].startswith("\\")):
                i += 1
                kind = lines[i][:1]
                old -= kind != "+" and kind != "\\"
                new -= kind != "-" and kind != "\\"
                out[path] += lines[i]
        i += 1
    return out


def file_diff(path: str, old: str, new: str) -> str:
    diff = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    # A last line without a newline gets one, so it does not run into the next diff line.
    return _hunks("".join(line if line.endswith("\n") else line + "\n" for line in diff))


def _similarity(predicted: str, oracle: str) -> float:
    if predicted == oracle:  # the ratio of equal texts, without SequenceMatcher's quadratic time on long ones
        return 1.0
    return difflib.SequenceMatcher(None, predicted, oracle, autojunk=False).ratio()


def patch_similarity(text: str, files: dict[str, str], oracle_patch: str) -> float:
    edits = parse_edits(text)
    if not edits:
        return Score(FORMAT_ERROR, "no SEARCH/REPLACE block")
    new = apply_edits(files, edits)
    if new is None:
        return Score(FORMAT_ERROR, "an edit names an unknown file or a SEARCH text that is not there")
    # A file grown by more than the cap has a diff past the cap: it is not diffed (difflib is quadratic).
    predicted = {
        p: file_diff(p, files[p], c) if len(c) <= len(files[p]) + MAX_DIFF_CHARS else None
        for p, c in new.items()
        if c != files[p]
    }
    oracle = split_patch(oracle_patch)
    paths = set(predicted) | set(oracle)
    if not paths:
        return Score(0.0, "the edits change nothing and the oracle patch is empty")
    ratios = [
        _similarity(predicted[p], oracle[p])
        if p in oracle and predicted.get(p) is not None and len(predicted[p]) <= MAX_DIFF_CHARS
        else 0.0
        for p in paths
    ]
    return sum(ratios) / len(ratios)


def patch_similarity_reward(prompts, completions, **columns) -> list[float]:
    """TRL reward: SWE-RL patch similarity; needs the columns `code_context` and `oracle_patch`."""
    rows = rows_from_columns(len(completions), columns)
    out = []
    for completion, row in zip(completions, rows):
        files = row.get("code_context") or {}
        if isinstance(files, str):
            files = json.loads(files)
        out.append(patch_similarity(completion_text(completion), files, row.get("oracle_patch") or ""))
    return out
