"""Complexity inference from measurements in the sandbox (after BigO(Bench), arXiv 2503.15242)."""

from trl_ext.complexity.fit import CLASSES, LABELS, OTHER, Fit, fit_curve
from trl_ext.complexity.infer import Complexity, ComplexityError, MeasureSet, Settings, infer, parse_example

__all__ = [
    "CLASSES",
    "LABELS",
    "OTHER",
    "Complexity",
    "ComplexityError",
    "Fit",
    "MeasureSet",
    "Settings",
    "fit_curve",
    "infer",
    "parse_example",
]
