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

import numpy
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


# ------------------------------------------------------------------------------------ unscorable samples
# A reward function returns None for a sample it cannot judge (a verifier whose sandbox failed: `sandbox_error`);
# TRL 1.16 turns it into NaN in `rewards_per_func`. A sample for which every function returned None is unscorable:
# neither a success nor a failure. These helpers keep it out of success rates and baselines.


def total_rewards(rewards_per_func: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Each sample's scalar reward as TRL 1.16's GRPO builds it (`sum_then_normalize`): the weighted sum over the
    reward functions (B, F), a function's None (NaN) skipped, and NaN where every function returned None."""
    total = (rewards_per_func * weights.to(rewards_per_func.device, rewards_per_func.dtype)).nansum(dim=1)
    return total.masked_fill(torch.isnan(rewards_per_func).all(dim=1), float("nan"))


def group_outcomes(rewards: torch.Tensor, success_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per group of `rewards` (groups, n), NaN = unscorable: (solved, known), both (groups,) bool. `solved`: some
    scorable sample's reward exceeds `success_threshold`; `known`: some sample is scorable. A group whose samples
    are all unscorable is unknown, not unsolved: `known & ~solved` are the groups that failed."""
    known = ~torch.isnan(rewards)
    return (known & (rewards > success_threshold)).any(dim=1), known.any(dim=1)


def zero_variance_share(rewards: torch.Tensor) -> float:
    """Share of the groups of `rewards` (groups, n), NaN = unscorable, whose scorable samples all have the same
    reward, among the groups with a scorable sample; NaN when there is none."""
    known = ~torch.isnan(rewards)
    top = torch.where(known, rewards, -math.inf).max(dim=1).values
    bottom = torch.where(known, rewards, math.inf).min(dim=1).values
    rows = known.any(dim=1)
    return (top[rows] == bottom[rows]).double().mean().item() if rows.any() else math.nan


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
    own, above = (c.to(sorted_r.device) for c in _max_coefficients(n, k))
    w_sorted = own * sorted_r + _suffix_sum_exclusive(above * sorted_r)
    return torch.empty_like(w_sorted).scatter_(-1, order, w_sorted)


def loo_maxk_estimate(rewards: torch.Tensor, m: int) -> torch.Tensor:
    """For each sample i, the unbiased estimate of E[max of m samples] from the other n−1 samples."""
    n = rewards.shape[-1]
    sorted_r, order = rewards.to(torch.float64).sort(dim=-1)
    below, above = (c.to(sorted_r.device) for c in _loo_max_coefficients(n, m))
    est_sorted = _prefix_sum_exclusive(below * sorted_r) + _suffix_sum_exclusive(above * sorted_r)
    return torch.empty_like(est_sorted).scatter_(-1, order, est_sorted)


def maxk_value(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """Per group, the unbiased estimate of E[max of k samples] from its scorable samples (NaN = unscorable), as
    Σ_i w_i / k; NaN for a group with fewer than k scorable samples. Shape (groups,), float64."""
    rewards = rewards.to(torch.float64)
    out = torch.full(rewards.shape[:1], float("nan"), dtype=torch.float64, device=rewards.device)
    scored = ~torch.isnan(rewards)
    counts = scored.sum(dim=1)
    for count in counts.unique().tolist():
        if count >= max(k, 1):
            rows = counts == count
            out[rows] = maxk_weights(rewards[rows][scored[rows]].view(-1, count), k).sum(-1) / k
    return out


def _complete_passk_advantages(rewards: torch.Tensor, k: int, baseline: str) -> torch.Tensor:
    n = rewards.shape[1]
    w = maxk_weights(rewards, k)
    return w - (k / n) * loo_maxk_estimate(rewards, _baseline_size(n, k, baseline))


def passk_advantages(rewards: torch.Tensor, k: int, baseline: str = "loo") -> torch.Tensor:
    """Advantages for E[max of k samples] (pass@k when rewards are 0/1), rewards of shape (groups, n), n ≥ k.

    A_i = w_i − (k/n)·est_m(y_{−i}) with w_i the exact subset-averaged weight and the leave-one-out baseline
    of the module docstring. E[Σ_i A_i ∇log π(y_i)] = ∇ E[max of k] exactly. A NaN reward marks an unscorable
    sample (as in TRL): it is left out of its group, whose objective is estimated from its n' scorable samples,
    and gets advantage 0; a group with n' < k gets 0. Returns float64, on the rewards' device.
    """
    if rewards.dim() != 2:
        raise ValueError(f"rewards must have shape (groups, n), got {tuple(rewards.shape)}")
    _check(rewards.shape[1], k, baseline)
    rewards = rewards.to(torch.float64)
    scored = ~torch.isnan(rewards)
    if scored.all():
        return _complete_passk_advantages(rewards, k, baseline)
    out = torch.zeros_like(rewards)
    counts = scored.sum(dim=1)
    for count in counts.unique().tolist():
        if count < k:
            continue
        rows = counts == count
        values = rewards[rows][scored[rows]].view(-1, count)  # row-major: each row keeps its own samples
        block = torch.zeros_like(rewards[rows])
        block[scored[rows]] = _complete_passk_advantages(values, k, baseline).flatten()
        out[rows] = block
    return out


# ----------------------------------------------------------------------------------------------- maj@k
#
# f(S) for a k-subset S: among the answers with the most votes in S (abstentions never vote), a tie is broken
# uniformly at random, and the answer's sample that is submitted is a uniformly random one of its samples *in S*:
# f(S) = mean over tied answers a of (mean correctness of a's samples in S). Correctness may differ inside an
# answer (code: the answer is the output on the public tests, correctness comes from all tests).
#
# Counting (no subset enumeration): V(K) = Σ_{|S|=K} f(S) depends on the samples only through the answers' sizes
# m_a and correctness sums R_a: for a winning answer a that takes t samples, the t-subsets of a contribute
# C(m_a, t)·R_a/m_a in total, and every other answer b takes j_b ≤ t samples (C(m_b, j_b) ways), abstentions the
# rest. The tie factor 1/(1 + #others at t) is ∫_0^1 y^{#others at t} dy, so with the generating polynomial
# p_{s,t}(x, y) = Σ_{j<t} C(s, j) x^j + y·C(s, t) x^t of an answer of size s,
#   V(K) = Σ_a (R_a/m_a) Σ_t C(m_a, t) ∫_0^1 [x^{K−t}] N(x) Π_{b≠a} p_{m_b,t}(x, y) dy,   N(x) = (1 + x)^{n_abstain},
# where the integrand is a polynomial in y of degree < K, integrated exactly by Gauss-Legendre with ⌈K/2⌉ nodes.
# Answers of equal size have equal polynomials, so the product runs over the distinct sizes (powers), vectorised
# over (t, node). A sample's weight is Σ_{S∋i} f(S) = V(K) − V_{−i}(K) and its baseline V_{−i}(m): V_{−i} only
# changes one answer's size (or the abstentions), so a group needs the sums of at most (#distinct sizes + 2)
# populations. Hand-written because no library counts tie-averaged plurality votes over subsets.


def _series_mul(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    """Product of power series truncated to their length L (last dim), batched over the leading dims. NumPy, not
    torch: these arrays are small, and torch's intra-op threads make such ops slow on a loaded CPU."""
    length = a.shape[-1]
    padded = numpy.concatenate([numpy.zeros_like(b[..., :-1]), b], axis=-1)
    windows = numpy.lib.stride_tricks.sliding_window_view(padded, length, axis=-1)
    windows = windows[..., ::-1]  # [..., j, i] = b[..., j − i] (0 for i > j)
    return numpy.einsum("...ji,...i->...j", windows, a)


def _series_pow(p: numpy.ndarray, e: int) -> numpy.ndarray:
    """p**e by squaring (all coefficients stay non-negative: no cancellation)."""
    out = numpy.zeros_like(p)
    out[..., 0] = 1.0
    while e:
        if e & 1:
            out = _series_mul(out, p)
        e >>= 1
        if e:
            p = _series_mul(p, p)
    return out


@cache
def _quadrature(k: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Gauss-Legendre nodes and weights on [0, 1], exact for polynomials of degree < k."""
    nodes, weights = numpy.polynomial.legendre.leggauss(max(1, math.ceil(k / 2)))
    return tuple((nodes + 1) / 2), tuple(weights / 2)


def _winner_sums(
    sizes: dict[int, int], n_abstain: int, k: int, powers_cache: dict | None = None
) -> dict[int, list[float]]:
    """For a population with `sizes[s]` answers of size s: {s: [Φ_s(K) for K = 0..k]} with
    Φ_s(K) = Σ_t C(s, t) ∫ [x^{K−t}] N(x) p_{s,t}^{sizes[s]−1} Π_{s'≠s} p_{s',t}^{sizes[s']} dy, so that
    V(K) = Σ_a (R_a/m_a)·Φ_{m_a}(K). `powers_cache` shares p_{s,t}^e between the populations of one group."""
    sizes = {s: c for s, c in sizes.items() if c}
    if not sizes:
        return {}
    length = k + 1
    nodes, weights = (numpy.array(v) for v in _quadrature(k))
    t = numpy.arange(1, k + 1).reshape(-1, 1, 1)  # (T, 1, 1): the winner's count
    j = numpy.arange(length).reshape(1, 1, -1)

    def binomials(s: int) -> numpy.ndarray:
        return numpy.array([math.comb(s, i) for i in range(length)], dtype=numpy.float64)

    def poly(s: int) -> numpy.ndarray:  # p_{s,t}(x, y_q), shape (T, Q, L)
        c = binomials(s).reshape(1, 1, -1)
        return numpy.where(j < t, c, 0.0) + numpy.where(j == t, c, 0.0) * nodes.reshape(1, -1, 1)

    abstain = numpy.broadcast_to(binomials(n_abstain), (k, len(nodes), length))
    order = sorted(sizes)
    cache = {} if powers_cache is None else powers_cache

    def power(s: int, e: int) -> numpy.ndarray:
        if (s, e) not in cache:
            cache[s, e] = _series_pow(poly(s), e)
        return cache[s, e]

    full = {s: power(s, sizes[s] - 1) for s in order}  # one answer of size s left out
    powers = [power(s, sizes[s]) for s in order]
    prefix = [abstain]
    for p in powers[:-1]:
        prefix.append(_series_mul(prefix[-1], p))
    out = {}
    rest = None  # product of the powers after position d
    for d in range(len(order) - 1, -1, -1):
        s = order[d]
        others = prefix[d] if rest is None else _series_mul(prefix[d], rest)
        integrand = (_series_mul(others, full[s]) * weights.reshape(1, -1, 1)).sum(1)  # (T, L): Σ_q w_q [x^j]
        rest = powers[d] if rest is None else _series_mul(rest, powers[d])
        # Φ_s(K) = Σ_t C(s, t) integrand[t, K − t]
        shifted = numpy.zeros((k, length))
        for row in range(k):
            shifted[row, row + 1 :] = integrand[row, : length - row - 1]
        out[s] = (binomials(s)[1:].reshape(-1, 1) * shifted).sum(0).tolist()
    return out


def _population_value(phi: dict[int, list[float]], mass: dict[int, float], K: int) -> float:
    """V(K) = Σ_s mass[s]·Φ_s(K), mass[s] = Σ over answers of size s of R_a/m_a."""
    return sum(m * phi[s][K] for s, m in mass.items() if m and s in phi)


def _scored(answers: Sequence[Hashable | None], correct: Sequence[float]):
    """Drop unscorable samples (correctness NaN). Returns the kept indices, answers and correctness."""
    keep = [i for i, c in enumerate(correct) if not math.isnan(float(c))]
    return keep, [answers[i] for i in keep], [float(correct[i]) for i in keep]


def _answer_stats(answers: list, correct: list[float]):
    """Sizes m_a and correctness sums R_a of the answers, the histogram of sizes, the abstentions, and the
    per-size masses Σ_{a: m_a = s} R_a/m_a."""
    size: Counter = Counter(a for a in answers if a is not None)
    right: dict[Hashable, float] = defaultdict(float)
    for a, c in zip(answers, correct):
        if a is not None:
            right[a] += c
    mass: dict[int, float] = defaultdict(float)
    for a, s in size.items():
        mass[s] += right[a] / s
    return size, right, Counter(size.values()), len(answers) - sum(size.values()), mass


def _majority_group(answers: list, correct: list[float], k: int, baseline: str) -> list[float]:
    """Advantages of one group whose samples are all scorable (len(answers) ≥ k)."""
    n = len(answers)
    m = _baseline_size(n, k, baseline)
    size, right, histogram, n_abstain, mass = _answer_stats(answers, correct)
    cache: dict = {}
    total = _population_value(_winner_sums(histogram, n_abstain, k, cache), mass, k)
    removed_phi: dict[int | None, dict[int, list[float]]] = {}  # without one sample of an answer of size s
    out = []
    for a, c in zip(answers, correct):
        s = None if a is None else size[a]
        if s not in removed_phi:
            smaller = histogram
            if s is not None:
                smaller = histogram - Counter({s: 1}) + Counter({s - 1: 1} if s > 1 else {})
            removed_phi[s] = _winner_sums(smaller, n_abstain - (s is None), k, cache)
        others_mass = dict(mass)
        if s is not None:
            others_mass[s] -= right[a] / s
            if s > 1:
                others_mass[s - 1] = others_mass.get(s - 1, 0.0) + (right[a] - c) / (s - 1)
        without = removed_phi[s]
        weight = (total - _population_value(without, others_mass, k)) / math.comb(n, k)
        base = _population_value(without, others_mass, m) / math.comb(n - 1, m) if m else 0.0
        out.append(weight - (k / n) * base)
    return out


def majority_value(answers: Sequence[Hashable | None], correct: Sequence[float], k: int) -> float:
    """Unbiased estimate of maj@k from the scorable samples (at least k): the mean over k-subsets of f(S), the
    tie-averaged correctness of the majority answer (block comment above; abstentions never win). `correct`:
    0/1 (or a probability) per sample, NaN for an unscorable sample, which is left out."""
    _, answers, correct = _scored(answers, correct)
    n = len(answers)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n={n} scorable samples], got {k}")
    _, _, histogram, n_abstain, mass = _answer_stats(answers, correct)
    return _population_value(_winner_sums(histogram, n_abstain, k), mass, k) / math.comb(n, k)


def majority_advantages(
    answers: Sequence[Sequence[Hashable | None]], correct: torch.Tensor, k: int, baseline: str = "loo"
) -> torch.Tensor:
    """Advantages for maj@k, float64 (groups, n). `answers`: groups × n canonical answers (hashable, or None to
    abstain); `correct`: (groups, n) bool or float in [0, 1] per sample, NaN for an unscorable sample: it is left
    out of its group's objective and gets advantage 0; a group with fewer than k scorable samples gets 0.
    Unbiased for ∇ maj@k (f(S) as in the block comment above), by exact counting: O(D·(k² log n)) polynomial
    products of size (k, ⌈k/2⌉, k + 1) per distinct answer size D of a group."""
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
    out = torch.zeros(correct.shape, dtype=torch.float64)
    for g, (group, row) in enumerate(zip(answers, correct.double().cpu().tolist())):
        keep, kept_answers, kept_correct = _scored(list(group), row)
        if len(keep) >= k:
            out[g, keep] = torch.tensor(
                _majority_group(kept_answers, kept_correct, k, baseline), dtype=torch.float64
            )
    return out.to(correct.device)


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
