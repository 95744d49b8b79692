"""Fitting complexity classes to (size, cost) measurements, and combining per-argument classes.

Per class f ∈ {1, log n, n, n log n, n², n³}: cost ≈ a + b·f(n) with a, b ≥ 0 by non-negative least squares
(scipy's `nnls`), weighted by 1/cost so that the residual is relative (timing noise is multiplicative). The
class chosen is the one with the lowest (residual + floor) × (1 + penalty)^rank: the floor keeps a richer
class from winning by fitting noise, the penalty prefers the simpler class when two fit about equally
(BigO(Bench)'s "residual × simplicity penalty", arXiv 2503.15242; own implementation). A curve growing
faster than n^4 between its last points is "other" (exponential). The confidence margin is the relative gap
between the runner-up's score and the winner's.
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


@dataclass
class Fit:
    """The class chosen for one curve, its confidence margin and curve coefficient b (cost ≈ a + b·f(n))."""

    klass: Klass | None  # None: "other" (faster than any polynomial class)
    margin: float
    coefficient: float
    intercept: float
    residuals: dict[str, float]
    runner_up: Klass | None = None  # the class with the second-best score

    @property
    def label(self) -> str:
        return self.klass.label if self.klass else OTHER

    @property
    def rank(self) -> int:
        return CLASSES.index(self.klass) if self.klass else len(CLASSES)


def fit_curve(sizes, costs, free_intercept: bool = False) -> Fit | None:
    """The complexity class of `costs` (positive) measured at `sizes`; None when too few points.
    `free_intercept`: the constant a may be negative (peak bytes: CPython caches the ints up to 256, so a dict of
    n indices costs about b·n minus a constant; a ≥ 0 then reads it as n log n)."""
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
        columns = [np.ones_like(n)] if klass.power == klass.logs == 0 else [np.ones_like(n), klass.curve(n)]
        if free_intercept and len(columns) > 1:  # a = a+ - a-, both ≥ 0
            columns.insert(1, -np.ones_like(n))
        design = np.stack(columns, axis=1) / y[:, None]
        coef, _ = nnls(design, np.ones_like(y))
        if len(coef) == 3:
            coef = np.array([coef[0] - coef[1], coef[2]])
            design = np.stack([columns[0], columns[2]], axis=1) / y[:, None]
        rms = float(np.sqrt(np.mean((design @ coef - 1.0) ** 2)))
        residuals[klass.label] = rms
        rise = coef[-1] * (klass.curve(n[-1:])[0] - klass.curve(n[:1])[0]) if rank else 0.0
        admissible = not rank or rise >= MIN_RISE * (coef[0] + coef[-1] * klass.curve(n[-1:])[0])
        scores.append((rms + RESIDUAL_FLOOR) * (1 + PENALTY) ** rank if admissible else math.inf)
        params.append((float(coef[0]), float(coef[1]) if len(coef) > 1 else 0.0))
    best = int(np.argmin(scores))
    second = min((i for i in range(len(scores)) if i != best), key=lambda i: scores[i])
    rival = scores[second]
    margin = rival / scores[best] - 1.0 if math.isfinite(rival) else 1.0
    runner_up = CLASSES[second] if math.isfinite(rival) else None
    return Fit(CLASSES[best], margin, params[best][1], params[best][0], residuals, runner_up)


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
