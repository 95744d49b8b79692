"""PassAtKTrainer in the real stack: config errors, training (all objectives), the advantages it uses, two
processes, LoRA, QLoRA, resume, and the script with its CPU recipe."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import cpu_grpo_args
from trainer_helpers import contains_a_reward, length_reward, toy_dataset

from trl_ext import PassAtKConfig, PassAtKTrainer
from trl_ext.trainers.passk import objective_advantages, parse_k_schedule

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path, **kwargs):
    base = cpu_grpo_args(tmp_path, max_completion_length=8)
    base.update({k: kwargs.pop(k) for k in list(kwargs) if k in base or k in ("save_strategy", "save_steps")})
    return PassAtKConfig(**base, **kwargs)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="k must be at least 1"):
        config(tmp_path, k=0)
    with pytest.raises(ValueError, match="k=8 exceeds num_generations=4"):
        config(tmp_path, k=8)
    with pytest.raises(ValueError, match="k=8 exceeds"):
        config(tmp_path, k_schedule="2:0,8:10")
    with pytest.raises(ValueError, match="k_schedule must look like"):
        config(tmp_path, k_schedule="8 then 1")
    with pytest.raises(ValueError, match="objective must be one of"):
        config(tmp_path, objective="best@k")
    with pytest.raises(ValueError, match="cannot import answer function"):
        config(tmp_path, objective="maj@k", answer_fn="nowhere.module:fn")
    assert parse_k_schedule("1:500,8:0") == [(0, 8), (500, 1)]


def test_majority_needs_answers(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="maj@k needs canonical answers"):
        PassAtKTrainer(
            model=tiny_model,
            reward_funcs=contains_a_reward,
            args=config(tmp_path, objective="maj@k", k=2),
            train_dataset=toy_dataset(),
        )


@pytest.mark.parametrize(
    "objective,reward,extra",
    [
        ("pass@k", contains_a_reward, {}),
        ("max@k", length_reward, {}),
        ("maj@k", contains_a_reward, {"answer_fn": "trainer_helpers:first_char_answer"}),
    ],
)
def test_trains_and_uses_objective_advantages(tiny_model, tmp_path, objective, reward, extra):
    class Recording(PassAtKTrainer):
        seen = []

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            self.seen.append((self._gathered_rewards.sum(1), self._gathered_answers, out["advantages"]))
            return out

    args = config(tmp_path, objective=objective, k=2, **extra)
    trainer = Recording(model=tiny_model, reward_funcs=reward, args=args, train_dataset=toy_dataset())
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters()), (
        "no parameter moved"
    )
    logs = [e for e in trainer.state.log_history if "passk/k" in e]
    assert len(logs) == 2 and "passk/pass@2" in logs[0] and "passk/frac_groups_nonzero_advantage" in logs[0]
    assert ("passk/maj@2" in logs[0]) == (objective == "maj@k")
    for rewards, answers, used in Recording.seen:
        expected = objective_advantages(rewards.view(-1, 4), answers, 2, objective, 0.5).flatten()
        assert torch.allclose(used.double(), expected, atol=1e-6)


def test_k_schedule_and_resume(tiny_model, tmp_path):
    common = dict(k_schedule="2:0,1:3", save_strategy="steps", save_steps=2)
    first = PassAtKTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, max_steps=2, **common),
        train_dataset=toy_dataset(),
    )
    first.train()
    assert (tmp_path / "checkpoint-2").is_dir()
    second = PassAtKTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, max_steps=4, **common),
        train_dataset=toy_dataset(),
    )
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert second.state.global_step == 4
    ks = [e["passk/k"] for e in second.state.log_history if "passk/k" in e]
    assert ks[:2] == [2.0, 2.0] and ks[-2:] == [
        2.0,
        1.0,
    ]  # steps 1-2 from the checkpoint's history, 3 → k=2, 4 → k=1


def test_lora(tiny_model, tmp_path):
    from peft import LoraConfig

    trainer = PassAtKTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, k=2),
        train_dataset=toy_dataset(),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    params = dict(trainer.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    trainer.train()
    moved = {n for n, p in params.items() if not torch.equal(before[n], p.detach())}
    assert moved and all("lora_" in n for n in moved)


@pytest.mark.slow
def test_qlora_4bit(tiny_model, tmp_path):
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    trainer = PassAtKTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, k=2),
        train_dataset=toy_dataset(),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.float32, bnb_4bit_quant_type="nf4"
        ),
    )
    assert any(type(m).__name__ == "Linear4bit" for m in trainer.model.modules())
    params = {n: p for n, p in trainer.model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in params.items()}
    trainer.train()
    assert any(not torch.equal(before[n], p.detach()) for n, p in params.items())


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["pass@k", "maj@k"])
def test_two_processes_use_the_single_process_advantages(tiny_model, tmp_path, objective):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
    with socket.socket() as s:  # a free port on loopback for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
    ]
    cmd += [str(ROOT / "tests/distributed/passk_ddp.py"), tiny_model, str(tmp_path), objective]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 2
    for step0, step1 in zip(*ranks):
        assert (
            step0["world"] == 2
            and step0["rewards"] == step1["rewards"]
            and step0["answers"] == step1["answers"]
        )
        rewards = torch.tensor(step0["rewards"]).view(-1, 4)
        assert rewards.shape == (3, 4)  # 2 processes x 6 samples = 3 groups, one across the processes
        full = objective_advantages(rewards, step0["answers"], 2, objective, 0.5).flatten()
        used = torch.tensor(step0["local_advantages"] + step1["local_advantages"], dtype=torch.float64)
        assert torch.allclose(used, full, atol=1e-6)


@pytest.mark.slow
def test_script_with_cpu_recipe(tmp_path):
    from trl_ext.cli import main

    hub = tmp_path / "hub"
    assert (
        main(
            [
                "build-dataset",
                "pbe",
                "--config",
                "demo",
                "--n",
                "64",
                "--n-test",
                "8",
                "--push-to-hub",
                str(hub / "datasets/pbe"),
            ]
        )
        == 0
    )
    cmd = [
        sys.executable,
        str(ROOT / "scripts/train_passk.py"),
        "--config",
        str(ROOT / "recipes/passk/cpu-tiny.yaml"),
    ]
    cmd += ["--model_name_or_path", str(hub / "models/tiny-pbe"), "--dataset_name", str(hub / "datasets/pbe")]
    cmd += ["--max_steps", "2", "--output_dir", str(tmp_path / "out")]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "TQDM_DISABLE": "1"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").exists() and (hub / "models/tiny-pbe/README.md").exists()
    assert "'passk/pass@4'" in done.stdout + done.stderr
