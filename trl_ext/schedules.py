"""Learning-rate schedules from the seed papers, as `lr_scheduler_type` values of any recipe.

- `rex`: REX (Chen, Wolfe & Kyrillidis, "REX: Revisiting Budgeted Training with an Improved Schedule", arXiv
  2107.04197): lr_t = lr_0 · (1 − t/T) / (1/2 + (1 − t/T)/2), t = 0 … T−1, using pytorch-optimizer's
  `REXScheduler`. That class runs the first optimizer step at `min_lr` (its constructor steps once and then resets
  the rate); `rex_scheduler` puts the first step at lr_0, so step t gets the paper's lr_t.
- `refined`: the schedule refined from a previous run's gradient norms (Defazio, Cutkosky, Mehta & Mishchenko,
  "When, Why and How Much? Adaptive Learning Rate Scheduling by Refinement", arXiv 2310.07831), computed by
  `refined_multipliers` (the paper's Algorithm 1) and stored in a schedule file that `scripts/refine_schedule.py`
  writes from the run's `trainer_state.json`; the recipe names it in `lr_scheduler_kwargs: {schedule_file: ...}`.

transformers checks `lr_scheduler_type` against its `SchedulerType` enum (in `TrainingArguments.__post_init__` and
in `HfArgumentParser`'s choices) and `get_scheduler` looks the name up in `TYPE_TO_SCHEDULER_FUNCTION`. Neither has
a public registry, so importing this module adds the two names to both (as `aenum.extend_enum` would): every
trainer and `TrlParser` accept them, and no trainer method is overridden.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import trainer_utils
from transformers.optimization import TYPE_TO_SCHEDULER_FUNCTION

SCHEDULE_FORMAT = "trl-ext-refined-schedule-1"


def rex_factor(step: int, total_steps: int) -> float:
    """REX's multiplier of the peak rate at step t of T (arXiv 2107.04197, eq. 1): (1 − z) / (1/2 + (1 − z)/2)."""
    if step >= total_steps:
        return 0.0
    remaining = 1 - step / total_steps
    return remaining / (0.5 + 0.5 * remaining)


def refined_multipliers(grad_norms, window: int = 1, power: int = 2) -> list[float]:
    """The refined schedule of arXiv 2310.07831, Algorithm 1: smooth the observed gradient norms with a median
    filter of width `window`, w_t = ĝ_t^(−power), η_t = w_t · Σ_{p>t} w_p, normalised to a peak of 1.

    power=2 is the paper's rule for SGD (ℓ2 norms); power=1 its rule for Adam-type methods, where the paper uses ℓ1
    norms (TRL logs ℓ2 norms, which then stand in for them). Constant norms give linear decay to zero."""
    norms = np.asarray(list(grad_norms), dtype=np.float64)
    if norms.ndim != 1 or len(norms) < 2:
        raise ValueError(f"need at least 2 gradient norms, got {len(norms)}")
    if not np.all(np.isfinite(norms)) or np.any(norms <= 0):
        raise ValueError("gradient norms must be finite and positive")
    if window < 1 or power not in (1, 2):
        raise ValueError(f"need window >= 1 and power 1 or 2, got window={window}, power={power}")
    from scipy.ndimage import median_filter

    smoothed = median_filter(norms, size=window, mode="nearest")
    weights = smoothed ** (-power)
    tail = np.concatenate([np.cumsum(weights[::-1])[::-1][1:], [0.0]])  # Σ_{p>t} w_p
    eta = weights * tail
    return (eta / eta.max()).tolist()


def multiplier_at(multipliers: list[float], step: int, total_steps: int) -> float:
    """A stored schedule (one multiplier per step of the run it came from) read at step `step` of a run of
    `total_steps`, by linear interpolation on the fraction of training done."""
    if step >= total_steps:
        return 0.0
    position = step / total_steps * len(multipliers)
    return float(np.interp(position, np.arange(len(multipliers)), multipliers))


def grad_norms_from_trainer_state(path: str | Path) -> list[float]:
    """The per-step `grad_norm` values of a run's `trainer_state.json` (its `log_history`), in step order."""
    state = json.loads(Path(path).read_text())
    entries = sorted((e["step"], e["grad_norm"]) for e in state.get("log_history", []) if "grad_norm" in e)
    if len(entries) < 2:
        raise ValueError(
            f"{path}: fewer than 2 logged grad_norm values; run the first training with logging_steps: 1"
        )
    return [float(norm) for _, norm in entries]


def write_schedule(path: str | Path, multipliers: list[float], **provenance) -> None:
    from trl_ext.hub import atomic_write_bytes

    record = {"format": SCHEDULE_FORMAT, **provenance, "multipliers": multipliers}
    atomic_write_bytes(Path(path), (json.dumps(record, indent=1) + "\n").encode())


def read_schedule(path: str | Path) -> list[float]:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the refined schedule file {path}: {err}") from None
    if record.get("format") != SCHEDULE_FORMAT or not record.get("multipliers"):
        raise ValueError(f"{path} is not a refined schedule (scripts/refine_schedule.py writes one)")
    return [float(m) for m in record["multipliers"]]


def _no_warmup(name: str, num_warmup_steps: int | None) -> None:
    if num_warmup_steps:
        raise ValueError(
            f"lr_scheduler_type {name} sets the whole schedule (a refined one starts low where the gradient norms "
            "ask for it; REX decays from the first step): set warmup_steps: 0"
        )


def rex_scheduler(
    optimizer: torch.optim.Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    min_lr_ratio: float = 0.0,
):
    """`lr_scheduler_type: rex`: pytorch-optimizer's REXScheduler from the optimizer's rate down to
    `min_lr_ratio` × that rate (`lr_scheduler_kwargs: {min_lr_ratio: ...}`), first step at the peak."""
    from pytorch_optimizer.lr_scheduler.rex import REXScheduler

    _no_warmup("rex", num_warmup_steps)
    peaks = {group["lr"] for group in optimizer.param_groups}
    if len(peaks) != 1:
        raise ValueError(
            f"lr_scheduler_type rex needs one learning rate for all parameter groups, got {sorted(peaks)}"
        )
    peak = peaks.pop()
    scheduler = REXScheduler(
        optimizer, total_steps=num_training_steps, max_lr=peak, min_lr=min_lr_ratio * peak
    )
    # REXScheduler leaves the first step at min_lr: start at the peak instead
    for group in optimizer.param_groups:
        group["lr"] = peak
    scheduler.last_lr = scheduler._last_lr = [peak] * len(optimizer.param_groups)
    return scheduler


def refined_scheduler(
    optimizer: torch.optim.Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    schedule_file: str | None = None,
):
    """`lr_scheduler_type: refined` with `lr_scheduler_kwargs: {schedule_file: PATH}`: the optimizer's rate times
    the stored refined multipliers, stretched to this run's length."""
    _no_warmup("refined", num_warmup_steps)
    if not schedule_file:
        raise ValueError("lr_scheduler_type refined needs lr_scheduler_kwargs: {schedule_file: PATH}")
    multipliers = read_schedule(schedule_file)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: multiplier_at(multipliers, step, num_training_steps)
    )


def register(value: str, function) -> None:
    """Add `value` to transformers' SchedulerType and map it to `function` in get_scheduler's table."""
    enum = trainer_utils.SchedulerType
    if value not in enum._value2member_map_:
        member = str.__new__(enum, value)
        member._name_, member._value_ = value.upper(), value
        member.__objclass__ = enum
        enum._member_map_[member._name_] = member
        enum._value2member_map_[value] = member
        enum._member_names_.append(member._name_)
    TYPE_TO_SCHEDULER_FUNCTION[enum(value)] = function


register("rex", rex_scheduler)
register("refined", refined_scheduler)
