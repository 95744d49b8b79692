"""PassAtKTrainer: GRPO that optimises what is done with k samples at inference time.

Papers: "Optimizing Language Models for Inference Time Objectives using Reinforcement Learning" (Tang et al.
2025, arXiv 2503.19595); "Pass@K Policy Optimization" (Walder & Karkhanis 2025, arXiv 2505.15201).

The one thing it changes in GRPO: the advantages. From the rewards of each group of `num_generations`
samples (gathered across processes) it computes the exact, unbiased per-sample advantages of the k-sample
objective (`trl_ext.objectives`: pass@k on rewards binarised at `success_threshold`, max@k on raw rewards, or
maj@k on canonical answers), then this process's slice replaces GRPO's group-normalised advantages.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from accelerate.utils import gather_object
from trl import GRPOConfig, GRPOTrainer

from trl_ext.objectives import BASELINES, majority_advantages, majority_value, pass_at_k, passk_advantages
from trl_ext.trainers.cures import CurriculumArguments, CurriculumMixin

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
    if pairs[0][0] != 0:
        raise ValueError(f"k_schedule must start at step 0, got {schedule!r}")
    return pairs


def objective_advantages(
    rewards: torch.Tensor,
    answers: list | None,
    k: int,
    objective: str,
    success_threshold: float,
    baseline: str = "loo",
    scale: str = "batch",
) -> torch.Tensor:
    """The trainer's advantages, shape (groups, G), from the total rewards (groups, G) of the whole (gathered)
    batch and, for maj@k, the canonical answers (a flat list, group after group)."""
    success = rewards > success_threshold
    if objective == "pass@k":
        advantages = passk_advantages(success.to(torch.float64), k, baseline)
    elif objective == "max@k":
        advantages = passk_advantages(rewards.to(torch.float64), k, baseline)
    else:
        group_size = rewards.shape[1]
        groups = [answers[i : i + group_size] for i in range(0, len(answers), group_size)]
        advantages = majority_advantages(groups, success, k, baseline).to(torch.float64)
    if scale == "batch" and advantages.numel() > 1:
        advantages = advantages / (advantages.std() + 1e-8)
    return advantages


@dataclass
class PassAtKConfig(CurriculumArguments, GRPOConfig):
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
            `"batch"` divides the advantages by their standard deviation over the batch (a positive scalar: the
            direction is unchanged, the step size comparable to GRPO's); `"none"` keeps the exact estimator.
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
    """[`trl.GRPOTrainer`] with the advantages of a k-sample objective (module docstring; `PassAtKConfig`)."""

    _tag_names = ["trl", "trl-ext", "pass-at-k"]
    _name = "PassAtK"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._answer_fn = None
        if self.args.objective == "maj@k":
            if self.args.answer_fn:
                self._answer_fn = load_callable(self.args.answer_fn)
            else:
                columns = getattr(self.train_dataset, "column_names", None) or []
                if "task" not in columns:
                    raise ValueError(
                        "objective maj@k needs canonical answers: give answer_fn (a dotted path) or a dataset with a "
                        "`task` column (trl_ext.rewards.task_answers)"
                    )
                from trl_ext.rewards import task_answers

                self._answer_fn = task_answers
        self._gathered_rewards = None
        self._gathered_answers = None

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

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        k = min(self.current_k(), group_size)
        weights = self.reward_weights.to(self._gathered_rewards.device)
        rewards = torch.nan_to_num((self._gathered_rewards * weights).nansum(dim=1).cpu(), nan=0.0).view(
            -1, group_size
        )
        answers = self._gathered_answers
        advantages = objective_advantages(
            rewards,
            answers,
            k,
            self.args.objective,
            self.args.success_threshold,
            self.args.passk_baseline,
            self.args.scale_advantages,
        )
        nonzero = (advantages.abs() > 1e-12).any(dim=1).float().mean().item()
        advantages = advantages.flatten()
        local = len(out["prompt_ids"])
        process_slice = slice(
            self.accelerator.process_index * local, (self.accelerator.process_index + 1) * local
        )
        out["advantages"] = advantages[process_slice].to(out["advantages"].device, out["advantages"].dtype)

        success = (rewards > self.args.success_threshold).sum(dim=1).tolist()
        metrics = self._metrics[mode]
        metrics["passk/k"].append(float(k))
        metrics[f"passk/pass@{k}"].append(sum(pass_at_k(group_size, c, k) for c in success) / len(success))
        metrics["passk/pass@1"].append(sum(success) / (len(success) * group_size))
        metrics["passk/frac_groups_nonzero_advantage"].append(nonzero)
        if answers is not None:
            correct = (rewards > self.args.success_threshold).tolist()
            groups = [answers[i : i + group_size] for i in range(0, len(answers), group_size)]
            metrics[f"passk/maj@{k}"].append(
                sum(majority_value(a, c, k) for a, c in zip(groups, correct)) / len(groups)
            )
        return out
