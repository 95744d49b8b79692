"""Plot of the measurements: CPU time and peak memory against input size, with the fitted curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trl_ext.complexity.infer import Complexity


def save_plot(result: Complexity, path: str | Path, title: str = "") -> Path:
    """Log-log plots of every measure set (time left, space right) with each chosen class's fitted curve;
    written atomically (a temporary file renamed into place)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind, label in ((axes[0], "time", result.time), (axes[1], "space", result.space)):
        for s in result.sets:
            values = s.times if kind == "time" else s.space
            fit = s.time_fit if kind == "time" else s.space_fit
            n = np.asarray(s.sizes, dtype=float)
            y = np.asarray(values, dtype=float) * (1e6 if kind == "time" else 1.0)
            name = f"args {','.join(map(str, s.grow))} {s.strategy}"
            (line,) = ax.plot(n, y, "o", ms=3, label=f"{name}: {fit.label if fit else '?'}")
            if fit and fit.klass and len(n):
                scale = 1e6 if kind == "time" else 1.0
                curve = (fit.intercept + fit.coefficient * fit.klass.curve(n)) * scale
                if kind == "space":
                    curve = curve - 256  # fit_curve saw space + 256 bytes (see infer._read)
                ax.plot(n, curve, "-", color=line.get_color(), lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input size n")
        ax.set_ylabel("CPU time per call (µs)" if kind == "time" else "peak memory (bytes)")
        ax.set_title(f"{kind}: {label}")
        ax.legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
