"""The stock stack on CPU: TRL's GRPOTrainer trains the tiny model. Pins the CPU settings later trainers use."""

import torch
from conftest import cpu_grpo_args
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import GRPOConfig, GRPOTrainer


def count_a_reward(prompts, completions, **kwargs):
    return [float(c[0]["content"].count("a")) for c in completions]


def test_grpo_trains_tiny_model(tiny_model, tmp_path):
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": "count the a's: "}]] * 8})
    trainer = GRPOTrainer(
        model=tiny_model,
        reward_funcs=count_a_reward,
        args=GRPOConfig(**cpu_grpo_args(tmp_path)),
        train_dataset=dataset,
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    moved = [n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert moved, "no parameter changed after 2 GRPO steps"
    logged = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logged) == 2
    assert isinstance(AutoModelForCausalLM.from_pretrained(tiny_model), torch.nn.Module)
