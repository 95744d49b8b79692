"""Plot of the measurements: CPU time and peak memory against input size, with the fitted curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trl_ext.complexity.infer import Complexity


def save_plot(result: Complexity, path: str | Path, title: str = "") -> Path:
    """Log-log plots of every measure set (time, space, and the counted comparisons where there are any) with
    each chosen class's fitted curve; written atomically (a temporary file renamed into place)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    counted = [s for s in result.sets if any(c > 0 for c in s.comparisons)]
    panels = [("time", result.time), ("space", result.space)] + ([("comparisons", "")] if counted else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2))
    scales = {"time": 1e6, "space": 1.0, "comparisons": 1.0}
    for ax, (kind, label) in zip(axes, panels):
        for s in result.sets:
            values, fit = {
                "time": (s.times, s.time_fit),
                "space": (s.space, s.space_fit),
                "comparisons": (s.comparisons, s.comparison_fit),
            }[kind]
            if not any(v > 0 for v in values):  # nothing to draw on a log scale (no comparisons)
                continue
            n = np.asarray(s.sizes, dtype=float)
            y = np.asarray(values, dtype=float) * scales[kind]
            name = f"args {','.join(map(str, s.grow))} {s.strategy}"
            (line,) = ax.plot(n, y, "o", ms=3, label=f"{name}: {fit.label if fit else '?'}")
            if fit and fit.klass and len(n):
                curve = (fit.intercept + fit.coefficient * fit.klass.curve(n)) * scales[kind]
                if kind == "space":
                    curve = curve - 256  # fit_curve saw space + 256 bytes (see infer._read)
                ax.plot(n, curve, "-", color=line.get_color(), lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input size n")
        ax.set_ylabel(
            {
                "time": "CPU time per call (µs)",
                "space": "peak memory (bytes)",
                "comparisons": "comparisons per call",
            }[kind]
        )
        ax.set_title(f"{kind}: {label}" if label else "element comparisons (a lower bound of time)")
        ax.legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
