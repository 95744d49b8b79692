"""PassAtKTrainer in the real stack: config errors, training (all objectives), the advantages it uses, two
processes, LoRA, QLoRA, resume (the script with its CPU recipe: tests/test_user_path.py)."""

import functools
import json

import pytest
import torch
from conftest import cpu_grpo_args
from trainer_helpers import contains_a_reward, length_reward, run_two_processes, toy_dataset

from trl_ext import PassAtKConfig, PassAtKTrainer
from trl_ext.trainers.passk import exactness_departures, objective_advantages, parse_k_schedule


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
    with pytest.raises(ValueError, match="sets k twice at step 10"):
        config(tmp_path, k_schedule="4:0,2:10,1:10")


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
    assert len(logs) == 2
    assert {"passk/objective", "passk/pass@1", "passk/frac_groups_nonzero_advantage"} <= set(logs[0])
    assert not any(key.startswith("passk/pass@2") or key.startswith("passk/maj@") for key in logs[0])
    assert ("passk/frac_groups_without_answers" in logs[0]) == (objective == "maj@k")
    for rewards, answers, used in Recording.seen:
        expected = objective_advantages(rewards.view(-1, 4), answers, 2, objective, 0.5).flatten()
        assert torch.allclose(used.double(), expected, atol=1e-6)
    # the completions table shows the advantages used (the last step's, gathered), not GRPO's
    assert list(trainer._logs["advantages"])[-len(used) :] == pytest.approx(used.tolist(), abs=1e-6)


def test_defaults_paper_and_exactness_warnings(tiny_model, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    if (
        not torch.cuda.is_available()
    ):  # TRL's default config wants bf16 on a GPU (GRPOTrainer fails the same way)
        import trl_ext.trainers.passk as passk

        monkeypatch.setattr(
            passk, "PassAtKConfig", functools.partial(PassAtKConfig, use_cpu=True, bf16=False)
        )
    with caplog.at_level("WARNING", logger="trl_ext.trainers.passk"):
        trainer = PassAtKTrainer(tiny_model, contains_a_reward, train_dataset=toy_dataset())
    assert isinstance(trainer.args, PassAtKConfig) and trainer.args.output_dir.endswith("model-PassAtK")
    assert trainer._paper["id"] == "2503.19595" and "2505.15201" in trainer._paper["citation"]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "scale_advantages='batch'" in warned and "loss_type='dapo'" in warned
    exact = config(tmp_path, scale_advantages="none", loss_type="dr_grpo", k=2)
    assert exactness_departures(exact) == []
    assert len(exactness_departures(config(tmp_path, k=2, beta=0.1, num_iterations=2, top_p=0.9))) == 5
    caplog.clear()
    with caplog.at_level("WARNING", logger="trl_ext.trainers.passk"):
        PassAtKTrainer(
            tiny_model, contains_a_reward, config(tmp_path, k=4, scale_rewards="batch"), toy_dataset()
        )
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "ignores scale_rewards='batch'" in warned and "k = num_generations = 4" in warned


def scorable_only_with_a(prompts, completions, **kwargs):
    """None (unscorable) for completions without an 'a'."""
    return [1.0 if "a" in c[0]["content"] else None for c in completions]


def test_unscorable_samples_get_zero_advantage_and_metrics_before_scaling(tiny_model, tmp_path):
    class Recording(PassAtKTrainer):
        seen = []

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            self.seen.append((self._total_rewards(), out["advantages"]))
            return out

    def always_right(prompts, completions, **kwargs):
        return [1.0] * len(completions)

    args = config(tmp_path, k=2, max_steps=1)
    Recording(
        model=tiny_model, reward_funcs=scorable_only_with_a, args=args, train_dataset=toy_dataset()
    ).train()
    rewards, used = Recording.seen[-1]
    assert rewards.isnan().any(), "the toy policy always writes an 'a': no unscorable sample to check"
    assert torch.all(used[rewards.isnan()] == 0)
    all_right = PassAtKTrainer(
        model=tiny_model, reward_funcs=always_right, args=args, train_dataset=toy_dataset()
    )
    all_right.train()
    log = next(e for e in all_right.state.log_history if "passk/k" in e)
    assert log["passk/frac_groups_nonzero_advantage"] == 0.0 and log["passk/objective"] == 1.0


def test_max_at_k_logs_its_estimate_and_k_1_logs_pass_at_1_once(tiny_model, tmp_path):
    trainer = PassAtKTrainer(
        model=tiny_model,
        reward_funcs=length_reward,
        args=config(tmp_path, objective="max@k", k=1, max_steps=1),
        train_dataset=toy_dataset(),
    )
    trainer.train()
    log = next(e for e in trainer.state.log_history if "passk/k" in e)
    assert log["passk/k"] == 1.0 and 0.0 <= log["passk/objective"] <= 1.0 and log["passk/objective"] > 0
    assert sorted(key for key in log if key.startswith("passk/pass@")) == ["passk/pass@1"]


def test_majority_task_column_check_works_for_iterable_datasets(tiny_model, tmp_path):
    """A generator-backed IterableDataset does not know its columns (column_names is None) until read."""
    from datasets import IterableDataset

    def rows(task: bool):
        for i in range(8):
            yield {
                "prompt": [{"role": "user", "content": f"write {i}: "}],
                **({"task": "pbe"} if task else {}),
            }

    args = config(tmp_path, objective="maj@k", k=2, max_steps=1)
    without = IterableDataset.from_generator(rows, gen_kwargs={"task": False})
    assert without.column_names is None
    with pytest.raises(ValueError, match="maj@k needs canonical answers"):
        PassAtKTrainer(tiny_model, contains_a_reward, args, without)
    with_task = IterableDataset.from_generator(rows, gen_kwargs={"task": True})
    trainer = PassAtKTrainer(tiny_model, contains_a_reward, args, with_task)
    assert trainer._answer_fn.__name__ == "task_answers"


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
    done = run_two_processes("passk_ddp.py", tiny_model, str(tmp_path), objective)
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


def test_eval_clamps_k_with_a_warning(tiny_model, tmp_path, caplog):
    args = config(
        tmp_path,
        k=3,
        max_steps=1,
        num_generations_eval=2,
        per_device_eval_batch_size=4,
        eval_strategy="steps",
        eval_steps=1,
    )
    trainer = PassAtKTrainer(tiny_model, contains_a_reward, args, toy_dataset(), toy_dataset(4))
    with caplog.at_level("WARNING", logger="trl_ext.trainers.passk"):
        trainer.train()
    assert "k=3 > 2 generations per prompt in eval" in caplog.text
    assert next(e for e in trainer.state.log_history if "eval_passk/k" in e)["eval_passk/k"] == 2.0


def no_answer(completions, **kwargs) -> list:
    """An answer function that never gives an answer (like code rows with only `test_code`)."""
    return [None] * len(completions)


def test_majority_without_any_answer_warns_loudly_once(tiny_model, tmp_path, caplog):
    args = config(tmp_path, objective="maj@k", k=2, answer_fn="test_passk_trainer:no_answer")
    trainer = PassAtKTrainer(tiny_model, contains_a_reward, args, toy_dataset())
    with caplog.at_level("WARNING", logger="trl_ext.trainers.passk"):
        trainer.train()
    assert caplog.text.count("some groups have no canonical answer at all") == 1  # 2 steps, one warning
    logs = [e for e in trainer.state.log_history if "passk/k" in e]
    assert [e["passk/frac_groups_without_answers"] for e in logs] == [1.0, 1.0]
    assert all(e["passk/frac_groups_nonzero_advantage"] == 0.0 for e in logs)


def test_exact_settings_make_trls_loss_gradient_the_estimator(tiny_model, tmp_path):
    """With the settings the docs call exact, the gradient of TRL's own loss is −Σ_i A_i ∇log π(y_i) divided by
    the constant B·max_completion_length (the estimator of ∇J, up to a positive constant)."""

    def distinct_characters(prompts, completions, **kwargs):  # a continuous reward, for max@k
        return [len(set(c[0]["content"])) / 8 for c in completions]

    args = config(
        tmp_path,
        objective="max@k",
        k=2,
        scale_advantages="none",
        loss_type="dr_grpo",
        per_device_train_batch_size=8,
        max_steps=1,
    )
    assert exactness_departures(args) == []
    trainer = PassAtKTrainer(tiny_model, distinct_characters, args, toy_dataset())
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.training_step in a real step
    inputs = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    assert inputs["advantages"].abs().sum() > 0, "no signal in this batch: pick another seed"
    # completions of different lengths (as if they had ended at EOS), where per-length normalisations differ
    for i, length in enumerate([8, 3, 5, 1, 8, 6, 2, 4]):
        inputs["completion_mask"][i, length:] = 0
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    from_trl = torch.autograd.grad(trainer.compute_loss(trainer.model, inputs), params)

    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    logps, _, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, ids, mask, inputs["completion_ids"].size(1)
    )
    sequence_logps = (logps * inputs["completion_mask"]).sum(dim=1)
    estimator = -(inputs["advantages"] * sequence_logps).sum() / (
        len(sequence_logps) * args.max_completion_length
    )
    ours = torch.autograd.grad(estimator, params)
    for a, b in zip(from_trl, ours):
        assert torch.allclose(a, b, atol=1e-7, rtol=1e-4)
