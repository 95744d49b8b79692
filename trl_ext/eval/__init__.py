"""Evaluation: sampling + scoring harness and the pass@k / maj@k / n@k metrics."""

from pathlib import Path

METRIC_MODULES = ("pass_at_k", "maj_at_k", "n_at_k")
_METRICS = ("mean_maj_at_k", "mean_n_at_k", "mean_pass_at_k", "n_at_k")


def __getattr__(name: str):
    # The metrics import torch (through trl_ext.objectives): load them only when asked, so that light modules of
    # this package (`loading`, which the leaderboard Space imports) stay light.
    if name in _METRICS:
        from trl_ext.eval import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module 'trl_ext.eval' has no attribute {name!r}")


def metric_module_path(name: str) -> str:
    """Local path of one of the `evaluate` metric modules, for `evaluate.load(path)`."""
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric module {name!r}; available: {', '.join(METRIC_MODULES)}")
    return str(Path(__file__).parent / "metric_modules" / name)


__all__ = ["METRIC_MODULES", *_METRICS, "metric_module_path"]
