"""Per-group cost of the k-sample advantages (`trl_ext.objectives`): maj@k and, for scale, pass@k, on groups of
n samples whose canonical answers fall in a few clusters (Zipf-like sizes, some abstentions) with correctness
that differs inside a cluster (as for code: same public-test outputs, different private-test verdicts).
Prints a table; saves JSON, markdown and a PNG plot.

    python scripts/bench_majk.py --n 64 --ks 8 16 --groups 8 --output outputs/bench_majk

Run it against another checkout (e.g. an older commit exported with `git archive`) by putting that checkout first
on PYTHONPATH: the script only calls the public functions.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from tqdm import tqdm

from trl_ext.objectives import majority_advantages, passk_advantages


def make_groups(groups: int, n: int, clusters: int, seed: int):
    """Answers drawn from `clusters` answers with Zipf weights (10% abstain); answer 0 is right 70% of the time."""
    rng = random.Random(seed)
    answers, correct = [], []
    weights = [1 / (rank + 1) for rank in range(clusters)]
    for _ in range(groups):
        row = [rng.choices(range(clusters), weights)[0] if rng.random() > 0.1 else None for _ in range(n)]
        answers.append(row)
        correct.append([a == 0 and rng.random() < 0.7 for a in row])
    return answers, torch.tensor(correct)


def time_per_group(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) / len(args[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=64, help="samples per group (num_generations)")
    parser.add_argument("--ks", type=int, nargs="+", default=[8, 16])
    parser.add_argument(
        "--clusters", type=int, nargs="+", default=[4, 16, 64, 4096], help="distinct answers to draw from"
    )
    parser.add_argument("--groups", type=int, default=8, help="groups per timing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="outputs/bench_majk")
    args = parser.parse_args()

    table = []
    for clusters, k in tqdm([(c, k) for c in args.clusters for k in args.ks], desc="settings"):
        answers, correct = make_groups(args.groups, args.n, clusters, args.seed)
        majk = time_per_group(majority_advantages, answers, correct, k)
        passk = time_per_group(passk_advantages, correct.double(), k)
        table.append(
            {
                "n": args.n,
                "k": k,
                "clusters": clusters,
                "maj@k_ms_per_group": 1e3 * majk,
                "pass@k_ms_per_group": 1e3 * passk,
            }
        )

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| n | k | answers drawn from | maj@k ms/group | pass@k ms/group |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['n']} | {r['k']} | {r['clusters']} | {r['maj@k_ms_per_group']:.2f} | {r['pass@k_ms_per_group']:.3f} |"
        for r in table
    ]
    print("\n".join(lines))
    (out / "bench_majk.json").write_text(json.dumps({"args": vars(args), "results": table}, indent=2))
    (out / "bench_majk.md").write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([f"k={r['k']}, A={r['clusters']}" for r in table], [r["maj@k_ms_per_group"] for r in table])
    ax.set_ylabel("maj@k advantages, ms per group")
    ax.set_yscale("log")
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_title(f"n = {args.n}, {args.groups} groups")
    fig.tight_layout()
    fig.savefig(out / "bench_majk.png", dpi=120)


if __name__ == "__main__":
    main()
