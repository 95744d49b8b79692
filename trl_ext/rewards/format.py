"""Format rewards: does the completion have the shape the verifier expects?"""

from __future__ import annotations

import re

from trl_ext.rewards.common import completion_text

CODE_BLOCK = r"```[A-Za-z0-9_+\-]*\n.*?```"


def make_format_reward(pattern: str = CODE_BLOCK, *, exactly_one: bool = True):
    """A TRL reward: 1.0 when `pattern` occurs in the completion (exactly once if `exactly_one`), else 0.0."""
    regex = re.compile(pattern, re.DOTALL)

    def format_reward(prompts, completions, **columns) -> list[float]:
        counts = [len(regex.findall(completion_text(c))) for c in completions]
        return [float(c == 1 if exactly_one else c >= 1) for c in counts]

    return format_reward


format_reward = make_format_reward()
