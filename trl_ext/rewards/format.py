"""Format rewards: does the completion have the shape the verifier expects?"""

from __future__ import annotations

import re

from trl_ext.rewards.common import Score, completion_text

CODE_BLOCK = r"```[A-Za-z0-9_+\-]*\n.*?```"


def make_format_reward(pattern: str = CODE_BLOCK, *, exactly_one: bool = True):
    """A TRL reward: 1.0 when `pattern` occurs in the completion (exactly once if `exactly_one`), else 0.0."""
    regex = re.compile(pattern, re.DOTALL)

    def format_reward(prompts, completions, **columns) -> list[float]:
        counts = [len(regex.findall(completion_text(c))) for c in completions]
        want = "exactly one" if exactly_one else "at least one"
        return [
            Score(1.0)
            if (c == 1 if exactly_one else c >= 1)
            else Score(0.0, f"{c} matches of the format, want {want}")
            for c in counts
        ]

    return format_reward


format_reward = make_format_reward()
