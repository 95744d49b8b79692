"""PassAtKTrainer: GRPO that optimises what is done with k samples at inference time.

Papers: "Optimizing Language Models for Inference Time Objectives using Reinforcement Learning" (Tang et al.
2025, arXiv 2503.19595); "Pass@K Policy Optimization" (Walder & Karkhanis 2025, arXiv 2505.15201).

The one thing it changes in GRPO: the advantages. From the rewards of each group of `num_generations`
samples (gathered across processes) it computes the exact, unbiased per-sample advantages of the k-sample
objective (`trl_ext.objectives`: pass@k on rewards binarised at `success_threshold`, max@k on raw rewards, or
maj@k on canonical answers), then this process's slice replaces GRPO's group-normalised advantages. Variant: the
subset-averaged estimator with a leave-one-out baseline (PKPO's for `passk_baseline="loo_minus_one"`); maj@k's
gradient is Tang et al.'s objective computed by exact counting (our derivation; unverified against their code,
which is not public). What TRL then does with the advantages (loss normalisation, clipping, importance sampling)
can make the update depart from an unbiased estimate of ∇J: see `PassAtKConfig` ("Exactness") and
`exactness_departures`, which the trainer logs once at start.
"""

from __future__ import annotations

import importlib
import math
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from accelerate.utils import gather_object
from transformers.utils import logging
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import get_config_model_id

from trl_ext.execution.backends import ExecutionArguments
from trl_ext.objectives import (
    BASELINES,
    majority_advantages,
    majority_value,
    maxk_value,
    passk_advantages,
    total_rewards,
)
from trl_ext.trainers.cures import CurriculumArguments, CurriculumMixin

logger = logging.get_logger(__name__)

OBJECTIVES = ("pass@k", "max@k", "maj@k")
SCALINGS = ("batch", "none")
_SCHEDULE = re.compile(r"^\s*\d+\s*:\s*\d+\s*(,\s*\d+\s*:\s*\d+\s*)*$")


def load_callable(path: str) -> Callable:
    """Import `package.module:function` or `package.module.function`."""
    module_name, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"cannot import answer function {path!r}: {err}") from err
    if not callable(fn):
        raise ValueError(f"answer function {path!r} is not callable")
    return fn


def parse_k_schedule(schedule: str) -> list[tuple[int, int]]:
    """'8:0,1:500' → [(0, 8), (500, 1)]: k = 8 from step 0, k = 1 from step 500."""
    if not _SCHEDULE.match(schedule):
        raise ValueError(f"k_schedule must look like 'K:STEP,K:STEP' (e.g. '8:0,1:500'), got {schedule!r}")
    pairs = sorted((int(step), int(k)) for k, step in (item.split(":") for item in schedule.split(",")))
    steps = [step for step, _ in pairs]
    if len(set(steps)) != len(steps):
        repeated = sorted({step for step in steps if steps.count(step) > 1})
        raise ValueError(f"k_schedule sets k twice at step {repeated[0]}: {schedule!r}")
    if pairs[0][0] != 0:
        raise ValueError(f"k_schedule must start at step 0, got {schedule!r}")
    return pairs


def _groups(answers: list, group_size: int) -> list[list]:
    return [answers[i : i + group_size] for i in range(0, len(answers), group_size)]


def successes(rewards: torch.Tensor, success_threshold: float) -> torch.Tensor:
    """1.0 where the reward exceeds the threshold, 0.0 elsewhere, NaN (unscorable) kept; float64."""
    rewards = rewards.double()
    return torch.where(rewards.isnan(), rewards, (rewards > success_threshold).double())


def unscaled_advantages(
    rewards: torch.Tensor,
    answers: list | None,
    k: int,
    objective: str,
    success_threshold: float,
    baseline: str = "loo",
) -> torch.Tensor:
    """The exact advantages, float64 (groups, G), from the total rewards (groups, G) of the whole (gathered) batch
    (NaN: unscorable, left out of its group, advantage 0) and, for maj@k, the canonical answers (a flat list, group
    after group)."""
    success = successes(rewards, success_threshold)
    if objective == "pass@k":
        return passk_advantages(success, k, baseline)
    if objective == "max@k":
        return passk_advantages(rewards, k, baseline)
    return majority_advantages(_groups(answers, rewards.shape[1]), success, k, baseline)


def scale(advantages: torch.Tensor, scored: torch.Tensor, how: str) -> torch.Tensor:
    """`"batch"`: divide by the standard deviation over the batch's scorable samples; `"none"`: unchanged."""
    if how == "batch" and scored.sum() > 1:
        return advantages / (advantages[scored].std() + 1e-8)
    return advantages


def objective_advantages(
    rewards: torch.Tensor,
    answers: list | None,
    k: int,
    objective: str,
    success_threshold: float,
    baseline: str = "loo",
    scale_advantages: str = "batch",
) -> torch.Tensor:
    """The advantages the trainer uses: `unscaled_advantages`, then `scale`."""
    exact = unscaled_advantages(rewards, answers, k, objective, success_threshold, baseline)
    return scale(exact, ~rewards.isnan(), scale_advantages)


def objective_value(
    rewards: torch.Tensor, answers: list | None, k: int, objective: str, success_threshold: float
) -> float:
    """The batch's estimate of the trained k-sample objective (mean over the groups with ≥ k scorable samples):
    pass@k, max@k or maj@k. NaN when no group qualifies."""
    if objective == "maj@k":
        success = successes(rewards, success_threshold)
        values = [
            majority_value(group, row.tolist(), k)
            for group, row in zip(_groups(answers, rewards.shape[1]), success)
            if (~row.isnan()).sum() >= k
        ]
        return sum(values) / len(values) if values else math.nan
    if objective == "pass@k":
        rewards = successes(rewards, success_threshold)
    return maxk_value(rewards, k).nanmean().item()


def exactness_departures(args: GRPOConfig) -> list[str]:
    """The settings under which the update is not (a positive constant times) an unbiased estimate of ∇J for the
    exact advantages, one line each (empty: exact). `PassAtKConfig`'s docstring explains each."""
    out = []
    if args.scale_advantages != "none":
        out.append(f"scale_advantages={args.scale_advantages!r} divides by a batch statistic (use 'none')")
    if args.loss_type != "dr_grpo":
        out.append(
            f"loss_type={args.loss_type!r} is not a per-sequence sum of token terms divided by a constant "
            "(use 'dr_grpo')"
        )
    if args.importance_sampling_level != "token":
        out.append(f"importance_sampling_level={args.importance_sampling_level!r} (use 'token')")
    if args.num_iterations > 1 or args.steps_per_generation > args.gradient_accumulation_steps:
        out.append(
            f"num_iterations={args.num_iterations}, steps_per_generation={args.steps_per_generation} > "
            f"gradient_accumulation_steps={args.gradient_accumulation_steps}: off-policy updates with clipped ratios"
        )
    if args.use_vllm and args.vllm_importance_sampling_correction:
        out.append("vllm_importance_sampling_correction=True truncates/masks importance ratios")
    if args.beta != 0.0:
        out.append(f"beta={args.beta} adds a KL penalty (the gradient of J − β·KL)")
    if args.entropy_coef != 0.0 or args.use_adaptive_entropy:
        out.append("an entropy bonus (entropy_coef / use_adaptive_entropy) adds another objective")
    if args.top_entropy_quantile < 1.0:
        out.append(f"top_entropy_quantile={args.top_entropy_quantile} drops tokens from the loss")
    if args.mask_truncated_completions:
        out.append("mask_truncated_completions=True drops samples from the loss")
    if args.top_p < 1.0 or args.top_k or args.min_p or args.repetition_penalty != 1.0:
        out.append(
            "top_p/top_k/min_p/repetition_penalty sample from a distribution other than the trained policy"
        )
    return out


@dataclass
class PassAtKConfig(ExecutionArguments, CurriculumArguments, GRPOConfig):
    r"""
    Configuration for [`PassAtKTrainer`]. Inherits every [`trl.GRPOConfig`] parameter.

    Parameters:
        objective (`str`, defaults to `"pass@k"`):
            The k-sample objective: `"pass@k"` (rewards binarised at `success_threshold`), `"max@k"` (expected best
            reward of k samples, continuous rewards) or `"maj@k"` (probability that the majority answer of k samples
            is correct; needs canonical answers, see `answer_fn`).
        k (`int`, defaults to `4`):
            Number of inference-time samples. Must satisfy 1 <= k <= num_generations; k = 1 is RLOO.
        k_schedule (`str`, *optional*):
            Piecewise-constant schedule `"K:STEP,K:STEP"`, e.g. `"8:0,1:500"` trains pass@8 then pass@1 from step
            500 (PKPO's annealing). Overrides `k`.
        success_threshold (`float`, defaults to `0.5`):
            A sample is a success (pass@k) or correct (maj@k) when its total reward exceeds this.
        answer_fn (`str`, *optional*):
            maj@k: dotted path of `fn(completions, **columns) -> list` giving each completion's canonical answer
            (hashable, None to abstain). Defaults to `trl_ext.rewards.task_answers`, which needs a `task` column.
        passk_baseline (`str`, defaults to `"loo"`):
            Leave-one-out baseline: `"loo"` (the k-sample estimate from the other samples when n > k, else the
            (k-1)-sample one) or `"loo_minus_one"` (PKPO's (k-1)-subset baseline). Both keep the gradient unbiased.
        scale_advantages (`str`, defaults to `"batch"`):
            `"batch"` divides the advantages by their standard deviation over the batch's scorable samples (the step
            size becomes comparable to GRPO's, but the divisor depends on every sample, so the estimate is biased: a
            review measured 11–20° off ∇max@k for continuous rewards); `"none"` keeps the exact estimator.

    Exactness: the advantages themselves are exact (E[Σ_i A_i ∇log π(y_i)] = ∇J, J the k-sample objective of each
    prompt, estimated from its scorable samples). The *update* TRL builds from them is a positive constant times an
    unbiased estimate of ∇J only with all of: `scale_advantages="none"`; `loss_type="dr_grpo"` (per-sequence sums
    of token terms divided by a constant; `grpo` divides each sequence by its length, `dapo`/`bnpo`/`cispo` by the
    batch's token count); `importance_sampling_level="token"`; on-policy updates (`num_iterations=1` and
    `steps_per_generation == gradient_accumulation_steps`, so ratios are 1 and clipping never acts); no
    `vllm_importance_sampling_correction` (vLLM's own sampling must then match the policy); `beta=0`, no entropy
    bonus, `top_entropy_quantile=1`, `mask_truncated_completions=False`; and sampling from the policy itself
    (`top_p=1`, `top_k=0`, no `min_p`, `repetition_penalty=1`; `temperature` is fine: TRL scores with the same
    temperature). The trainer logs one warning at start naming each departure. It ignores `scale_rewards` and
    `multi_objective_aggregation` (the total reward is the weighted sum of the reward functions, as TRL's default
    `sum_then_normalize`, and the objective replaces GRPO's normalisation); it warns if they are set.
    Unscorable samples (every reward function returned None) are left out of their group's objective and get
    advantage 0, as in TRL; a group with fewer than k scorable samples gets advantage 0. "Exact" then no longer holds
    for J. What the update estimates instead: a group's m scorable samples are i.i.d. from π_s = π·1[scorable]/S,
    S = P_π(scorable) (when scorability depends on the sample only), and the advantages are exact for π_s, so
    E[Σ_i A_i ∇log π(y_i) | m] = ∇J(π_s) + a_m·∇log S, using ∇log π = ∇log π_s + ∇log S on scorable samples; here
    J(π_s) is the k-sample objective of the scorable samples only and a_m = E[Σ_i A_i | m], which depends on the
    baseline and is not 0 in general. The expected update is the sum of these terms over m ≥ k, weighted by
    P(m). So it is parallel neither to ∇J(π_s) nor, in general, to ∇J with unscorable samples counted as failures:
    a review measured cosines of 0.96–0.999 to both with `loo`, and with `loo_minus_one` an update parallel to the
    latter at 1.05–1.27× its size (ALGORITHMS.md §7). Exact: only when every sample is scorable
    (`passk/frac_unscorable` 0).
    """

    objective: str = field(
        default="pass@k", metadata={"help": "pass@k, max@k or maj@k.", "choices": OBJECTIVES}
    )
    k: int = field(default=4, metadata={"help": "Inference-time samples k (1 <= k <= num_generations)."})
    k_schedule: str | None = field(default=None, metadata={"help": "Piecewise-constant k, e.g. '8:0,1:500'."})
    success_threshold: float = field(
        default=0.5, metadata={"help": "Reward above which a sample counts as correct."}
    )
    answer_fn: str | None = field(
        default=None, metadata={"help": "maj@k: dotted path of the canonical-answer function."}
    )
    passk_baseline: str = field(
        default="loo", metadata={"help": "loo or loo_minus_one.", "choices": BASELINES}
    )
    scale_advantages: str = field(default="batch", metadata={"help": "batch or none.", "choices": SCALINGS})

    def __post_init__(self):
        super().__post_init__()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.passk_baseline not in BASELINES:
            raise ValueError(f"passk_baseline must be one of {BASELINES}, got {self.passk_baseline!r}")
        if self.scale_advantages not in SCALINGS:
            raise ValueError(f"scale_advantages must be one of {SCALINGS}, got {self.scale_advantages!r}")
        ks = [k for _, k in parse_k_schedule(self.k_schedule)] if self.k_schedule else [self.k]
        for k in ks:
            if k < 1:
                raise ValueError(f"k must be at least 1, got {k}")
            if k > self.num_generations:
                raise ValueError(
                    f"k={k} exceeds num_generations={self.num_generations}: the objective is estimated from the "
                    "num_generations samples of each prompt, so it needs num_generations >= k"
                )
        if self.answer_fn is not None:
            load_callable(self.answer_fn)


class PassAtKTrainer(CurriculumMixin, GRPOTrainer):
    """[`trl.GRPOTrainer`] with the advantages of a k-sample objective (module docstring; `PassAtKConfig`).
    With `args=None` it uses `PassAtKConfig("<model name>-PassAtK")`, as `GRPOTrainer` does with its config."""

    _tag_names = ["trl", "trl-ext", "pass-at-k"]
    _name = "PassAtK"
    _paper = {
        "title": "Optimizing Language Models for Inference Time Objectives using Reinforcement Learning",
        "id": "2503.19595",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{tang2025inference,
                title        = {{Optimizing Language Models for Inference Time Objectives using Reinforcement Learning}},
                author       = {Yunhao Tang and Kunhao Zheng and Gabriel Synnaeve and R{\'e}mi Munos},
                year         = 2025,
                eprint       = {arXiv:2503.19595},
            }
            @article{walder2025pkpo,
                title        = {{Pass@K Policy Optimization: Solving Harder Reinforcement Learning Problems}},
                author       = {Christian Walder and Deep Karkhanis},
                year         = 2025,
                eprint       = {arXiv:2505.15201},
            }"""),
    }

    def __init__(self, model, reward_funcs=None, args: PassAtKConfig | None = None, *rest, **kwargs):
        if args is None:
            name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = PassAtKConfig(f"{name.split('/')[-1]}-PassAtK")
        super().__init__(model, reward_funcs, args, *rest, **kwargs)
        self._answer_fn = None
        if self.args.objective == "maj@k":
            if self.args.answer_fn:
                self._answer_fn = load_callable(self.args.answer_fn)
            else:
                if "task" not in _column_names(self.train_dataset):
                    raise ValueError(
                        "objective maj@k needs canonical answers: give answer_fn (a dotted path) or a dataset with a "
                        "`task` column (trl_ext.rewards.task_answers)"
                    )
                from trl_ext.rewards import task_answers

                self._answer_fn = task_answers
        self._gathered_rewards = None
        self._gathered_answers = None
        self._warned: set[str] = set()
        self._warn_at_start()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    def _warn_at_start(self) -> None:
        args = self.args
        departures = exactness_departures(args)
        if departures:
            self._warn_once(
                "exact",
                "PassAtK: the advantages are exact, but the update is not an unbiased estimate of ∇J because of: "
                + "; ".join(departures),
            )
        ignored = [
            f"{name}={getattr(args, name)!r}"
            for name, default in (
                ("scale_rewards", "group"),
                ("multi_objective_aggregation", "sum_then_normalize"),
            )
            if getattr(args, name) != default
        ]
        if ignored:
            self._warn_once(
                "ignored", f"PassAtK ignores {', '.join(ignored)}: the k-sample objective sets advantages"
            )
        ks = [k for _, k in parse_k_schedule(args.k_schedule)] if args.k_schedule else [args.k]
        if args.num_generations in ks:
            self._warn_once(
                "n=k",
                f"k = num_generations = {args.num_generations}: with n = k most leave-one-out advantages are zero "
                "(only a sample that alone decides the objective gets a signal); use num_generations > k",
            )

    def current_k(self) -> int:
        if not self.args.k_schedule:
            return self.args.k
        step = self.state.global_step
        return [k for start, k in parse_k_schedule(self.args.k_schedule) if start <= step][-1]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._gathered_rewards = rewards_per_func  # (global B·G, n_funcs), gathered by GRPO
        if self._answer_fn is not None:
            columns = {
                key: [example[key] for example in inputs]
                for key in inputs[0]
                if key not in ("prompt", "completion")
            }
            answers = self._answer_fn(completions, **columns)
            self._gathered_answers = gather_object(list(answers))
        return rewards_per_func

    def _total_rewards(self) -> torch.Tensor:
        """Weighted sum over reward functions (as TRL), NaN where every function returned None."""
        return total_rewards(self._gathered_rewards, self.reward_weights).cpu().double()

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        k = self.current_k()
        if k > group_size:
            self._warn_once(
                f"clamp-{mode}",
                f"PassAtK: k={k} > {group_size} generations per prompt in {mode}: the {mode} metrics use k={group_size}",
            )
            k = group_size
        rewards = self._total_rewards().view(-1, group_size)
        answers = self._gathered_answers
        args = self.args
        exact = unscaled_advantages(
            rewards, answers, k, args.objective, args.success_threshold, args.passk_baseline
        )
        scored = ~rewards.isnan()
        advantages = scale(exact, scored, args.scale_advantages).flatten()
        local = len(out["prompt_ids"])
        process_slice = slice(
            self.accelerator.process_index * local, (self.accelerator.process_index + 1) * local
        )
        out["advantages"] = advantages[process_slice].to(out["advantages"].device, out["advantages"].dtype)
        # GRPO logged its own advantages for the completions table: show the ones used instead.
        logged = self._logs["advantages"]
        for _ in range(min(len(advantages), len(logged))):
            logged.pop()
        logged.extend(advantages.tolist())

        metrics = self._metrics[mode]
        metrics["passk/k"].append(float(k))
        metrics["passk/objective"].append(
            objective_value(rewards, answers, k, args.objective, args.success_threshold)
        )
        metrics["passk/pass@1"].append((rewards[scored] > args.success_threshold).double().mean().item())
        metrics["passk/frac_groups_nonzero_advantage"].append(
            (exact.abs() > 1e-12).any(dim=1).double().mean().item()
        )
        metrics["passk/frac_unscorable"].append(1.0 - scored.double().mean().item())
        if answers is not None:
            groups = _groups(answers, group_size)
            silent = [
                all(a is None for a, s in zip(g, row) if s) and row.any() for g, row in zip(groups, scored)
            ]
            metrics["passk/frac_groups_without_answers"].append(sum(silent) / len(groups))
            if any(silent):
                self._warn_once(
                    "no-answers",
                    "PassAtK maj@k: some groups have no canonical answer at all (e.g. code problems with only "
                    "`test_code`, or an answer_fn that returns None): maj@k is 0 for them and they get no gradient. "
                    "Use pass@k for such rows. (Logged as passk/frac_groups_without_answers.)",
                )
        return out


def _column_names(dataset) -> list[str]:
    """Column names of a Dataset, or of an IterableDataset (whose column_names may be unknown: then its first row)."""
    names = getattr(dataset, "column_names", None)
    if names is None and dataset is not None:
        names = list(next(iter(dataset)).keys())
    return list(names or [])
