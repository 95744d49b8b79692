"""Reward functions with TRL's signature `f(prompts, completions, **columns) -> list[float]`."""

from trl_ext.rewards.code import code_reward, make_code_reward
from trl_ext.rewards.common import completion_text, extract_code
from trl_ext.rewards.format import format_reward, make_format_reward
from trl_ext.rewards.patch import patch_similarity, patch_similarity_reward
from trl_ext.rewards.pbe import pbe_similarity_reward
from trl_ext.rewards.tasks import VERIFIERS, atask_reward, task_answers, task_reward

__all__ = [
    "VERIFIERS",
    "atask_reward",
    "pbe_similarity_reward",
    "task_answers",
    "task_reward",
    "code_reward",
    "completion_text",
    "extract_code",
    "format_reward",
    "make_code_reward",
    "make_format_reward",
    "patch_similarity",
    "patch_similarity_reward",
]
