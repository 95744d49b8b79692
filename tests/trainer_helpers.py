"""Toy rewards, answers and data shared by the trainer tests (importable by dotted path: `trainer_helpers:...`)."""

from datasets import Dataset


def contains_a_reward(prompts, completions, **kwargs) -> list[float]:
    """1.0 when the completion contains an 'a': about one sample in five for an untrained tiny model."""
    return [float("a" in c[0]["content"]) for c in completions]


def length_reward(prompts, completions, **kwargs) -> list[float]:
    """A continuous reward, for max@k."""
    return [len(c[0]["content"]) / 8 for c in completions]


def first_char_answer(completions, **kwargs) -> list:
    """Canonical answer for maj@k: the completion's first character (None when empty)."""
    return [c[0]["content"][:1] or None for c in completions]


def toy_dataset(n: int = 64) -> Dataset:
    return Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": f"write {i % 7}: "}] for i in range(n)]}
    )
