"""pass@k, maj@k and n@k over a benchmark: per-problem unbiased estimates from n ≥ k samples, averaged.

The per-problem estimates average the k-sample metric over every k-subset of the n samples, by counting:
pass@k and maj@k come from `trl_ext.objectives` (the same math the trainer optimises); n@k is here.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

from trl_ext.objectives import majority_value, pass_at_k


def _mean(values: list[float]) -> float:
    if not values:
        raise ValueError("no problems to average over")
    return sum(values) / len(values)


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean over problems and its standard error (sample standard deviation / sqrt(problems); None for
    a single problem), as lm-eval and lighteval report it."""
    mean = _mean(list(values))
    if len(values) < 2:
        return mean, None
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))


def mean_pass_at_k(correct: Sequence[Sequence[bool]], k: int) -> float:
    """Mean over problems of the unbiased pass@k; `correct[p]` holds one bool per sample of problem p."""
    return _mean([pass_at_k(len(c), sum(map(bool, c)), k) for c in correct])


def mean_maj_at_k(
    answers: Sequence[Sequence[Hashable | None]], correct: Sequence[Sequence[bool]], k: int
) -> float:
    """Mean over problems of maj@k (ties split evenly; samples without an answer never win)."""
    return _mean([majority_value(list(a), list(c), k) for a, c in zip(answers, correct, strict=True)])


def n_at_k(public_pass: Sequence[bool], correct: Sequence[bool], n_submit: int, k: int) -> float:
    """n@k for one problem (AlphaCode, arXiv 2203.07814; RLEF's 1@3): from k samples, submit up to n_submit,
    those passing the public tests first (uniformly among them), then others; success if a submission is
    correct. Exact mean over the k-subsets of the N ≥ k samples and over the random choices, by counting the
    four kinds of samples (public pass × correct)."""
    N = len(correct)
    if len(public_pass) != N:
        raise ValueError("public_pass and correct must have one entry per sample")
    if not 1 <= k <= N or not 1 <= n_submit <= k:
        raise ValueError(f"need 1 <= n <= k <= number of samples, got n={n_submit}, k={k}, samples={N}")
    kinds = [
        sum(1 for p, c in zip(public_pass, correct) if (bool(p), bool(c)) == kind)
        for kind in [(True, True), (True, False), (False, True), (False, False)]
    ]
    A, B, C, D = kinds  # public-pass & correct, public-pass & wrong, public-fail & correct, both fail
    total = 0.0
    for a in range(min(A, k) + 1):
        for b in range(min(B, k - a) + 1):
            for c in range(min(C, k - a - b) + 1):
                d = k - a - b - c
                if d > D:
                    continue
                ways = math.comb(A, a) * math.comb(B, b) * math.comb(C, c) * math.comb(D, d)
                passing = a + b
                if passing >= n_submit:
                    success = 1 - math.comb(b, n_submit) / math.comb(passing, n_submit)
                elif a > 0:
                    success = 1.0
                else:
                    rest = n_submit - passing
                    success = 1 - math.comb(d, rest) / math.comb(c + d, rest)
                total += ways * success
    return total / math.comb(N, k)


def mean_n_at_k(
    public_pass: Sequence[Sequence[bool]], correct: Sequence[Sequence[bool]], n_submit: int, k: int
) -> float:
    return _mean([n_at_k(p, c, n_submit, k) for p, c in zip(public_pass, correct, strict=True)])
