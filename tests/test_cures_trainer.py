"""The CurES curriculum in the real stack: config errors, inert when off, composition with every trainer of
COMBINATIONS (trains, counts exactly the scored rollouts, logs), allocation, rows added by a trainer, resume,
two processes, and the script with its recipes."""

import json
from pathlib import Path

import pytest
import torch
from conftest import cpu_grpo_args
from datasets import IterableDataset
from trainer_helpers import contains_a_reward, run_train_script, run_two_processes, toy_dataset
from trl.trainer.utils import RepeatSampler

import trl_ext.trainers.cures as cures
from trl_ext import (
    CurESConfig,
    CurESTrainer,
    GuideConfig,
    GuideTrainer,
    PassAtKConfig,
    PassAtKTrainer,
    SPOConfig,
    SPOTrainer,
)
from trl_ext.trainers.cures import INDEX_COLUMN, STATE_FILE, CurriculumSampler

ROOT = Path(__file__).resolve().parents[1]
GROUP = 4  # num_generations
GROUPS = 4  # groups per generation batch: 16 rows per step

# (config class, trainer class, trainer-specific config): the integrator adds SPO, Guide and RLEF here.
COMBINATIONS = [
    pytest.param(CurESConfig, CurESTrainer, {}, id="grpo"),
    pytest.param(PassAtKConfig, PassAtKTrainer, {"k": 2}, id="passk"),
    pytest.param(GuideConfig, GuideTrainer, {}, id="guide"),
    pytest.param(SPOConfig, SPOTrainer, {"value_samples": 2}, id="spo"),
]


def dataset_for(trainer_cls, n: int = 64):
    """The toy prompts; with a (never used) hint column for Guide, which refuses a dataset without one."""
    data = toy_dataset(n)
    return data.add_column("hint", [None] * n) if trainer_cls is GuideTrainer else data


def config(config_cls, tmp_path, **kwargs):
    base = cpu_grpo_args(tmp_path, per_device_train_batch_size=GROUP * GROUPS, num_generations=GROUP)
    base.update({k: kwargs.pop(k) for k in list(kwargs) if k in base or k in ("save_strategy", "save_steps")})
    return config_cls(**base, **kwargs)


@pytest.fixture
def recorded_draws(monkeypatch):
    draws = []

    def recording(*args, **kwargs):
        groups = cures_draw(*args, **kwargs)
        draws.append(groups.tolist())
        return groups

    cures_draw = cures.draw_groups
    monkeypatch.setattr(cures, "draw_groups", recording)
    return draws


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="curriculum_tau must be positive"):
        config(CurESConfig, tmp_path, curriculum_tau=0.0)
    with pytest.raises(ValueError, match="curriculum_floor must be in"):
        config(CurESConfig, tmp_path, curriculum_floor=2.0)
    with pytest.raises(ValueError, match="curriculum_decay must be in"):
        config(CurESConfig, tmp_path, curriculum_decay=0.0)
    with pytest.raises(ValueError, match="curriculum_cold_start must be"):
        config(CurESConfig, tmp_path, curriculum_cold_start=-1)
    with pytest.raises(ValueError, match="must be positive"):
        config(CurESConfig, tmp_path, curriculum_prior_failures=0.0)
    with pytest.raises(ValueError, match="needs remove_unused_columns=False"):
        config(CurESConfig, tmp_path, remove_unused_columns=True)
    config(CurESConfig, tmp_path, curriculum=False, remove_unused_columns=True)  # off: no constraint


def test_dataset_errors(tiny_model, tmp_path):
    args = config(CurESConfig, tmp_path)
    with pytest.raises(ValueError, match="needs a map-style datasets.Dataset"):
        CurESTrainer(
            model=tiny_model,
            reward_funcs=contains_a_reward,
            args=args,
            train_dataset=IterableDataset.from_generator(lambda: iter(toy_dataset(8))),
        )
    with pytest.raises(ValueError, match="holds 4 groups but the train dataset has 3 prompts"):
        CurESTrainer(
            model=tiny_model, reward_funcs=contains_a_reward, args=args, train_dataset=toy_dataset(3)
        )
    with pytest.raises(ValueError, match="already has a `curriculum_index` column"):
        CurESTrainer(
            model=tiny_model,
            reward_funcs=contains_a_reward,
            args=args,
            train_dataset=toy_dataset(8).add_column(INDEX_COLUMN, list(range(8))),
        )


@pytest.mark.parametrize("config_cls,trainer_cls,extra", COMBINATIONS)
def test_inert_when_off(tiny_model, tmp_path, config_cls, trainer_cls, extra):
    trainer = trainer_cls(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(config_cls, tmp_path, curriculum=False, **extra),
        train_dataset=dataset_for(trainer_cls),
    )
    assert trainer.curriculum_posterior is None and INDEX_COLUMN not in trainer.train_dataset.column_names
    assert isinstance(trainer._get_train_sampler(), RepeatSampler)


@pytest.mark.parametrize("config_cls,trainer_cls,extra", COMBINATIONS)
def test_composes_trains_and_counts_the_scored_rollouts(
    tiny_model, tmp_path, recorded_draws, config_cls, trainer_cls, extra
):
    scored = []

    class Recording(trainer_cls):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            if any(x[INDEX_COLUMN] >= 0 for x in inputs):  # not SPO's scoring of reference samples
                scored.append(([x[INDEX_COLUMN] for x in inputs], rewards.sum(1).tolist()))
            return rewards

    args = config(config_cls, tmp_path, curriculum=True, max_steps=3, **extra)
    trainer = Recording(
        model=tiny_model, reward_funcs=contains_a_reward, args=args, train_dataset=dataset_for(trainer_cls)
    )
    assert isinstance(trainer._get_train_sampler(), CurriculumSampler)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters()), (
        "no parameter moved"
    )

    # the rows scored are the sampler's first 3 draws, each prompt in groups of num_generations
    assert len(scored) == 3 and len(recorded_draws) >= 3
    for (indices, _), draw in zip(scored, recorded_draws):
        assert indices == [i for i in draw for _ in range(GROUP)]
    # the posterior holds exactly what was scored
    index = torch.tensor([i for indices, _ in scored for i in indices])
    success = torch.tensor([r > 0.5 for _, rewards in scored for r in rewards])
    posterior = trainer.curriculum_posterior
    assert torch.equal(posterior.rollouts, torch.bincount(index, minlength=64))
    assert torch.equal(posterior.successes, torch.bincount(index[success], minlength=64).double())
    assert torch.equal(posterior.failures, torch.bincount(index[~success], minlength=64).double())

    logs = [e for e in trainer.state.log_history if "curriculum/weight_entropy" in e]
    assert len(logs) == 3
    for name in ("mean_p_hat", "solved_share", "hopeless_share", "zero_variance_groups", "distinct_prompts"):
        assert f"curriculum/{name}" in logs[0]
    assert logs[0]["curriculum/mean_p_hat"] == pytest.approx(0.5)  # the Beta(1, 1) prior before any update
    assert 0.0 < logs[-1]["curriculum/weight_entropy"] <= 1.0


def test_allocation_draws_high_variance_prompts_in_several_groups(tiny_model, tmp_path):
    args = config(CurESConfig, tmp_path, curriculum_tau=0.05, curriculum_floor=0.0)
    trainer = CurESTrainer(
        model=tiny_model, reward_funcs=contains_a_reward, args=args, train_dataset=toy_dataset(8)
    )
    posterior = trainer.curriculum_posterior
    # prompts 0-1: 50 % (σ = ½); prompts 2-7 solved 400/400 (p̂ = 401/402, σ = 0.0497)
    posterior.successes[:] = torch.tensor([20.0, 20.0] + [400.0] * 6, dtype=torch.float64)
    posterior.failures[:] = torch.tensor([20.0, 20.0] + [0.0] * 6, dtype=torch.float64)
    indices = list(trainer._get_train_sampler())
    assert len(indices) == len(trainer._get_train_sampler()) == 2 * GROUPS * GROUP  # 8 prompts / 4 groups
    for batch in (indices[: GROUPS * GROUP], indices[GROUPS * GROUP :]):
        groups = [batch[i : i + GROUP] for i in range(0, len(batch), GROUP)]
        assert all(len(set(g)) == 1 for g in groups)  # each draw is one whole group
        drawn = [g[0] for g in groups]
        # ρ (τ = 0.05) draws 0 and 1 first, then 2 solved ones; allocation ∝ σ gives 0 and 1 4 · 0.455 = 1.82
        # groups each, the solved ones 0.18: systematic rounding gives 0 and 1 together 3 or 4 of the 4 groups
        assert drawn.count(0) >= 1 and drawn.count(1) >= 1 and drawn.count(0) + drawn.count(1) >= 3


def test_added_rows_count_only_when_marked_as_samples(tiny_model, tmp_path):
    class Appending(CurESTrainer):
        """Appends one group per batch of copies of its first row, like a trainer that adds guided samples."""

        def _generate_and_score_completions(self, inputs):
            extra = [dict(inputs[0], **{INDEX_COLUMN: -1}) for _ in range(GROUP)]
            return super()._generate_and_score_completions(list(inputs) + extra)

    args = config(CurESConfig, tmp_path, max_steps=2)
    trainer = Appending(
        model=tiny_model, reward_funcs=contains_a_reward, args=args, train_dataset=toy_dataset()
    )
    trainer.train()
    assert (
        trainer.curriculum_posterior.rollouts.sum().item() == 2 * GROUPS * GROUP
    )  # the appended rows: not counted


def test_guided_regeneration_is_not_counted_as_the_prompts_own_rollouts(tiny_model, tmp_path):
    """Guide scores the hint-free group, then re-scores the batch after the hinted replacement: only the first
    scoring is the prompt's own (hint-free) outcome, so the posterior counts each rollout once, as a failure."""

    def never(prompts, completions, **kwargs):
        return [0.0] * len(completions)

    hinted = toy_dataset().add_column("hint", ["start with a"] * 64)
    args = config(GuideConfig, tmp_path, curriculum=True, max_steps=2)
    trainer = GuideTrainer(model=tiny_model, reward_funcs=never, args=args, train_dataset=hinted)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "guide/guided_group_share" in e]
    assert logs and logs[0]["guide/guided_group_share"] == 1.0  # every group failed and was regenerated
    posterior = trainer.curriculum_posterior
    assert posterior.rollouts.sum().item() == 2 * GROUPS * GROUP
    assert posterior.successes.sum().item() == 0 and posterior.failures.sum().item() == 2 * GROUPS * GROUP


def test_unscorable_rollouts_leave_the_posterior_and_the_statistics(tiny_model, tmp_path):
    """Rollouts every reward function returned None for (a sandbox failure) are neither successes nor failures:
    not in the posterior, its rollout counts or the zero-variance share (groups stay aligned), and logged."""
    trainer = CurESTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(CurESConfig, tmp_path),
        train_dataset=toy_dataset(),
    )
    nan = float("nan")
    totals = [[1, 1, nan, nan], [0, 1, nan, nan], [0, 0, 0, 0], [1, 1, 1, 1]]  # prompts 0..3, a group each
    rewards_per_func = torch.tensor(totals).view(-1, 1)
    rows = [{INDEX_COLUMN: prompt} for prompt in range(GROUPS) for _ in range(GROUP)]
    trainer.model.train()
    trainer._update_curriculum(rows, rewards_per_func)
    posterior = trainer.curriculum_posterior
    assert posterior.rollouts[:4].tolist() == [2, 2, 4, 4]
    assert posterior.successes[:4].tolist() == [2, 1, 0, 4] and posterior.failures[:4].tolist() == [
        0,
        1,
        4,
        0,
    ]
    metrics = trainer._metrics["train"]
    assert metrics["curriculum/frac_unscorable"] == [0.25]
    assert metrics["curriculum/zero_variance_groups"] == [0.75]  # groups 0, 2 and 3
    assert metrics["curriculum/solved_share"] == [0.5] and metrics["curriculum/hopeless_share"] == [0.25]


@pytest.mark.parametrize(
    "pipeline",
    [
        pytest.param({"num_iterations": 2}, id="num_iterations=2"),
        pytest.param({"steps_per_generation": 2}, id="steps_per_generation=2"),
        pytest.param({"steps_per_generation": 2, "gradient_accumulation_steps": 2}, id="accumulation=2"),
    ],
)
def test_cold_start_counts_every_drawn_rollout_once(tiny_model, tmp_path, monkeypatch, pipeline):
    """Whether the previous batch was scored when the next is drawn depends on the pipeline; the cold start must see
    each earlier draw's rollouts exactly once (observed, or drawn and not scored yet), never twice."""
    seen = []

    def recording(sigma, rollouts, *args, **kwargs):
        seen.append(rollouts.clone())
        groups = cures_draw(sigma, rollouts, *args, **kwargs)
        draws.append(groups.tolist())
        return groups

    draws, cures_draw = [], cures.draw_groups
    monkeypatch.setattr(cures, "draw_groups", recording)
    args = config(CurESConfig, tmp_path, max_steps=4, curriculum_cold_start=2 * GROUP, **pipeline)
    trainer = CurESTrainer(
        model=tiny_model, reward_funcs=contains_a_reward, args=args, train_dataset=toy_dataset(16)
    )
    trainer.train()
    assert len(seen) >= 2
    for j, rollouts in enumerate(seen):
        earlier = torch.tensor([i for draw in draws[:j] for i in draw], dtype=torch.long)
        assert torch.equal(rollouts, torch.bincount(earlier, minlength=16) * GROUP), j


def test_resume_restores_the_posterior(tiny_model, tmp_path):
    common = dict(save_strategy="steps", save_steps=2, curriculum_cold_start=GROUP)
    first = CurESTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(CurESConfig, tmp_path, max_steps=2, **common),
        train_dataset=toy_dataset(),
    )
    first.train()
    saved = torch.load(tmp_path / "checkpoint-2" / STATE_FILE, weights_only=True)
    assert torch.equal(saved["rollouts"], first.curriculum_posterior.rollouts)
    assert saved["rollouts"].sum().item() == 2 * GROUPS * GROUP

    restored = []

    class Resumed(CurESTrainer):
        def _update_curriculum(self, inputs, rewards_per_func):
            if not restored:
                restored.append({k: v.clone() for k, v in self.curriculum_posterior.state_dict().items()})
            super()._update_curriculum(inputs, rewards_per_func)

    second = Resumed(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(CurESConfig, tmp_path, max_steps=4, **common),
        train_dataset=toy_dataset(),
    )
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert second.state.global_step == 4
    for key in ("successes", "failures", "rollouts"):
        assert torch.equal(restored[0][key], saved[key])
    assert second.curriculum_posterior.rollouts.sum().item() == 4 * GROUPS * GROUP
    # cold start: after 4 steps the 16 prompts drawn are distinct, none drawn twice before all were tried
    assert (second.curriculum_posterior.rollouts <= GROUP).all()


@pytest.mark.slow
def test_two_processes_draw_the_same_batches_and_hold_the_same_posterior(tiny_model, tmp_path):
    done = run_two_processes("cures_ddp.py", tiny_model, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["draws"] == ranks[1]["draws"] and len(ranks[0]["draws"]) >= 4  # same prompt order
    assert ranks[0]["posteriors"] == ranks[1]["posteriors"] and len(ranks[0]["posteriors"]) == 4
    for step in range(4):  # each rank got its half of the same draw, and both counted the whole batch
        draw = [i for i in ranks[0]["draws"][step] for _ in range(4)]
        assert ranks[0]["local"][step] + ranks[1]["local"][step] == draw
        assert sum(ranks[0]["posteriors"][step]["rollouts"]) == 20 * (step + 1)
    assert any(
        len(set(d)) < len(d) for d in ranks[0]["draws"]
    )  # allocation drew a prompt twice at least once


def test_gpu_recipe_parses():
    from trl_ext.train import make_parser

    parser = make_parser("cures")
    for recipe in sorted((ROOT / "recipes/cures").glob("*.yaml")):
        script_args, args, model_args = parser.parse_args_and_config(["--config", str(recipe)])
        assert args.curriculum and args.num_generations > 1 and script_args.dataset_name
        if "vllm" in recipe.name:
            assert args.use_vllm and args.vllm_mode == "colocate" and model_args.load_in_4bit


@pytest.mark.slow
def test_script_with_cpu_recipe(tmp_path):
    done = run_train_script("cures", tmp_path, "--max_steps", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert "'curriculum/weight_entropy'" in done.stdout + done.stderr


def test_sampler_is_seeded_by_epoch_and_batch():
    args = CurESConfig(output_dir="unused", use_cpu=True, bf16=False, report_to="none")
    posterior = cures.PromptPosterior(12, args)
    a = CurriculumSampler(posterior, 2, 3, 1, seed=7)
    b = CurriculumSampler(posterior, 2, 3, 1, seed=7)
    assert list(a) == list(b)
    assert len(list(a)) == len(a) == 4 * 3 * 2  # 12 prompts / 3 groups = 4 batches of 3 groups of 2
    b.set_epoch(1)
    assert list(a) != list(b)
