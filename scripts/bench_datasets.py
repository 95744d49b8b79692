"""Instances per second for each dataset generator at each difficulty (generation + validation: PBE replays
its cascades on the host; Kolmogorov and puzzles verify every instance in the sandbox). Prints a table;
saves JSON, markdown and a PNG plot.

    python scripts/bench_datasets.py --n 300 --output outputs/bench_datasets
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hub_datasets import GENERATORS


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="instances per generator and config")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="outputs/bench_datasets")
    args = parser.parse_args()

    table = []
    for name, module in GENERATORS.items():
        for config_name, config in module.CONFIGS.items():
            # Capped at the config's default size: the complexity set is a fixed pool of measured problems.
            n = min(args.n, sum(module.DEFAULT_SIZE[config_name]))
            start = time.perf_counter()
            train, _ = module.generate(config, n, 0, args.seed)
            seconds = time.perf_counter() - start
            table.append(
                {
                    "dataset": name,
                    "config": config_name,
                    "instances": len(train),
                    "seconds": seconds,
                    "per_s": len(train) / seconds,
                }
            )
            print(f"{name:>10} {config_name:>5}: {len(train) / seconds:8.1f} instances/s", flush=True)
    lines = ["| dataset | config | instances | seconds | instances/s |", "|---|---|---:|---:|---:|"]
    lines += [
        f"| {r['dataset']} | {r['config']} | {r['instances']} | {r['seconds']:.2f} | {r['per_s']:.1f} |"
        for r in table
    ]
    print("\n".join(lines))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(table, indent=2))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh([f"{r['dataset']}/{r['config']}" for r in table], [r["per_s"] for r in table])
    ax.set_xscale("log")
    ax.set_xlabel("validated instances per second (log)")
    fig.tight_layout()
    fig.savefig(out / "instances_per_second.png", dpi=120)
    print(f"saved {out}/results.json, results.md, instances_per_second.png")


if __name__ == "__main__":
    main()
