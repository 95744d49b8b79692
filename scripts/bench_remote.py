"""Remote execution on one machine: HumanEval canonical solutions judged through (a) the local pool, (b) 1, 2 and 4
`trl-ext sandbox serve` replicas via the sandbox-fusion client, (c) Ray with 1 and 2 actors; in one run.

Reports checks/s per path; the per-job overhead of each remote path against the local pool with the same number
of sandbox workers (on one machine the replicas share the CPUs, so this overhead is what scaling out must
amortise); the reward's share of a training step per path (a tiny GRPO model on CPU whose reward judges one
HumanEval program per completion through that path); and a fault run: one of two replicas is killed (SIGKILL)
in the middle of a batch of `--fault-jobs` jobs (a quarter of them wrong on purpose), checking that every
verdict equals the local pool's and none is lost, and timing what the failure cost. Saves JSON, a markdown
table and a PNG plot.

    python scripts/bench_remote.py --output outputs/bench_remote
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from tqdm import tqdm

from hub_datasets import humaneval
from trl_ext.execution import Sandbox, run_tests_batch
from trl_ext.execution.remote import SandboxFusionBackend
from trl_ext.execution.server import spawn, stop
from trl_ext.rewards.code import verify_job

CPUS = os.cpu_count() or 1


def humaneval_jobs(n: int, wrong_every: int = 0) -> list[dict]:
    """`n` verification jobs cycling over the 164 problems (canonical solutions; every `wrong_every`-th one
    replaced by a body that returns None), as `task_reward` verifies them."""
    rows = humaneval.rows()
    jobs = []
    for i in range(n):
        row = rows[i % len(rows)]
        program = row["solutions"][0]
        if wrong_every and i % wrong_every == wrong_every - 1:
            program = row["starter_code"] + "    return None\n"
        jobs.append(verify_job(program, row))
    return jobs


def _verdicts(results) -> list[str]:
    return [r.status for r in results]


class LocalPath:
    def __init__(self, workers: int):
        self.sandbox, self.workers = Sandbox(workers), workers

    def run(self, jobs):
        return run_tests_batch(jobs, sandbox=self.sandbox)

    async def arun(self, jobs):
        return await asyncio.to_thread(self.run, jobs)

    def close(self):
        self.sandbox.close()


class BackendPath:
    def __init__(self, backend, workers: int, processes=()):
        self.backend, self.workers, self.processes = backend, workers, list(processes)

    def run(self, jobs):
        return self.backend.run_tests_batch(jobs)

    async def arun(self, jobs):
        return await self.backend.arun_tests_batch(jobs)

    def close(self):
        self.backend.close()
        for process in self.processes:
            stop(process)


def replicas_path(count: int) -> BackendPath:
    workers = max(1, CPUS // count)
    started = [spawn("--workers", str(workers)) for _ in range(count)]
    backend = SandboxFusionBackend([url for _, url in started])
    return BackendPath(backend, workers * count, [p for p, _ in started])


def ray_path(actors: int) -> BackendPath:
    from trl_ext.execution.ray_backend import RayBackend, RaySettings

    return BackendPath(RayBackend(settings=RaySettings(num_actors=actors)), actors)


def throughput(path, jobs, rounds: int) -> dict:
    path.run(jobs[: 2 * path.workers])  # start the workers (and connections) outside the timing
    start, passed, lost = time.perf_counter(), 0, 0
    for _ in range(rounds):
        results = path.run(jobs)
        passed += sum(r.passed for r in results)
        lost += sum(r.status == "sandbox_error" for r in results)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "checks": rounds * len(jobs), "passed": passed, "lost": lost}


def step_share(path, model_dir: str, steps: int, output_dir: str) -> dict:
    """Train a tiny GRPO model `steps` steps with a reward judging one HumanEval program per completion through
    `path` (TRL's async reward path); the reward's share of the training time."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    jobs = humaneval_jobs(164)
    spent, cursor = [0.0], [0]

    async def humaneval_reward(prompts, completions, **kwargs):
        batch = [jobs[(cursor[0] + i) % len(jobs)] for i in range(len(completions))]
        cursor[0] += len(completions)
        start = time.perf_counter()
        results = await path.arun(batch)
        spent[0] += time.perf_counter() - start
        return [None if r.status == "sandbox_error" else float(r.passed) for r in results]

    args = GRPOConfig(
        output_dir=output_dir,
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=16,
        num_generations=4,
        max_completion_length=16,
        max_steps=steps,
        learning_rate=1e-3,
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        seed=0,
    )
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": f"write {i}"}] for i in range(64)]})
    trainer = GRPOTrainer(model=model_dir, reward_funcs=humaneval_reward, args=args, train_dataset=dataset)
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    return {"train_seconds": total, "reward_seconds": spent[0], "reward_share": spent[0] / total}


def fault_run(jobs: list[dict], expected: list[str]) -> dict:
    """Two replicas; the batch once undisturbed, once with one replica killed halfway through its time."""
    out = {}
    for label in ("no_fault", "fault"):
        path = replicas_path(2)
        try:
            path.run(jobs[:4])
            killer = None
            if label == "fault":
                victim = path.processes[0]
                killer = threading.Timer(out["no_fault"]["seconds"] / 2, victim.kill)
                killer.start()
            start = time.perf_counter()
            results = path.run(jobs)
            seconds = time.perf_counter() - start
            if killer is not None:
                killer.join()
                assert victim.poll() is not None, "the replica finished before it could be killed"
            got = _verdicts(results)
            out[label] = {
                "seconds": seconds,
                "jobs": len(jobs),
                "wrong_verdicts": sum(g != e for g, e in zip(got, expected)),
                "lost": sum(g == "sandbox_error" for g in got),
            }
        finally:
            path.close()
    out["failure_cost_seconds"] = out["fault"]["seconds"] - out["no_fault"]["seconds"]
    return out


def markdown(report: dict) -> str:
    lines = [
        f"HumanEval canonical solutions, {report['checks_per_round']} checks per round × {report['rounds']}; "
        f"{report['cpus']} CPUs shared by every path.",
        "",
        "| path | sandbox workers | checks/s | s/job | overhead vs local (ms/job) | reward share of a step |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in report["paths"].items():
        overhead = row.get("overhead_ms_per_job")
        share = row.get("reward_share")
        lines.append(
            f"| {name} | {row['workers']} | {row['checks_per_s']:.1f} | {row['s_per_job']:.4f} | "
            f"{'—' if overhead is None else f'{overhead:+.1f}'} | {'—' if share is None else f'{share:.0%}'} |"
        )
    fault = report["fault"]
    lines += [
        "",
        f"Fault run ({fault['fault']['jobs']} jobs, 2 replicas, one killed halfway): "
        f"{fault['no_fault']['seconds']:.1f} s undisturbed, {fault['fault']['seconds']:.1f} s with the kill "
        f"(failure cost {fault['failure_cost_seconds']:+.1f} s); wrong verdicts {fault['fault']['wrong_verdicts']}, "
        f"lost jobs {fault['fault']['lost']}.",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["paths"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.bar(names, [report["paths"][n]["checks_per_s"] for n in names], color="tab:blue")
    left.set_ylabel("HumanEval checks/s")
    left.set_title(f"Throughput on one machine ({report['cpus']} CPUs)")
    shares = [report["paths"][n].get("reward_share") or 0 for n in names]
    right.bar(names, [100 * s for s in shares], color="tab:orange")
    right.set_ylabel("reward share of a training step (%)")
    right.set_title("Tiny GRPO model, 16 completions per step")
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1, help="passes over the 164 problems per path")
    parser.add_argument("--fault-jobs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=3, help="training steps per path for the reward share")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step share")
    parser.add_argument("--output", default="outputs/bench_remote")
    args = parser.parse_args()
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)

    import ray

    ray.init(num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
    jobs = humaneval_jobs(164)
    makers = {f"local ({w} worker{'s' * (w > 1)})": (lambda w=w: LocalPath(w)) for w in sorted({1, CPUS})}
    makers.update({f"{n} replica{'s' * (n > 1)}": (lambda n=n: replicas_path(n)) for n in (1, 2, 4)})
    makers.update({f"ray ({n} actor{'s' * (n > 1)})": (lambda n=n: ray_path(n)) for n in (1, 2)})

    model_dir = None
    if not args.no_train:
        from trl_ext.models import build_tiny_model

        model_dir = tempfile.mkdtemp(prefix="bench_remote_model")
        build_tiny_model(model_dir, [f"write {i}\n" for i in range(64)], seed=0)

    paths: dict[str, dict] = {}
    for name, make in tqdm(makers.items(), desc="paths"):
        path = make()
        try:
            row = throughput(path, jobs, args.rounds)
            row["workers"] = path.workers
            if model_dir:
                row.update(step_share(path, model_dir, args.steps, str(out_dir / "trainer")))
        finally:
            path.close()
        row["checks_per_s"] = row["checks"] / row["seconds"]
        row["s_per_job"] = row["seconds"] / row["checks"]
        paths[name] = row
        tqdm.write(f"{name}: {row['checks_per_s']:.1f} checks/s, {row['lost']} lost")
    for name, row in paths.items():
        if not name.startswith("local"):
            base = next(
                r
                for n, r in paths.items()
                if n.startswith("local") and r["workers"] == min(row["workers"], CPUS)
            )
            row["overhead_ms_per_job"] = 1000 * (row["s_per_job"] - base["s_per_job"])

    fault_jobs = humaneval_jobs(args.fault_jobs, wrong_every=4)
    with Sandbox(CPUS) as box:
        expected = _verdicts(run_tests_batch(fault_jobs, sandbox=box))
    fault = fault_run(fault_jobs, expected)
    ray.shutdown()

    report = {
        "cpus": CPUS,
        "rounds": args.rounds,
        "checks_per_round": len(jobs),
        "paths": paths,
        "fault": fault,
    }
    (out_dir / "bench_remote.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    (out_dir / "bench_remote.md").write_text(table)
    plot(report, out_dir / "bench_remote.png")
    print(table)
    print(f"saved {out_dir}/bench_remote.json, .md, .png")


if __name__ == "__main__":
    main()
