"""One reward for every dataset: dispatch each row to the verifier its `task` column names.

Each verifier module exposes `score(texts, rows) -> list[float]` and `answers(texts, rows) -> list` (the
canonical answer of each completion for majority voting, or None).
"""

from __future__ import annotations

import asyncio
from types import ModuleType

from trl_ext.rewards import code, complexity, kolmogorov, pbe, puzzle, swe
from trl_ext.rewards.common import completion_text, rows_from_columns

VERIFIERS: dict[str, ModuleType] = {"pbe": pbe, "kolmogorov": kolmogorov, "puzzle": puzzle, "code": code}
VERIFIERS["complexity"] = complexity
VERIFIERS["swe"] = swe  # SWE-RL: −1 for a format error, else patch similarity in [0, 1]


def _dispatch(method: str, completions, task, columns) -> list:
    texts = [completion_text(c) for c in completions]
    tasks = [task] * len(texts) if isinstance(task, str) else list(task)
    if len(tasks) != len(texts):
        raise ValueError(f"got {len(texts)} completions but {len(tasks)} task values")
    unknown = sorted({t for t in tasks if t not in VERIFIERS}, key=str)
    if unknown:
        raise ValueError(
            f"unknown task {unknown[0]!r} in the dataset's `task` column; known tasks: {', '.join(VERIFIERS)}"
        )
    rows = rows_from_columns(len(texts), columns)
    out: list = [None] * len(texts)
    for name, verifier in VERIFIERS.items():
        idx = [i for i, t in enumerate(tasks) if t == name]
        if idx:
            for i, value in zip(
                idx, getattr(verifier, method)([texts[i] for i in idx], [rows[i] for i in idx])
            ):
                out[i] = value
    return out


def task_reward(prompts, completions, task, **columns) -> list[float]:
    """TRL reward function for any dataset (or mixture) with a `task` column: 1.0/0.0 from the row's verifier."""
    return _dispatch("score", completions, task, columns)


async def atask_reward(prompts, completions, task, **columns) -> list[float | None]:
    """`task_reward` for TRL's async reward path (GRPOTrainer awaits async reward functions together with
    `asyncio.gather`): it runs in a worker thread, so the trainer's event loop and other async rewards are not
    blocked while the execution backend (`TRL_EXT_EXECUTION`) judges. None marks a completion no sandbox could
    judge (unscorable: TRL 1.16 leaves it out of its group's mean and std and gives it advantage 0)."""
    return await asyncio.to_thread(task_reward, prompts, completions, task, **columns)


atask_reward.__name__ = "task_reward"  # logged as the same reward on every backend


def task_answers(completions, task, **columns) -> list:
    """The canonical answer of each completion (for maj@k), from the row's verifier; None when it has none."""
    return _dispatch("answers", completions, task, columns)
