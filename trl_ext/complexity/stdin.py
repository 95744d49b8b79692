"""Stdin programs: read the example input as arguments that can grow, and a recipe to render them back.

Contest inputs link counts to what follows. Recognised (line by line, tokens split on whitespace):
- a lone integer `n` followed by a line of exactly n tokens: a list whose length line is re-rendered;
- a lone integer `n` followed by at least n lines: a block of n lines (each a list of tokens or one token);
- a line of several tokens: a list (its length not linked to anything);
- any other lone token: a number (scaled) or a string (grown).
Integers are kept as ints, other tokens as strings. Rendering (`_harness._render`) writes them back.
"""

from __future__ import annotations


def _token(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def _lone_count(tokens: list[str]) -> int | None:
    return int(tokens[0]) if len(tokens) == 1 and tokens[0].lstrip("-").isdigit() else None


def parse_stdin(text: str) -> tuple[list, list[tuple[str, int | None]]]:
    """(arguments, render spec) for an example stdin; the spec's entries are (kind, argument index)."""
    lines = [line.split() for line in text.strip("\n").split("\n")]
    args: list = []
    spec: list[tuple[str, int | None]] = []
    i = 0
    while i < len(lines):
        tokens = lines[i]
        count = _lone_count(tokens)
        following = lines[i + 1] if i + 1 < len(lines) else None
        if count and following is not None and len(following) == count and count > 1:
            args.append([_token(t) for t in following])
            spec += [("len", len(args) - 1), ("row", len(args) - 1)]
            i += 2
        elif count and len(lines) - i - 1 >= count and count > 1:
            block = [[_token(t) for t in line] for line in lines[i + 1 : i + 1 + count]]
            if all(len(row) == 1 for row in block):
                block = [row[0] for row in block]
            args.append(block)
            spec += [("len", len(args) - 1), ("block", len(args) - 1)]
            i += 1 + count
        elif len(tokens) > 1:
            args.append([_token(t) for t in tokens])
            spec.append(("row", len(args) - 1))
            i += 1
        else:
            args.append(_token(tokens[0]) if tokens else "")
            spec.append(("scalar", len(args) - 1))
            i += 1
    return args, spec
