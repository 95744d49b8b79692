"""The embedded default: the product's flow on one CPU with local folders standing in for Hub repos.

For now: build a tiny model offline, publish it to the local hub, train it with TRL's GRPOTrainer on a
toy task whose reward is measurable (emit as many 'a' characters as possible), and report the reward
before and after. It grows into the full dataset → SFT → PassAtK → evaluation → leaderboard flow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from trl_ext import hub
from trl_ext.models import build_tiny_model


def count_a_reward(prompts, completions, **kwargs) -> list[float]:
    """Share of 'a' characters in the completion."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [t.count("a") / max(len(t), 1) for t in texts]


def run_demo(output: str = "./hub", steps: int = 40, seed: int = 0) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    root = hub.local_path(output)
    model_target = str(root / "models" / "tiny-count-a")
    corpus = ["write the letter a: ", "abcdefgh aaaa\n"]
    with tempfile.TemporaryDirectory() as tmp:
        hub.upload_folder(build_tiny_model(Path(tmp) / "m", corpus, seed=seed), model_target)
    prompts = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": "write the letter a: "}]] * (16 * steps)}
    )
    args = GRPOConfig(
        output_dir=str(root / "runs" / "demo-grpo"),
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        learning_rate=3e-3,
        per_device_train_batch_size=16,
        num_generations=8,
        max_completion_length=16,
        max_steps=steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=seed,
    )
    trainer = GRPOTrainer(model=model_target, reward_funcs=count_a_reward, args=args, train_dataset=prompts)
    trainer.train()
    rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    trained = str(root / "models" / "tiny-count-a-grpo")
    trainer.save_model(trained)
    window = max(1, len(rewards) // 5)
    first, last = sum(rewards[:window]) / window, sum(rewards[-window:]) / window
    print(
        f"\nGRPO on the tiny model: mean reward of the first {window} steps {first:.3f}, of the last {window} {last:.3f}"
    )
    print(f"models in {root / 'models'}")
    return {"first": first, "last": last, "rewards": rewards}
