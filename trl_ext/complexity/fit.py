"""Fitting complexity classes to (size, cost) measurements, and combining per-argument classes.

Per class f ∈ {1, log n, n, n log n, n², n³}: cost ≈ a + b·f(n) with a, b ≥ 0 by non-negative least squares
(scipy's `nnls`), weighted by 1/cost so that the residual is relative (timing noise is multiplicative). The
class chosen is the one with the lowest (residual + floor) × (1 + penalty)^rank: the floor keeps a richer
class from winning by fitting noise, the penalty prefers the simpler class when two fit about equally
(BigO(Bench)'s "residual × simplicity penalty", arXiv 2503.15242; own implementation). A curve growing
faster than n^4 between its last points is "other" (exponential). The confidence margin is the relative gap
between the runner-up's score and the winner's.

Times (`timing=True`) also try n log n and n^2 with a linear lower-order term, a + c·n + b·f(n), scored one rank
higher and admissible only when b·f(n) carries half the cost at the largest size; and a class above n must grow
1.3x faster than the next simpler class over the larger half of the sizes (a shrinking overhead per element is not
a log factor, nor is the cache pressure of a loaded machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls


@dataclass(frozen=True)
class Klass:
    name: str  # "1", "log n", "n", "n log n", "n^2", "n^3"
    power: int  # polynomial degree
    logs: int  # power of the logarithm

    def curve(self, n: np.ndarray) -> np.ndarray:
        return n.astype(float) ** self.power * np.log2(np.maximum(n, 2.0)) ** self.logs

    @property
    def label(self) -> str:
        return f"O({self.name})"


CLASSES = (
    Klass("1", 0, 0),
    Klass("log n", 0, 1),
    Klass("n", 1, 0),
    Klass("n log n", 1, 1),
    Klass("n^2", 2, 0),
    Klass("n^3", 3, 0),
)
OTHER = "other"
LABELS = tuple(k.label for k in CLASSES)

RESIDUAL_FLOOR = 0.08  # relative timing noise a class may not "explain" away
PENALTY = 0.12  # per rank of the class
MIN_POINTS = 4
MIN_RISE = 0.45  # a growing class must explain at least this relative rise of the cost over the sizes
EXPONENTIAL_SLOPE = 4.5
OUTGROW = 1.3  # a class above n must grow this much faster than the next simpler class (`_outgrows`)
TOP_SHARE = (
    0.5  # with a lower-order term, the class's own term must carry this share of the cost at the largest size
)


@dataclass
class Fit:
    """The class chosen for one curve, its confidence margin and curve coefficient b (cost ≈ a + b·f(n))."""

    klass: Klass | None  # None: "other" (faster than any polynomial class)
    margin: float
    coefficient: float
    intercept: float
    residuals: dict[str, float]
    runner_up: Klass | None = None  # the class with the second-best score
    # the relative gap to the best-scoring simpler class: how sure a raise to this class is
    margin_below: float = 1.0

    @property
    def label(self) -> str:
        return self.klass.label if self.klass else OTHER

    @property
    def rank(self) -> int:
        return CLASSES.index(self.klass) if self.klass else len(CLASSES)


def fit_curve(
    sizes, costs, free_intercept: bool = False, timing: bool = False, lower_order: bool = True
) -> Fit | None:
    """The complexity class of `costs` (positive) measured at `sizes`; None when too few points.
    `free_intercept`: the constant a may be negative (peak bytes: CPython caches the ints up to 256, so a dict of
    n indices costs about b·n minus a constant; a ≥ 0 then reads it as n log n). `timing`: the costs are CPU times:
    n log n and n^2 may also fit with a linear term (`_lower_terms`: loop overhead beside faster-growing C-level
    work; not with `lower_order=False`), and a class above n must outgrow the next simpler one over the larger half of
    the sizes (`_outgrows`)."""
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(costs, dtype=float)
    keep = np.isfinite(y) & (y > 0) & (n > 0)
    n, y = n[keep], y[keep]
    if len(n) < 2:
        return None
    order = np.argsort(n)
    n, y = n[order], y[order]
    if _slope(n[-2:], y[-2:]) > EXPONENTIAL_SLOPE and y[-1] > 20 * y[0]:
        return Fit(None, 1.0, 0.0, 0.0, {})  # growing faster than any polynomial class at the end
    if len(n) < MIN_POINTS:
        return None
    scores, params, residuals = [], [], {}
    for rank, klass in enumerate(CLASSES):
        best = (math.inf, math.inf, (0.0, 0.0))  # (score, rms, (a, b))
        outgrows = not timing or rank < 3 or _outgrows(n, y, CLASSES[rank - 1])
        for lower in _lower_terms(klass) if timing and lower_order else (None,):
            rms, coef, admissible = _fit_variant(n, y, klass, lower, free_intercept)
            admissible = admissible and outgrows
            # the lower term's extra parameter costs one more rank of penalty
            score = (
                (rms + RESIDUAL_FLOOR) * (1 + PENALTY) ** (rank + (lower is not None))
                if admissible
                else math.inf
            )
            best = min(best, (score, rms, coef), key=lambda v: (v[0], v[1]))
        scores.append(best[0])
        residuals[klass.label] = best[1]
        params.append(best[2])
    best = int(np.argmin(scores))
    second = min((i for i in range(len(scores)) if i != best), key=lambda i: scores[i])
    rival = scores[second]
    margin = rival / scores[best] - 1.0 if math.isfinite(rival) else 1.0
    runner_up = CLASSES[second] if math.isfinite(rival) else None
    below = min(scores[:best], default=math.inf)
    margin_below = below / scores[best] - 1.0 if math.isfinite(below) else 1.0
    return Fit(CLASSES[best], margin, params[best][1], params[best][0], residuals, runner_up, margin_below)


def outgrows_polynomials(sizes, costs, stopped_size: float, stopped_cost: float) -> bool:
    """Whether a curve whose call at `stopped_size` was stopped after `stopped_cost` (a lower bound of its cost)
    grew faster than any polynomial class: by `fit_curve`'s test for "other" (slope above EXPONENTIAL_SLOPE on the
    log-log scale over the last step, and 20x the first cost), with the bound in place of the cost it stopped."""
    measured = [(n, c) for n, c in zip(sizes, costs) if n > 0 and c > 0 and math.isfinite(c)]
    if not measured or stopped_size <= measured[-1][0]:
        return False
    first_cost, (last, last_cost) = measured[0][1], measured[-1]
    slope = math.log(stopped_cost / last_cost) / math.log(stopped_size / last)
    return slope > EXPONENTIAL_SLOPE and stopped_cost > 20 * first_cost


def fit_class(sizes, costs, klass: Klass) -> tuple[float, float]:
    """(a, b) of costs ≈ a + b·klass(n), a, b ≥ 0 (the same weighted NNLS as `fit_curve`), for a class chosen
    otherwise."""
    n, y = np.asarray(sizes, dtype=float), np.asarray(costs, dtype=float)
    keep = np.isfinite(y) & (y > 0) & (n > 0)
    _, (a, b), _ = _fit_variant(n[keep], y[keep], klass, None, False)
    return a, b


def _lower_terms(klass: Klass) -> tuple[Klass | None, ...]:
    """The fits tried for `klass`: a + b·f(n) alone, and for n log n and n^2 also with a linear term a + c·n + b·f(n):
    Python-level work per element (a loop's overhead) beside C-level work that grows faster (a memcpy per step)
    makes a cost whose faster term only takes over within the measured sizes, which neither monomial fits."""
    return (None, CLASSES[2]) if klass.name in ("n log n", "n^2") else (None,)


def _fit_variant(n, y, klass: Klass, lower: Klass | None, free_intercept: bool):
    """(relative rms, (a, b), admissible) of cost ≈ a + [c·lower(n)] + b·klass(n) by weighted NNLS. A growing class
    is admissible when its own term explains MIN_RISE of the fitted rise over the sizes and, with a lower term,
    also TOP_SHARE of the fitted cost at the largest size (the faster term has taken over)."""
    rank = CLASSES.index(klass)
    columns = [np.ones_like(n)]
    if rank:
        if lower is not None:
            columns.append(lower.curve(n))
        columns.append(klass.curve(n))
    if free_intercept and len(columns) > 1:  # a = a+ - a-, both ≥ 0
        columns.insert(1, -np.ones_like(n))
    design = np.stack(columns, axis=1) / y[:, None]
    coef, _ = nnls(design, np.ones_like(y))
    rms = float(np.sqrt(np.mean((design @ coef - 1.0) ** 2)))
    if free_intercept and len(columns) > 2:
        coef = np.array([coef[0] - coef[1], *coef[2:]])
        columns = [columns[0], *columns[2:]]
    if not rank:
        return rms, (float(coef[0]), 0.0), True
    top = coef[-1] * klass.curve(n[-1:])[0]
    fitted_last = float(sum(c * col[-1] for c, col in zip(coef, columns)))
    fitted_first = float(sum(c * col[0] for c, col in zip(coef, columns)))
    rise = coef[-1] * (klass.curve(n[-1:])[0] - klass.curve(n[:1])[0])
    admissible = rise >= MIN_RISE * (coef[0] + top)
    if lower is not None:
        admissible = admissible and top >= TOP_SHARE * fitted_last and fitted_last > fitted_first
    return rms, (float(coef[0]), float(coef[-1])), admissible


def _outgrows(n: np.ndarray, y: np.ndarray, simpler: Klass) -> bool:
    """Whether the cost grows OUTGROW times faster than `simpler` from the middle size to the largest: a class above
    n that does not is noise, a fading constant (C-level work whose call overhead still shrinks per element read
    n log n by a hair) or a load effect (on a loaded machine a linear scan's cost per element rises ~1.25x over the
    larger half of the sizes as its input outgrows the shared caches; a bisect LIS's rises 1.33-1.42x)."""
    mid = len(n) // 2
    return bool(y[-1] / y[mid] > OUTGROW * simpler.curve(n[-1:])[0] / simpler.curve(n[mid : mid + 1])[0])


def _slope(n: np.ndarray, y: np.ndarray) -> float:
    return float(math.log(y[-1] / y[0]) / math.log(n[-1] / n[0]))


# ------------------------------------------------------------------------------------ combination

VARIABLES = ("n", "m", "k", "p", "q", "r")


def _term(klass: Klass, var: str) -> tuple[str, str]:
    poly = "" if klass.power == 0 else var if klass.power == 1 else f"{var}^{klass.power}"
    return poly, f"log {var}" if klass.logs else ""


def _product(parts: list[tuple[Klass, str]]) -> str:
    polys = [p for p, _ in (_term(k, v) for k, v in parts) if p]
    logs = [lg for _, lg in (_term(k, v) for k, v in parts) if lg]
    text = "*".join(polys)
    if logs:
        text = f"{text} {' '.join(logs)}" if text else " * ".join(logs)
    return f"O({text or '1'})"


def single(klass: Klass | None, var: str = "n") -> str:
    return OTHER if klass is None else _product([(klass, var)])


def combine(per_argument: list[Klass | None], together: Klass | None) -> str:
    """A multi-variable label from each argument's own class (others held fixed) and the class when all grow
    together (each argument's class capped at the together class, which grows it too): with at most one
    argument that matters, the together class in n; otherwise those arguments get
    variables n, m, k, ...: the product form when the together-degree is the sum of the degrees (nested work),
    the sum form otherwise (sequential work)."""
    if any(k is None for k in per_argument) or together is None:
        return OTHER
    # growing all arguments grows each one too: no argument's own class can exceed the together class
    per_argument = [min(k, together, key=CLASSES.index) for k in per_argument]
    growing = [k for k in per_argument if k.power or k.logs]
    if len(growing) <= 1:  # one size variable: growing everything shows its worst case (e.g. no early exit)
        return single(together)
    named = list(zip(growing, VARIABLES))

    def weight(k: Klass) -> float:  # a log factor counts half a degree
        return k.power + 0.5 * k.logs

    nested = (
        weight(together) > max(map(weight, growing)) and weight(together) >= sum(map(weight, growing)) - 0.5
    )
    if nested:
        return _product(named)
    return " + ".join(single(k, v)[2:-1] for k, v in named).join(("O(", ")"))
