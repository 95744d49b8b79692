"""CurES for every trainer: a curriculum over prompts from a Beta posterior of each prompt's success rate.

Paper: "CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning LLMs" (Zeng et al. 2025,
arXiv 2510.01037). The math is in `trl_ext.curriculum`; this module wires it into TRL's GRPO family:

- `CurriculumArguments`: the curriculum's config fields, a dataclass placed FIRST in a config's bases
  (`class XConfig(CurriculumArguments, GRPOConfig)`), off unless `curriculum: true`.
- `CurriculumMixin`: placed FIRST in a trainer's bases (`class XTrainer(CurriculumMixin, GRPOTrainer)`), inert
  when `args.curriculum` is False. It replaces TRL's `RepeatSampler` (`_get_train_sampler`) by a
  `CurriculumSampler` that draws each generation batch's prompts with `trl_ext.curriculum.draw_groups` (ρ, the
  floor, the cold start, and the rollout allocation realised as several groups of `num_generations` for
  high-σ prompts, each group with its own GRPO baseline), and it updates the posterior from the gathered rewards
  (`_calculate_rewards`). The posterior is saved with each checkpoint and restored on resume.
- `CurESConfig` / `CurESTrainer`: GRPO with the curriculum on.

Implemented variant (what differs from the paper and its code): σ is the proxy sqrt(p̂(1 − p̂)), never estimated
from gradient norms; τ is a constant on σ (see `trl_ext.curriculum`); the posterior is kept over the whole run
(optionally with forgetting, `curriculum_decay`) instead of re-initialised by 4 fresh rollouts per prompt and
outer iteration; prompts whose allocation rounds to 0 sit one batch out instead of being dropped. Whether this
reproduces the paper's gains is not verified at scale (`python scripts/evidence.py cures`: what a tiny run shows).

The contract the mixin needs from a trainer, so that it composes with trainers that override
`_generate_and_score_completions` or add rows to a batch:
1. the rows handed to `_calculate_rewards` are the dataloader's row dicts (or copies of them), which carry the
   column `curriculum_index` (added to the train dataset by the mixin); the gathered rewards it returns align
   with the gathered rows (TRL's own contract);
2. a row counts toward prompt i's posterior iff its `curriculum_index` is i >= 0: a trainer that adds rows that
   are not plain samples of their prompt's policy (hinted, partial, re-sampled) sets `curriculum_index` to -1
   (or None) on them; rows may be appended, removed or reordered freely otherwise;
3. every process calls `_calculate_rewards` the same number of times per batch (it gathers, as TRL does).
Nothing else is assumed: the sampler's draws are only a proposal, the posterior learns from what was scored.

An unscorable rollout (every reward function returned None, e.g. a verifier's `sandbox_error`) is neither a success
nor a failure: it does not enter the posterior (nor its observed-rollout count, so a prompt whose rollouts were all
unscorable stays unseen for the cold start), the solved/hopeless shares or `curriculum/zero_variance_groups`; it is
logged as `curriculum/frac_unscorable`. Its advantage is TRL 1.16's: left out of its group's mean and std, 0 (it
still counts in the `loss_type` normalisation and, with `beta > 0`, in the KL term).
"""

from __future__ import annotations

import logging
import os
import tempfile
import textwrap
from dataclasses import dataclass, field

import numpy as np
import torch
from accelerate.utils import gather_object
from datasets import Dataset
from torch.utils.data import Sampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOConfig, GRPOTrainer

from trl_ext.curriculum import (
    draw_groups,
    normalised_entropy,
    posterior_mean,
    sampling_weights,
    sigma_proxy,
    update_counts,
)
from trl_ext.execution.backends import ExecutionArguments
from trl_ext.objectives import total_rewards, zero_variance_share

logger = logging.getLogger(__name__)

INDEX_COLUMN = "curriculum_index"
STATE_FILE = "curriculum_state.pt"


@dataclass
class CurriculumArguments:
    r"""
    The CurES curriculum's parameters (arXiv 2510.01037), for any trainer that has [`CurriculumMixin`]. Place this
    class FIRST in a config's bases: `class XConfig(CurriculumArguments, GRPOConfig)`.

    Parameters:
        curriculum (`bool`, defaults to `False`):
            Sample prompts and allocate rollouts by the CurES curriculum instead of TRL's uniform `RepeatSampler`.
        curriculum_tau (`float`, defaults to `0.1`):
            Temperature τ of the sampling weights ρ_i ∝ exp(σ_i / τ), σ_i = sqrt(p̂_i(1 − p̂_i)) ∈ [0, ½]: a prompt at
            p̂ = ½ is exp(1 / (2τ)) times as likely as a solved or hopeless one (τ = 0.1: ×148; `inf`: uniform).
        curriculum_floor (`float`, defaults to `0.05`):
            Share of each batch's groups (after the cold start) given to prompts drawn uniformly, one group each; the
            curriculum (ρ, then the allocation) shares the rest. End to end, every prompt gets in expectation at
            least `floor / N` of those groups (N prompts), with or without allocation: solved and hopeless prompts
            keep being revisited. Without allocation, one group's prompt is drawn with probability
            (1 − floor)·softmax(σ/τ) + floor/N.
        curriculum_allocation (`bool`, defaults to `True`):
            Share each batch's groups among its drawn prompts ∝ σ (high-σ prompts get several groups of
            `num_generations`, each with its own baseline; the total number of rollouts is unchanged). False: one
            group per drawn prompt, as in GRPO.
        curriculum_cold_start (`int`, defaults to `0`):
            Prompts with fewer observed rollouts than this are drawn first (uniformly, one group each) before the
            weights apply to them. E.g. `num_generations` = every prompt is tried once before the curriculum acts.
        curriculum_prior_successes (`float`, defaults to `1.0`):
            α₀ of the Beta(α₀, β₀) prior of each prompt's success rate.
        curriculum_prior_failures (`float`, defaults to `1.0`):
            β₀ of the Beta(α₀, β₀) prior.
        curriculum_decay (`float`, defaults to `1.0`):
            Each time a prompt is scored, its past counts are first multiplied by this (1 keeps the whole history;
            e.g. 0.5 lets p̂ follow a policy that improves).
        curriculum_success_threshold (`float`, defaults to `0.5`):
            A rollout is a success when its total (weighted) reward exceeds this.
    """

    curriculum: bool = field(
        default=False, metadata={"help": "Sample prompts and allocate rollouts by the CurES curriculum."}
    )
    curriculum_tau: float = field(
        default=0.1,
        metadata={"help": "Temperature of rho ∝ exp(sigma / tau), sigma in [0, 1/2]; inf = uniform."},
    )
    curriculum_floor: float = field(
        default=0.05,
        metadata={"help": "Share of each batch's groups drawn uniformly (every prompt keeps >= floor/N)."},
    )
    curriculum_allocation: bool = field(
        default=True, metadata={"help": "Share each batch's groups among its prompts in proportion to sigma."}
    )
    curriculum_cold_start: int = field(
        default=0, metadata={"help": "Rollouts a prompt needs before the weights apply to it (unseen first)."}
    )
    curriculum_prior_successes: float = field(default=1.0, metadata={"help": "Beta prior alpha_0."})
    curriculum_prior_failures: float = field(default=1.0, metadata={"help": "Beta prior beta_0."})
    curriculum_decay: float = field(
        default=1.0,
        metadata={"help": "Forgetting factor applied to a prompt's counts each time it is scored."},
    )
    curriculum_success_threshold: float = field(
        default=0.5, metadata={"help": "Total reward above which a rollout counts as a success."}
    )

    def __post_init__(self):
        if hasattr(super(), "__post_init__"):
            super().__post_init__()
        if not self.curriculum_tau > 0:
            raise ValueError(f"curriculum_tau must be positive, got {self.curriculum_tau}")
        if not 0.0 <= self.curriculum_floor <= 1.0:
            raise ValueError(f"curriculum_floor must be in [0, 1], got {self.curriculum_floor}")
        if self.curriculum_cold_start < 0:
            raise ValueError(f"curriculum_cold_start must be >= 0, got {self.curriculum_cold_start}")
        if self.curriculum_prior_successes <= 0 or self.curriculum_prior_failures <= 0:
            raise ValueError("curriculum_prior_successes and curriculum_prior_failures must be positive")
        if not 0.0 < self.curriculum_decay <= 1.0:
            raise ValueError(f"curriculum_decay must be in (0, 1], got {self.curriculum_decay}")
        if self.curriculum and getattr(self, "remove_unused_columns", False):
            raise ValueError(
                f"curriculum needs remove_unused_columns=False: it reads the `{INDEX_COLUMN}` column of each row"
            )


class PromptPosterior:
    """Per-prompt success/failure counts (float64, decayed), observed rollouts, and rollouts drawn but not scored yet
    (`pending`: in flight between the sampler and the scoring, not saved); identical on every process."""

    def __init__(self, num_prompts: int, args: CurriculumArguments):
        self.args = args
        self.successes = torch.zeros(num_prompts, dtype=torch.float64)
        self.failures = torch.zeros(num_prompts, dtype=torch.float64)
        self.rollouts = torch.zeros(num_prompts, dtype=torch.long)
        self.pending = torch.zeros(num_prompts, dtype=torch.long)
        self.replayed_draws = 0  # draws to come that re-draw batches scored before a resume (not in flight)

    def drawn(self, prompts: list[int], num_generations: int) -> None:
        """The sampler drew `prompts` (one group of `num_generations` rollouts each): in flight until scored."""
        if self.replayed_draws:
            self.replayed_draws -= 1
            return
        self.pending += torch.bincount(torch.tensor(prompts), minlength=len(self)) * num_generations

    def scored(self, index: torch.Tensor) -> None:
        """Rollouts of prompts `index` (one entry per rollout, scorable or not) were scored: no longer in flight."""
        done = torch.bincount(index, minlength=len(self))
        self.pending = (self.pending - done).clamp_min(0)

    def __len__(self) -> int:
        return len(self.rollouts)

    def p_hat(self) -> torch.Tensor:
        a = self.args
        return posterior_mean(
            self.successes, self.failures, a.curriculum_prior_successes, a.curriculum_prior_failures
        )

    def sigma(self) -> torch.Tensor:
        return sigma_proxy(self.p_hat())

    def update(self, index: torch.Tensor, success: torch.Tensor) -> None:
        self.successes, self.failures = update_counts(
            self.successes, self.failures, index, success, self.args.curriculum_decay
        )
        self.rollouts = self.rollouts.index_add(0, index, torch.ones_like(index))

    def state_dict(self) -> dict:
        return {"successes": self.successes, "failures": self.failures, "rollouts": self.rollouts}

    def load_state_dict(self, state: dict) -> None:
        if len(state["rollouts"]) != len(self):
            raise ValueError(
                f"the checkpoint's curriculum has {len(state['rollouts'])} prompts, the train dataset {len(self)}"
            )
        self.successes, self.failures = state["successes"].clone(), state["failures"].clone()
        self.rollouts = state["rollouts"].clone()


class CurriculumSampler(Sampler[int]):
    """Drop-in for TRL's `RepeatSampler` on the train set: per generation batch it draws `groups` prompts (a prompt
    may appear several times) from the current posterior and yields each `num_generations` times, the whole
    batch `repeat_count` times (GRPO reuses one generation for `steps_per_generation × num_iterations` steps).
    Draws are seeded by (seed, epoch, batch), so every process draws the same batch from the same posterior.

    When a batch is drawn depends on the data pipeline: the trainer fetches `gradient_accumulation_steps` dataloader
    items at a time and accelerate prefetches one more, and each batch is fetched `repeat_count` times. So the
    previous batch may or may not have been scored yet (not yet with repeat_count == gradient_accumulation_steps;
    already with `num_iterations > 1` or `steps_per_generation > gradient_accumulation_steps`). The cold start counts
    every drawn rollout exactly once whatever the timing: observed rollouts plus those drawn and not yet scored
    (`PromptPosterior.pending`, settled by the mixin when it scores them)."""

    def __init__(
        self, posterior: PromptPosterior, num_generations: int, groups: int, repeat_count: int, seed: int
    ):
        self.posterior = posterior
        self.num_generations = num_generations
        self.groups = groups
        self.repeat_count = repeat_count
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches_per_epoch(self) -> int:
        return len(self.posterior) // self.groups

    def __len__(self) -> int:
        return self._batches_per_epoch() * self.groups * self.num_generations * self.repeat_count

    def __iter__(self):
        a = self.posterior.args
        for batch in range(self._batches_per_epoch()):
            rng = np.random.default_rng([self.seed, self.epoch, batch])
            prompts = draw_groups(
                self.posterior.sigma(),
                self.posterior.rollouts + self.posterior.pending,
                self.groups,
                rng,
                tau=a.curriculum_tau,
                floor=a.curriculum_floor,
                allocation=a.curriculum_allocation,
                cold_start=a.curriculum_cold_start,
            ).tolist()
            self.posterior.drawn(prompts, self.num_generations)
            for _ in range(self.repeat_count):
                for index in prompts:
                    yield from [index] * self.num_generations


def not_counted(rows: list[dict]) -> list[dict]:
    """Copies of `rows` that the curriculum does not count toward their prompts' success rates (contract item 2):
    for rows a trainer scores that are not plain samples of the policy for their prompt (hinted, reference or
    offline completions, or a second scoring of the same rollouts). Rows without the column pass unchanged."""
    return [{**x, INDEX_COLUMN: -1} if INDEX_COLUMN in x else x for x in rows]


class CurriculumMixin:
    """The CurES curriculum for any GRPO-family trainer; put it FIRST in the bases (module docstring, contract)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.curriculum_posterior = None
        if not getattr(self.args, "curriculum", False):
            return
        dataset = self.train_dataset
        if not isinstance(dataset, Dataset):
            raise ValueError(
                f"curriculum needs a map-style datasets.Dataset (it samples prompts by index), got "
                f"{type(dataset).__name__}"
            )
        if INDEX_COLUMN in dataset.column_names:
            raise ValueError(
                f"the train dataset already has a `{INDEX_COLUMN}` column, which the curriculum adds"
            )
        groups = self.args.generation_batch_size // self.num_generations
        if len(dataset) < groups:
            raise ValueError(
                f"curriculum: a generation batch holds {groups} groups but the train dataset has {len(dataset)} prompts"
            )
        self.train_dataset = dataset.add_column(INDEX_COLUMN, list(range(len(dataset))))
        self.curriculum_posterior = PromptPosterior(len(dataset), self.args)

    def _get_train_sampler(self, dataset=None) -> Sampler:
        if self.curriculum_posterior is None:
            return super()._get_train_sampler(dataset)
        return CurriculumSampler(
            self.curriculum_posterior,
            self.num_generations,
            self.args.generation_batch_size // self.num_generations,
            self.num_iterations * self.args.steps_per_generation,
            self.args.seed,
        )

    def get_resumed_dataloader(self, dataloader, num_batches: int):
        # Resuming mid-epoch, the trainer skips `num_batches` dataloader items by drawing them again: the batches they
        # belong to (each fetched `repeat_count` times) were scored before the checkpoint, so they are not in flight.
        if self.curriculum_posterior is not None:
            repeat = self.num_iterations * self.args.steps_per_generation
            self.curriculum_posterior.replayed_draws = -(-num_batches // repeat)
        return super().get_resumed_dataloader(dataloader, num_batches)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.curriculum_posterior is not None and self.model.training:
            self._update_curriculum(inputs, rewards_per_func)
        return rewards_per_func

    def _update_curriculum(self, inputs: list[dict], rewards_per_func: torch.Tensor) -> None:
        """Count the gathered rollouts toward their prompts' posteriors (same data, same result on every process)
        and log the curriculum's metrics."""
        local = [x.get(INDEX_COLUMN) for x in inputs]
        index = torch.tensor([-1 if i is None else int(i) for i in gather_object(local)], dtype=torch.long)
        self.curriculum_posterior.scored(index[index >= 0])
        total = total_rewards(rewards_per_func.detach().cpu(), self.reward_weights.detach().cpu())
        counted = index >= 0
        metrics = self._metrics["train"]
        if counted.any():
            metrics["curriculum/frac_unscorable"].append(total[counted].isnan().float().mean().item())
        group = self.num_generations
        if len(total) % group == 0:  # groups in the gathered order; unscorable and uncounted rows left out
            grouped = total.masked_fill(~counted, float("nan")).view(-1, group)
            metrics["curriculum/zero_variance_groups"].append(zero_variance_share(grouped))
        # An unscorable rollout (NaN) is neither a success nor a failure: it leaves the posterior as it was.
        keep = counted & ~total.isnan()
        index, total = index[keep], total[keep]
        if len(index) == 0:
            return
        success = total > self.args.curriculum_success_threshold
        prompts, inverse = torch.unique(index, return_inverse=True)
        hits = torch.zeros(len(prompts)).index_add_(0, inverse, success.float())
        tries = torch.bincount(inverse, minlength=len(prompts)).float()
        metrics["curriculum/mean_p_hat"].append(self.curriculum_posterior.p_hat()[prompts].mean().item())
        metrics["curriculum/solved_share"].append((hits == tries).float().mean().item())
        metrics["curriculum/hopeless_share"].append((hits == 0).float().mean().item())
        metrics["curriculum/distinct_prompts"].append(float(len(prompts)))
        self.curriculum_posterior.update(index, success)
        a = self.args
        rho = sampling_weights(self.curriculum_posterior.sigma(), a.curriculum_tau, a.curriculum_floor)
        metrics["curriculum/weight_entropy"].append(normalised_entropy(rho))

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.curriculum_posterior is None or not self.args.should_save:
            return
        folder = os.path.join(
            self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        )
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
            torch.save(self.curriculum_posterior.state_dict(), tmp)
        os.replace(tmp.name, os.path.join(folder, STATE_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if self.curriculum_posterior is None or checkpoint is None:
            return
        path = os.path.join(checkpoint, STATE_FILE)
        if not os.path.exists(path):
            logger.warning(f"{checkpoint} has no {STATE_FILE}: the curriculum starts from its prior")
            return
        self.curriculum_posterior.load_state_dict(torch.load(path, weights_only=True))


@dataclass
class CurESConfig(ExecutionArguments, CurriculumArguments, GRPOConfig):
    r"""
    Configuration for [`CurESTrainer`]: every [`trl.GRPOConfig`] parameter and the curriculum's
    ([`CurriculumArguments`]), with the curriculum on.

    Parameters:
        curriculum (`bool`, defaults to `True`):
            Sample prompts and allocate rollouts by the CurES curriculum (False: plain GRPO, e.g. for a control).
    """

    curriculum: bool = field(
        default=True, metadata={"help": "Sample prompts and allocate rollouts by the CurES curriculum."}
    )


class CurESTrainer(CurriculumMixin, GRPOTrainer):
    """[`trl.GRPOTrainer`] with the CurES curriculum (module docstring; `CurESConfig`)."""

    _tag_names = ["trl", "trl-ext", "cures", "curriculum"]
    _name = "CurES"
    _paper = {
        "title": "CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning LLMs",
        "id": "2510.01037",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{zeng2025cures,
                title        = {{CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning LLMs}},
                author       = {Yongcheng Zeng and Zexu Sun and Bokai Ji and Erxue Min and Hengyi Cai and Shuaiqiang Wang and Dawei Yin and Haifeng Zhang and Xu Chen and Jun Wang},
                year         = 2025,
                eprint       = {arXiv:2510.01037},
            }"""),
    }
