"""The math of inference-time objectives, as pure functions (tensors in, tensors out; no trainer imports).

- `pass_at_k`: the unbiased pass@k estimate from n samples with c correct (Chen et al. 2021, arXiv 2107.03374).
- `passk_advantages`: per-sample advantages whose policy gradient is unbiased for E[max of k samples]
  (pass@k for binary rewards), after "Pass@K Policy Optimization" (Walder & Karkhanis 2025, arXiv 2505.15201)
  and Tang et al. 2025 (arXiv 2503.19595).
- `majority_advantages`: the same for maj@k, the probability that the majority answer of k samples is correct.

All three objectives are estimated from n ≥ k samples by averaging the k-sample objective f(S) over every
k-subset S of the n samples. Then the exact per-sample weight in ∇J = E[Σ_i w_i ∇log π(y_i)] is
w_i = mean over the C(n, k) subsets of [i ∈ S]·f(S) (ALGORITHMS.md §1), computed here by counting, never by
enumerating subsets.

Baseline (leave-one-out, so the estimator stays unbiased): b_i = (k/n)·est_m(y_{-i}), the unbiased estimate
of the m-sample objective from the other n−1 samples, scaled like w_i (Σ_i w_i = k·Ĵ), with
- m = k when n > k (`baseline="loo"`, the default): for k = 1 this is RLOO, (r_i − mean of the others)/n;
- m = k − 1 otherwise, and always with `baseline="loo_minus_one"` (PKPO's baseline from (k−1)-subsets of the
  others; for n = k it is Tang et al.'s f(y) − f(y_{−i})). With n = k = 1 there are no other samples: b = 0.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from functools import cache

import torch

BASELINES = ("loo", "loo_minus_one")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c are correct: 1 − C(n−c, k)/C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _check(n: int, k: int, baseline: str) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")


def _baseline_size(n: int, k: int, baseline: str) -> int:
    return k if baseline == "loo" and n > k else k - 1


# ------------------------------------------------------------------------------------- max@k / pass@k


@cache
def _max_coefficients(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For ranks j = 1..n (ascending): C(j−1, k−1)/C(n, k) and C(j−2, k−2)/C(n, k), as float64."""
    total = math.comb(n, k)
    own = [math.comb(j - 1, k - 1) / total for j in range(1, n + 1)]
    above = [math.comb(j - 2, k - 2) / total if j >= 2 and k >= 2 else 0.0 for j in range(1, n + 1)]
    return torch.tensor(own, dtype=torch.float64), torch.tensor(above, dtype=torch.float64)


@cache
def _loo_max_coefficients(n: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Leave-one-out m-subset max of the other n−1 samples, for sample at rank i (ascending, 1-based):
    mean over m-subsets T of the others of max(T) = [Σ_{j<i} C(j−1, m−1) r_(j) + Σ_{j>i} C(j−2, m−1) r_(j)]
    / C(n−1, m). Returns the two coefficient vectors over ranks j."""
    if m == 0:
        zeros = torch.zeros(n, dtype=torch.float64)
        return zeros, zeros
    total = math.comb(n - 1, m)
    below = [math.comb(j - 1, m - 1) / total for j in range(1, n + 1)]
    above = [math.comb(j - 2, m - 1) / total if j >= 2 else 0.0 for j in range(1, n + 1)]
    return torch.tensor(below, dtype=torch.float64), torch.tensor(above, dtype=torch.float64)


def _suffix_sum_exclusive(x: torch.Tensor) -> torch.Tensor:
    """out[..., i] = Σ_{j>i} x[..., j]."""
    return x.flip(-1).cumsum(-1).flip(-1) - x


def _prefix_sum_exclusive(x: torch.Tensor) -> torch.Tensor:
    """out[..., i] = Σ_{j<i} x[..., j]."""
    return x.cumsum(-1) - x


def maxk_weights(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """w_i = (1/C(n,k)) Σ_{|S|=k, S∋i} max(S), for rewards of shape (groups, n). O(n log n) per group."""
    n = rewards.shape[-1]
    sorted_r, order = rewards.to(torch.float64).sort(dim=-1)
    own, above = _max_coefficients(n, k)
    w_sorted = own * sorted_r + _suffix_sum_exclusive(above * sorted_r)
    return torch.empty_like(w_sorted).scatter_(-1, order, w_sorted)


def loo_maxk_estimate(rewards: torch.Tensor, m: int) -> torch.Tensor:
    """For each sample i, the unbiased estimate of E[max of m samples] from the other n−1 samples."""
    n = rewards.shape[-1]
    sorted_r, order = rewards.to(torch.float64).sort(dim=-1)
    below, above = _loo_max_coefficients(n, m)
    est_sorted = _prefix_sum_exclusive(below * sorted_r) + _suffix_sum_exclusive(above * sorted_r)
    return torch.empty_like(est_sorted).scatter_(-1, order, est_sorted)


def passk_advantages(rewards: torch.Tensor, k: int, baseline: str = "loo") -> torch.Tensor:
    """Advantages for E[max of k samples] (pass@k when rewards are 0/1), rewards of shape (groups, n), n ≥ k.

    A_i = w_i − (k/n)·est_m(y_{−i}) with w_i the exact subset-averaged weight and the leave-one-out baseline
    of the module docstring. E[Σ_i A_i ∇log π(y_i)] = ∇ E[max of k] exactly. Returns float tensor like rewards.
    """
    if rewards.dim() != 2:
        raise ValueError(f"rewards must have shape (groups, n), got {tuple(rewards.shape)}")
    n = rewards.shape[1]
    _check(n, k, baseline)
    w = maxk_weights(rewards, k)
    b = (k / n) * loo_maxk_estimate(rewards, _baseline_size(n, k, baseline))
    out_dtype = rewards.dtype if rewards.is_floating_point() else torch.float32
    return (w - b).to(out_dtype)


# ----------------------------------------------------------------------------------------------- maj@k


def _majority_subset_sum(
    counts: list[int], corr: list[float], n_none: int, k: int, forced: int | None
) -> float:
    """Σ over k-subsets S of f(S), f = tie-averaged correctness of the majority answer, by exact counting.

    counts[a]/corr[a]: size and correctness (mean over its samples) of answer cluster a; n_none: samples with
    no answer (they never win a vote). `forced`: a cluster index (or -1 for the no-answer samples) one of whose
    samples must be in S (then S ranges over subsets containing that sample). For a winning cluster a taking
    t samples, a DP over the other clusters counts the ways the rest of S is filled with every other cluster
    taking ≤ t, tracking how many tie at exactly t. O(A²·k³) for A clusters.
    """
    lo = [1 if forced == a else 0 for a in range(len(counts))]
    none_lo = 1 if forced == -1 else 0

    def ways(a: int, j: int) -> int:
        return math.comb(counts[a] - lo[a], j - lo[a]) if j >= lo[a] else 0

    def ways_none(j: int) -> int:
        return math.comb(n_none - none_lo, j - none_lo) if j >= none_lo else 0

    total = 0.0
    for a, (count_a, corr_a) in enumerate(zip(counts, corr)):
        if corr_a == 0:
            continue
        for t in range(1, min(k, count_a) + 1):
            w_a = ways(a, t)
            if w_a == 0:
                continue
            dp: dict[tuple[int, int], int] = {(0, 0): 1}  # (samples taken by other clusters, #ties) -> ways
            for b, count_b in enumerate(counts):
                if b == a:
                    continue
                nxt: dict[tuple[int, int], int] = defaultdict(int)
                for (taken, ties), ways_so_far in dp.items():
                    for j in range(lo[b], min(t, count_b, k - t - taken) + 1):
                        nxt[(taken + j, ties + (j == t))] += ways_so_far * ways(b, j)
                dp = nxt
            total += (
                corr_a
                * w_a
                * sum(c * ways_none(k - t - taken) / (ties + 1) for (taken, ties), c in dp.items())
            )
    return total


def _clusters(answers: Sequence[Hashable | None], correct: Sequence[bool]):
    sizes = Counter(a for a in answers if a is not None)
    keys = list(sizes)
    right: dict[Hashable, float] = defaultdict(float)
    for a, c in zip(answers, correct):
        if a is not None:
            right[a] += float(c)
    counts = [sizes[a] for a in keys]
    corr = [right[a] / sizes[a] for a in keys]
    return keys, counts, corr, sum(a is None for a in answers)


def majority_value(answers: Sequence[Hashable | None], correct: Sequence[bool], k: int) -> float:
    """Unbiased estimate of maj@k from n ≥ k samples: the mean over k-subsets of the tie-averaged majority
    correctness (ALGORITHMS.md §1: ties count (#correct tied)/(#tied); no-answer samples never win)."""
    n = len(answers)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")
    _, counts, corr, n_none = _clusters(answers, correct)
    return _majority_subset_sum(counts, corr, n_none, k, None) / math.comb(n, k)


def _majority_group(answers: list, correct: list[bool], k: int, baseline: str) -> list[float]:
    n = len(answers)
    keys, counts, corr, n_none = _clusters(answers, correct)
    index = {key: a for a, key in enumerate(keys)}
    m = _baseline_size(n, k, baseline)
    memo: dict[tuple, float] = {}
    out = []
    for i, answer in enumerate(answers):
        key = (answer, bool(correct[i]))
        if key not in memo:
            a = -1 if answer is None else index[answer]
            weight = _majority_subset_sum(counts, corr, n_none, k, a) / math.comb(n, k)
            base = 0.0
            if m:  # the same estimate from the other n−1 samples
                _, o_counts, o_corr, o_none = _clusters(
                    answers[:i] + answers[i + 1 :], correct[:i] + correct[i + 1 :]
                )
                base = _majority_subset_sum(o_counts, o_corr, o_none, m, None) / math.comb(n - 1, m)
            memo[key] = weight - (k / n) * base
        out.append(memo[key])
    return out


def majority_advantages(
    answers: Sequence[Sequence[Hashable | None]], correct: torch.Tensor, k: int, baseline: str = "loo"
) -> torch.Tensor:
    """Advantages for maj@k. `answers`: groups × n canonical answers (hashable, or None to abstain);
    `correct`: bool tensor (groups, n), per sample (an answer's correctness is the mean over its samples).
    Unbiased for ∇ P(majority of k is correct), by exact counting (no subset enumeration, no Monte Carlo)."""
    correct = torch.as_tensor(correct)
    if (
        correct.dim() != 2
        or correct.shape[0] != len(answers)
        or any(len(g) != correct.shape[1] for g in answers)
    ):
        raise ValueError(
            f"answers ({len(answers)} groups) and correct {tuple(correct.shape)} must both be (groups, n)"
        )
    n = correct.shape[1]
    _check(n, k, baseline)
    rows = [_majority_group(list(g), c.tolist(), k, baseline) for g, c in zip(answers, correct)]
    return torch.tensor(rows, dtype=torch.float32)


# --------------------------------------------------------------------------- Soft Policy Optimization
# "Soft Policy Optimization: Online Off-Policy RL for Sequence Models" (Cohen et al. 2025, arXiv 2503.05453),
# ALGORITHMS.md §2. The Q-function is the policy itself (cumulative Q-parameterisation):
#   Q_T(x, y) = V̂₀(x) + β·Σ_t [log π_θ(a_t|s_t) − log π_ref(a_t|s_t)] = V̂₀(x) + β·log(π_θ(y|x)/π_ref(y|x)),
# and only the terminal condition Q_T = r(x, y) is learned. With V̂₀ = V*(x) = β·log E_{π_ref}[exp(r/β)], the loss
# is zero exactly at π*(y|x) ∝ π_ref(y|x)·exp(r(x, y)/β), whichever sequences it is evaluated on. For any policy,
# Q_T − r = (V̂₀ − V*) + β·log(π_θ/π*), so on the policy's own samples E[Q_T − r] = (V̂₀ − V*) + β·KL(π_θ ‖ π*):
# the calibration gap a trainer logs on fresh samples is the V̂₀ error plus β times the distance to π*.

SPO_LOSSES = ("mse",)


def spo_soft_value(rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """Monte Carlo soft value of each prompt from K reference samples: rewards `(P, K)` → `(P,)`,
    `β·log(mean_k exp(r_k/β))` (log-sum-exp, stable for any β > 0). An estimate of V*(x) biased low for finite K
    (Jensen); dominated by the largest reward when β is small."""
    if beta <= 0:
        raise ValueError(f"spo_soft_value: beta must be positive, got {beta}")
    if rewards.dim() != 2 or rewards.shape[1] == 0:
        raise ValueError(
            f"spo_soft_value: rewards must be (prompts, K) with K >= 1, got {tuple(rewards.shape)}"
        )
    rewards = rewards.to(torch.promote_types(rewards.dtype, torch.float32))
    return beta * (torch.logsumexp(rewards / beta, dim=1) - math.log(rewards.shape[1]))


def spo_terminal_q(
    policy_logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor, v0: torch.Tensor, beta: float
) -> torch.Tensor:
    """Terminal soft Q-value `(B,)` = `v0 + β·Σ_t mask·(policy − ref)` from per-token log-probs `(B, T)` under π_θ
    and π_ref and the completion mask `(B, T)` (0 on padding); summed in float32 or wider (long completions)."""
    if policy_logps.shape != ref_logps.shape or policy_logps.shape != mask.shape or policy_logps.dim() != 2:
        raise ValueError(
            f"spo_terminal_q: policy_logps {tuple(policy_logps.shape)}, ref_logps {tuple(ref_logps.shape)} and "
            f"mask {tuple(mask.shape)} must all be (B, T)"
        )
    if v0.shape != policy_logps.shape[:1]:
        raise ValueError(
            f"spo_terminal_q: v0 must be (B,) = {tuple(policy_logps.shape[:1])}, got {tuple(v0.shape)}"
        )
    dtype = torch.promote_types(policy_logps.dtype, torch.float32)
    log_ratio = (policy_logps.to(dtype) - ref_logps.to(dtype)) * mask.to(dtype)
    return v0.to(dtype) + beta * log_ratio.sum(dim=1)


def spo_loss(q_terminal: torch.Tensor, rewards: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """SPO's terminal regression, the mean over sequences of `½(Q_T − r)²`; its gradient is
    `β·(Q_T − r)·∇log π_θ(y|x)` per sequence, with no importance weight to the policy that produced y.
    The paper's cross-entropy form of the terminal loss is not implemented (its exact form is unverified)."""
    if kind not in SPO_LOSSES:
        raise ValueError(f"spo_loss: kind must be one of {SPO_LOSSES}, got {kind!r}")
    if q_terminal.shape != rewards.shape or q_terminal.dim() != 1:
        raise ValueError(
            f"spo_loss: q_terminal {tuple(q_terminal.shape)} and rewards {tuple(rewards.shape)} must both be (B,)"
        )
    return 0.5 * (q_terminal - rewards.to(q_terminal.dtype)).pow(2).mean()
