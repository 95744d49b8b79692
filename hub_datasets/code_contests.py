"""Converters of code benchmarks into the code-problem schema (DESIGN.md), `task = "code"`:
CodeContests (arXiv 2203.07814), APPS (arXiv 2105.09938) and TACO (arXiv 2312.14852), from rows in their
upstream schema, read from a local JSON / JSONL / parquet file or a Hub dataset.

Upstream shapes handled exactly: CodeContests nests tests as `{input: [...], output: [...]}` in
`public_tests`, `private_tests` and `generated_tests` (the latter two become private tests), solutions as
`{language: [...], solution: [...]}` (Python 3 ones are kept: language 3), `time_limit` as
`{seconds, nanos}`. APPS and TACO keep `input_output` and `solutions` as JSON strings; `input_output` may name
an `fn_name` (call mode: each input is the argument list; outputs are wrapped in a one-element list, which is
unwrapped). APPS/TACO have no public/private split: the first test is public, the rest private.
Programs are verified as upstream runs them: the verifier (`trl_ext.rewards.code`) prepends the APPS/TACO
import block (`from typing import List`, …) to APPS and TACO programs, nothing to CodeContests ones.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from hub_datasets.base import Built, card, markdown_table
from trl_ext.hub import is_local

PROMPT = "Solve the following programming problem in Python.{mode}\n\n{problem}"
STDIN_NOTE = (
    " Read from standard input and write to standard output. Answer with the program in a ```python block."
)
CALL_NOTE = " Answer with a ```python block defining the function `{fn_name}`."
CODECONTESTS_PYTHON3 = 3
LICENSES = {"codecontests": "cc-by-4.0", "apps": "mit", "taco": "apache-2.0"}
UPSTREAMS = {"codecontests": "deepmind/code_contests", "apps": "codeparrot/apps", "taco": "BAAI/TACO"}


def _text(value) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _json_field(row: dict, key: str, default):
    value = row.get(key)
    if value in (None, ""):
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"row {row.get('problem_id', row.get('name', '?'))}: {key} is not valid JSON ({err})"
            ) from err
    return value


def detect_schema(row: dict) -> str:
    if "description" in row and "public_tests" in row:
        return "codecontests"
    if "question" in row and "input_output" in row:
        return "taco" if "skill_types" in row or "raw_tags" in row else "apps"
    raise ValueError(
        "unknown code benchmark schema: expected CodeContests (description, public_tests, ...) or APPS/TACO "
        f"(question, input_output, ...); got columns {sorted(row)}"
    )


def tags_hint(tags) -> str | None:
    """A partial hint from a problem's algorithm tags (CodeContests `cf_tags`, a list; TACO `tags`, a list's repr):
    the techniques, never the solution. Codeforces' `*special`/`*1200` pseudo-tags are dropped."""
    if isinstance(tags, str):
        try:
            tags = ast.literal_eval(tags) if tags.strip() else []
        except (ValueError, SyntaxError):
            return None
    names = [str(t).strip() for t in tags or [] if str(t).strip() and not str(t).startswith("*")]
    return f"Techniques that apply: {', '.join(dict.fromkeys(names))}." if names else None


def _row(
    problem: str, fn_name, starter: str, public, private, solutions, difficulty, source, time_limit, memory_mb,
    hint: str | None = None,
) -> dict:  # fmt: skip
    mode = CALL_NOTE.format(fn_name=fn_name) if fn_name else STDIN_NOTE
    body = problem + (f"\n\nStarter code:\n```python\n{starter}\n```" if starter else "")
    return {
        "prompt": [{"role": "user", "content": PROMPT.format(mode=mode, problem=body)}],
        "task": "code",
        "problem": problem,
        "starter_code": starter or "",
        "fn_name": fn_name,
        "public_tests": public,
        "private_tests": private,
        "test_code": None,
        "solutions": solutions,
        "difficulty": str(difficulty),
        "source": source,
        "time_limit_s": float(time_limit),
        "memory_limit_mb": int(memory_mb),
        "hint": hint,
    }


def _pairs(tests: dict | None) -> list[dict]:
    tests = tests or {}
    return [
        {"input": _text(i), "output": _text(o)}
        for i, o in zip(tests.get("input", []), tests.get("output", []))
    ]


def convert_codecontests(row: dict) -> dict:
    limit = row.get("time_limit") or {}
    seconds = (
        (limit.get("seconds") or 0) + (limit.get("nanos") or 0) / 1e9
        if isinstance(limit, dict)
        else float(limit or 0)
    )
    solutions = row.get("solutions") or {}
    python = [
        s
        for lang, s in zip(solutions.get("language", []), solutions.get("solution", []))
        if lang == CODECONTESTS_PYTHON3
    ]
    return _row(
        row["description"], None, "", _pairs(row.get("public_tests")),
        _pairs(row.get("private_tests")) + _pairs(row.get("generated_tests")), python,
        row.get("difficulty", ""), f"codecontests/{row.get('name', '')}", seconds or 2.0,
        (row.get("memory_limit_bytes") or 256 * 2**20) // 2**20, tags_hint(row.get("cf_tags")),
    )  # fmt: skip


def convert_apps_taco(row: dict, schema: str) -> dict:
    io = _json_field(row, "input_output", {})
    fn_name = io.get("fn_name") or None
    tests = []
    for i, o in zip(io.get("inputs", []), io.get("outputs", [])):
        if fn_name:
            value = o[0] if isinstance(o, list) and len(o) == 1 else o
            tests.append(
                {"input": json.dumps(i if isinstance(i, list) else [i]), "output": json.dumps(value)}
            )
        else:
            tests.append({"input": _text(i), "output": _text(o)})
    time_limit = 4.0
    if schema == "taco" and row.get("time_limit"):
        digits = "".join(c for c in str(row["time_limit"]) if c.isdigit() or c == ".")
        time_limit = float(digits) if digits else time_limit
    return _row(
        row["question"], fn_name, row.get("starter_code") or "", tests[:1], tests[1:],
        _json_field(row, "solutions", []), row.get("difficulty", ""), f"{schema}/{row.get('problem_id', row.get('name', ''))}",
        time_limit, 512, tags_hint(row.get("tags")),
    )  # fmt: skip


def convert(row: dict) -> dict:
    schema = detect_schema(row)
    out = convert_codecontests(row) if schema == "codecontests" else convert_apps_taco(row, schema)
    if not out["public_tests"] and not out["private_tests"]:
        raise ValueError(f"problem {out['source']} has no tests")
    return out


def read_source(source: str, split: str):
    """Rows of a local JSON / JSONL / parquet file, or of a Hub dataset (every split)."""
    import datasets

    from trl_ext import hub

    path = Path(source).expanduser()
    if path.exists():
        kind = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}.get(path.suffix)
        if kind is None:
            raise ValueError(f"{source}: expected a .json, .jsonl or .parquet file")
        return datasets.DatasetDict({split: datasets.load_dataset(kind, data_files=str(path), split="train")})
    if hub.is_local(source):
        raise ValueError(f"{source}: no such file")
    return hub.load_dataset(source)


def build(source: str, split: str, name: str) -> Built:
    from datasets import Dataset, DatasetDict

    splits, counts, skipped, schemas = {}, [], 0, set()
    for split_name, ds in read_source(source, split).items():
        rows = []
        for row in ds:
            schemas.add(detect_schema(row))
            try:
                rows.append(convert(row))
            except ValueError as err:
                if "unknown code benchmark schema" in str(err):
                    raise
                skipped += 1
        splits[split_name] = Dataset.from_list(rows)
        counts.append([split_name, len(rows)])
    n_rows = sum(c for _, c in counts)
    shown = Path(source).name if is_local(source) or Path(source).expanduser().exists() else source
    meta, body = card(
        pretty_name=f"{name} (code-problem schema)",
        n_rows=n_rows,
        summary=f"Converted from `{shown}` by `trl-ext build-dataset {name}` into the code-problem schema "
        "shared by every code dataset of trl-ext, so one verifier and one reward train on all of them.",
        sections={
            "Fields": "`prompt`, `task` (`code`), `problem`, `starter_code`, `fn_name` (null: stdin/stdout mode), "
            "`public_tests`, `private_tests` (lists of `{input, output}` strings; call mode: JSON argument list and "
            "JSON return value), `test_code`, `solutions`, `difficulty`, `source`, `time_limit_s`, `memory_limit_mb`, `hint` (the problem's "
            "algorithm tags — CodeContests `cf_tags`, TACO `tags` — or null).",
            "Conversion": __doc__.split("\n\n", 1)[1],
            "Splits": markdown_table(["split", "problems"], counts)
            + f"\n\nProblems skipped (no tests, malformed): {skipped}.",
        },
        license=LICENSES[next(iter(schemas))] if len(schemas) == 1 else "other",
        source_datasets=tuple(UPSTREAMS[s] for s in sorted(schemas)),
    )
    return Built(DatasetDict(splits), meta, body)
