"""Evaluation: sampling + scoring harness and the pass@k / maj@k / n@k metrics."""

from pathlib import Path

from trl_ext.eval.metrics import mean_maj_at_k, mean_n_at_k, mean_pass_at_k, n_at_k

METRIC_MODULES = ("pass_at_k", "maj_at_k", "n_at_k")


def metric_module_path(name: str) -> str:
    """Local path of one of the `evaluate` metric modules, for `evaluate.load(path)`."""
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric module {name!r}; available: {', '.join(METRIC_MODULES)}")
    return str(Path(__file__).parent / "metric_modules" / name)


__all__ = ["METRIC_MODULES", "mean_maj_at_k", "mean_n_at_k", "mean_pass_at_k", "metric_module_path", "n_at_k"]
