"""CurES: a curriculum from a Beta posterior of each prompt's success rate (pure math, torch + numpy only).

Paper: "CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning LLMs" (2025, arXiv
2510.01037; official code ZexuSun/CurES). Implemented here (ALGORITHMS.md §4):

- each prompt i keeps counts of successes s_i and failures f_i; its posterior is Beta(a0 + s_i, b0 + f_i) and
  p̂_i = (a0 + s_i) / (a0 + b0 + s_i + f_i) (`posterior_mean`); `update_counts` adds a batch's rollouts, with an
  optional forgetting factor so that p̂ follows a policy that changes;
- σ_i = sqrt(p̂_i (1 − p̂_i)) (`sigma_proxy`), the paper's cheap proxy for the per-prompt gradient scale (the
  paper also estimates σ from gradient norms; not done here: every function takes σ as given);
- prompts are sampled with ρ_i ∝ exp(σ_i / τ) (`sampling_weights`);
- the rollouts of a batch are shared ∝ σ_i under a fixed budget (`allocation_shares`, `systematic_round`);
- `draw_groups` puts these together for one batch of TRL groups (cold start first, then the floor's uniform
  groups, then ρ and the allocation for the rest).

What τ means here. σ lies in [0, ½], so ρ_max / ρ_min = exp(1 / (2τ)) at most: a prompt at p̂ = ½ is exp(1/(2τ))
times as likely as a solved or hopeless one (σ → 0); e.g. τ = 0.1 gives ×148, τ = 1 gives ×1.65. τ is a plain
constant on σ itself. The official sampler divides by t = (α + 1) / 0.01 ≥ 100 instead, so its weights are
within exp(0.5 / 100) ≈ 0.5 % of uniform: it samples almost uniformly. `normalised_entropy` (1 = uniform) is
logged by the trainer so that the effect of τ is visible.

The floor is applied once, to the whole pipeline: a share `floor` of a batch's groups (after the cold start) goes to
prompts drawn uniformly, one group each, and the rest to the curriculum (ρ without a floor, then the allocation
without a floor). So every prompt gets, in expectation, at least floor / N of those groups, i.e. of the batch's
rollouts, with or without allocation: solved and hopeless prompts are revisited (and their p̂ can move) instead of
silently vanishing, as they do in the official code when their rounded budget is 0. (Mixing the floor into both ρ
and the allocation shares would multiply it: a solved prompt would get about floor² / N.) For one group without
allocation the law of the drawn prompt is exactly `sampling_weights(σ, τ, floor)` = (1 − floor)·softmax(σ/τ) +
floor / N.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def update_counts(
    successes: torch.Tensor,
    failures: torch.Tensor,
    index: torch.Tensor,
    success: torch.Tensor,
    decay: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add the rollouts of one batch to the per-prompt counts.

    `successes`, `failures`: (N,) float counts. `index`: (R,) prompt id of each rollout; `success`: (R,) bool.
    Each prompt that appears in the batch first has its past counts multiplied by `decay` (1 keeps the whole
    history; < 1 forgets geometrically per visit, so p̂ follows the current policy). Returns new tensors."""
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    if index.shape != success.shape:
        raise ValueError(f"index {tuple(index.shape)} and success {tuple(success.shape)} differ in shape")
    index = index.long()
    hits = success.to(successes.dtype)
    new_s = torch.zeros_like(successes).index_add_(0, index, hits)
    new_f = torch.zeros_like(failures).index_add_(0, index, 1.0 - hits)
    seen = torch.zeros(len(successes), dtype=torch.bool).index_fill_(0, index, True)
    factor = torch.where(seen, torch.full_like(successes, decay), torch.ones_like(successes))
    return successes * factor + new_s, failures * factor + new_f


def posterior_mean(
    successes: torch.Tensor, failures: torch.Tensor, prior_successes: float = 1.0, prior_failures: float = 1.0
) -> torch.Tensor:
    """p̂ = α / (α + β) with α = prior_successes + successes, β = prior_failures + failures (Beta posterior)."""
    if prior_successes <= 0 or prior_failures <= 0:
        raise ValueError(
            f"the Beta prior needs positive parameters, got ({prior_successes}, {prior_failures})"
        )
    alpha = prior_successes + successes
    return alpha / (alpha + prior_failures + failures)


def sigma_proxy(p_hat: torch.Tensor) -> torch.Tensor:
    """σ = sqrt(p̂ (1 − p̂)): the standard deviation of a Bernoulli(p̂) reward, in [0, ½]."""
    return (p_hat * (1.0 - p_hat)).clamp_min(0.0).sqrt()


def _check_floor(floor: float) -> None:
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be in [0, 1], got {floor}")


def sampling_log_weights(sigma: torch.Tensor, tau: float, floor: float = 0.0) -> torch.Tensor:
    """log ρ with ρ = (1 − floor) · softmax(σ / τ) + floor / N, computed in log space (finite for every τ > 0,
    so that sampling without replacement works even when ρ underflows). τ = inf gives the uniform law."""
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    _check_floor(floor)
    n = sigma.numel()
    logits = torch.zeros_like(sigma) if math.isinf(tau) else sigma / tau
    log_softmax = torch.log_softmax(logits, dim=0)
    mixed = log_softmax + math.log1p(-floor) if floor < 1.0 else torch.full_like(sigma, -math.inf)
    return torch.logaddexp(mixed, torch.full_like(sigma, math.log(floor / n) if floor > 0 else -math.inf))


def sampling_weights(sigma: torch.Tensor, tau: float, floor: float = 0.0) -> torch.Tensor:
    """ρ_i ∝ exp(σ_i / τ), mixed with the uniform law: ρ = (1 − floor) · softmax(σ / τ) + floor / N."""
    return sampling_log_weights(sigma, tau, floor).exp()


def normalised_entropy(weights: torch.Tensor) -> float:
    """H(ρ) / log N: 1 for the uniform law, 0 for a point mass (0 when N = 1)."""
    n = weights.numel()
    if n <= 1:
        return 0.0
    p = weights / weights.sum()
    return float(-(p * torch.log(p.clamp_min(1e-300))).sum() / math.log(n))


def allocation_shares(sigma: torch.Tensor, floor: float = 0.0) -> torch.Tensor:
    """Share of the rollout budget of each of n drawn prompts: (1 − floor) · σ_i / Σσ + floor / n (uniform when
    every σ is 0)."""
    _check_floor(floor)
    n = sigma.numel()
    total = sigma.sum()
    proportional = sigma / total if total > 0 else torch.full_like(sigma, 1.0 / n)
    return (1.0 - floor) * proportional + floor / n


def systematic_round(shares: torch.Tensor, total: int, offset: float) -> torch.Tensor:
    """Integer counts n_i with Σ n_i = total exactly, each n_i ∈ {⌊x_i⌋, ⌈x_i⌉} for x_i = total · shares_i, and,
    over offset ~ U[0, 1), E[n_i] = x_i (systematic sampling: n_i = ⌊C_i + u⌋ − ⌊C_{i−1} + u⌋, C the cumulative
    sums of x). So the allocation is exact in expectation and never off by more than one group."""
    if not 0.0 <= offset < 1.0:
        raise ValueError(f"offset must be in [0, 1), got {offset}")
    x = shares.to(torch.float64) / shares.sum() * total
    cumulative = torch.cumsum(x, 0)
    cumulative[-1] = total  # no rounding drift: the total is exact
    edges = torch.floor(torch.cat([torch.zeros(1, dtype=torch.float64), cumulative]) + offset)
    return (edges[1:] - edges[:-1]).long()


def draw_groups(
    sigma: torch.Tensor,
    rollouts: torch.Tensor,
    num_groups: int,
    rng: np.random.Generator,
    *,
    tau: float,
    floor: float = 0.0,
    allocation: bool = True,
    cold_start: int = 0,
) -> np.ndarray:
    """The prompt of each of `num_groups` groups of one batch (a prompt listed twice gets two groups).

    1. Cold start: prompts with fewer than `cold_start` observed rollouts (`rollouts`, (N,)) come first, chosen
       uniformly without replacement, one group each.
    2. The floor: of the S other slots, ⌊S·floor + u⌋ (u ~ U[0, 1): S·floor in expectation) go to distinct prompts
       chosen uniformly among the other (warm) prompts, one group each.
    3. The curriculum: the remaining slots go to distinct warm prompts drawn without replacement with probability
       ∝ exp(σ/τ) (no floor), by Gumbel top-k on the log-weights (exact successive sampling, stable when they
       underflow). With `allocation` they are then redistributed over those prompts ∝ σ (`allocation_shares`
       without a floor, `systematic_round`): high-σ prompts get several groups, a prompt rounded to 0 sits out.
       Without allocation each drawn prompt gets one group, as in GRPO.
    A prompt may be drawn by both steps 2 and 3 (two groups). Every warm prompt gets, in expectation, at least
    floor · S / N_warm groups (module docstring). The groups are returned in random order."""
    n = sigma.numel()
    if num_groups < 1 or num_groups > n:
        raise ValueError(f"a batch of {num_groups} groups needs 1 <= groups <= the number of prompts ({n})")
    _check_floor(floor)
    cold = np.flatnonzero(rollouts.numpy() < cold_start)
    picked_cold = rng.choice(cold, size=min(len(cold), num_groups), replace=False)
    warm = np.setdiff1d(np.arange(n), picked_cold)
    slots = num_groups - len(picked_cold)
    groups = [picked_cold]
    uniform_slots = min(slots, math.floor(slots * floor + rng.random()))
    if uniform_slots:
        groups.append(rng.choice(warm, size=uniform_slots, replace=False))
    if slots > uniform_slots:
        slots -= uniform_slots
        warm_sigma = sigma[torch.from_numpy(warm)]
        keys = sampling_log_weights(warm_sigma, tau).numpy() + rng.gumbel(size=len(warm))
        chosen = warm[np.argsort(-keys, kind="stable")[:slots]]
        if allocation:
            shares = allocation_shares(sigma[torch.from_numpy(chosen)])
            counts = systematic_round(shares, slots, float(rng.random())).numpy()
            chosen = np.repeat(chosen, counts)
        groups.append(chosen)
    return rng.permutation(np.concatenate(groups)).astype(np.int64)
