"""Evidence that SPOTrainer does what Soft Policy Optimization (arXiv 2503.05453) claims, on the PBE `demo` task with
a tiny model on CPU:

(a) SPO trained on offline reference solutions alone (`off_policy_ratio: 1`: the fresh samples are only measured,
    never trained on) raises the held-out reward of a weak SFT warm start;
(b) half-online SPO (half of each batch the dataset's reference solutions, half fresh samples) against stock
    GRPOTrainer, at an equal number of generated policy samples: held-out reward and pass@k vs samples, 3 seeds.

    python scripts/evidence_spo.py            # 9 runs of 12 steps: 27 min on a loaded 2-core CPU
    python scripts/evidence_spo.py --quick    # smoke run: 1 seed, a few steps

Every run starts from the same SFT warm start (built once, seeded, or given with --warm-start). SPO also draws `value_samples` reference samples
per prompt it meets, for V̂₀: counted and reported separately ("reference samples"), since the policy-sample axis is
the one the comparison equalises. Writes results.json, results.md and curves.png under --output.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from experiments import cpu_args, pbe_warm_start, sampled_rewards, write_atomic
from tqdm import tqdm
from transformers import TrainerCallback

import hub_datasets
from trl_ext.objectives import pass_at_k
from trl_ext.rewards import task_reward

KS = (1, 4, 8)
RUNS = ("spo-offline", "grpo", "spo-half")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 4 steps, small eval")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=12, help="RL steps per run (16 fresh samples each)")
    p.add_argument("--eval-every", type=int, default=6)
    p.add_argument(
        "--warm-start",
        help="an SFT model of the PBE demo task trained on the train split of the same --n-train (e.g. the one "
        "`trl-ext demo` caches in ./hub/models/pbe-sft-seed0-steps1500); default: build one with --sft-steps",
    )
    p.add_argument("--sft-steps", type=int, default=1500)
    p.add_argument(
        "--n-train", type=int, default=2000, help="PBE demo rows (seed 0), as `trl-ext demo` builds"
    )
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument(
        "--eval-problems", type=int, default=32, help="held-out problems evaluated (first of test)"
    )
    p.add_argument(
        "--offline-pairs", type=int, default=200, help="reference solutions SPO uses (first of train)"
    )
    p.add_argument("--eval-samples", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--spo-beta", type=float, default=0.2)
    p.add_argument("--output", default="outputs/evidence_spo")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.eval_every, args.sft_steps, args.eval_problems = [0], 4, 2, 60, 16
    if args.eval_samples < max(KS):
        p.error(f"--eval-samples must be at least {max(KS)} (pass@{max(KS)} is reported)")
    return args


def warm_start(args, train, output: Path) -> str:
    """A tiny char-level model, SFT on the training split's reference programs (whole-sequence loss, as the demo)."""
    return pbe_warm_start(train, output, output / "sft-final", args.sft_steps)


def evaluate(model, tokenizer, test, samples: int, seed: int) -> dict:
    """Held-out mean reward (= pass@1 for the 0/1 PBE reward) and unbiased pass@k from `samples` per problem."""
    rewards = sampled_rewards(model, tokenizer, test, samples, seed)
    correct = [sum(rewards[i * samples : (i + 1) * samples]) for i in range(len(test))]
    result = {"reward": sum(rewards) / len(rewards)}
    for k in KS:
        result[f"pass@{k}"] = sum(pass_at_k(samples, round(c), k) for c in correct) / len(correct)
    return result


class HeldOut(TrainerCallback):
    """Evaluates the policy on the held-out problems before training and every `every` steps."""

    def __init__(self, tokenizer, test, samples: int, every: int, fresh_per_step: int):
        self.tokenizer, self.test, self.samples, self.every = tokenizer, test, samples, every
        self.fresh_per_step = fresh_per_step
        self.history: list[dict] = []

    def _record(self, state, model):
        result = evaluate(model, self.tokenizer, self.test, self.samples, seed=1234)
        self.history.append(
            {"step": state.global_step, "samples": state.global_step * self.fresh_per_step, **result}
        )

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._record(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self._record(state, model)


def train_run(kind: str, seed: int, args, sft: str, train, test, output: Path, values: dict) -> dict:
    from trl import GRPOConfig, GRPOTrainer

    from trl_ext import SPOConfig, SPOTrainer

    rl = dict(
        **cpu_args(output / f"{kind}-seed{seed}", seed),
        per_device_train_batch_size=16,  # 4 prompts x 4 fresh samples per step
        num_generations=4,
        max_completion_length=16,
        temperature=1.0,
        learning_rate=args.learning_rate,
        lr_scheduler_type="constant",
        beta=0.0,
        max_steps=args.steps,
        logging_steps=1,
    )
    if kind == "grpo":
        trainer = GRPOTrainer(model=sft, reward_funcs=task_reward, args=GRPOConfig(**rl), train_dataset=train)
    else:
        ratio = 1.0 if kind == "spo-offline" else 0.5
        config = SPOConfig(**rl, spo_beta=args.spo_beta, value_samples=4, off_policy_ratio=ratio)
        offline = train.select(range(args.offline_pairs)).rename_column("answer", "completion")
        trainer = SPOTrainer(sft, task_reward, config, train, offline_dataset=offline)
        # Every run has the same π_ref (the warm start), so V̂₀'s reference samples are shared between runs: the
        # cache is one dict that later runs extend (a later run's first estimate of a prompt may be pooled with
        # an earlier run's; reported as reference samples drawn in total).
        trainer._values = values
    held_out = HeldOut(trainer.processing_class, test, args.eval_samples, args.eval_every, 16)
    trainer.add_callback(held_out)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "reward" in e]
    run = {
        "kind": kind,
        "seed": seed,
        "history": held_out.history,
        "train_reward": [e["reward"] for e in logs],
    }
    if kind != "grpo":
        run["calibration_gap"] = [e.get("spo/calibration_gap") for e in logs]
        run["kl_ref"] = [e.get("spo/kl_ref") for e in logs]
    return run


def summarise(runs: list[dict]) -> dict:
    """Per kind and eval step: mean and sample std over seeds of every held-out metric."""
    summary = {}
    for kind in RUNS:
        mine = [r for r in runs if r["kind"] == kind]
        if not mine:
            continue
        points = []
        for i, point in enumerate(mine[0]["history"]):
            entry = {"step": point["step"], "samples": point["samples"]}
            for metric in ("reward", *(f"pass@{k}" for k in KS)):
                values = [r["history"][i][metric] for r in mine]
                entry[metric] = statistics.mean(values)
                entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            points.append(entry)
        summary[kind] = {"points": points, "seeds": [r["seed"] for r in mine]}
    return summary


def markdown(summary: dict, args) -> str:
    lines = [
        f"# SPO evidence (PBE demo, tiny model; {args.steps} steps x 16 fresh samples; seeds {args.seeds})",
        "",
        "| run | policy samples | held-out reward | pass@1 | pass@4 | pass@8 |",
        "|---|---|---|---|---|---|",
    ]
    for kind, entry in summary.items():
        if kind not in RUNS:
            continue
        for point in (entry["points"][0], entry["points"][-1]):
            cells = [
                f"{point[m]:.3f} ± {point[m + '_std']:.3f}" for m in ("reward", "pass@1", "pass@4", "pass@8")
            ]
            lines.append(f"| {kind} | {point['samples']} | " + " | ".join(cells) + " |")
    lines.append("")
    total = summary.get("reference_samples_total", 0)
    lines.append(
        f"- π_ref samples drawn for V̂₀, shared by all SPO runs (π_ref is the same warm start): {total}"
    )
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = [("reward", "(a) offline only: held-out reward", ("spo-offline",))]
    panels += [
        ("reward", "(b) held-out reward", ("grpo", "spo-half")),
        ("pass@8", "(b) held-out pass@8", ("grpo", "spo-half")),
    ]
    for ax, (metric, title, kinds) in zip(axes, panels):
        for kind in kinds:
            if kind not in summary:
                continue
            points = summary[kind]["points"]
            x = [p["samples"] for p in points]
            y = [p[metric] for p in points]
            err = [p[f"{metric}_std"] for p in points]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=kind)
        ax.set_title(title)
        ax.set_xlabel("generated policy samples")
        ax.set_ylabel(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> dict:
    args = parse_args(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    built = hub_datasets.build("pbe", "demo", n=args.n_train, n_test=args.n_test, seed=0)
    train, test = built.dataset["train"], list(built.dataset["test"])[: args.eval_problems]
    sft = args.warm_start or warm_start(args, train, output)
    runs, values = [], {}
    jobs = [(kind, seed) for seed in args.seeds for kind in RUNS]
    for kind, seed in tqdm(jobs, desc="runs"):
        runs.append(train_run(kind, seed, args, sft, train, test, output, values))
        # Written after every run, so an interrupted run leaves its partial figures.
        summary = summarise(runs)
        summary["reference_samples_total"] = sum(len(v["rewards"]) for v in values.values())
        results = {"settings": vars(args), "summary": summary, "runs": runs}
        write_atomic(output / "results.json", json.dumps(results, indent=1))
        write_atomic(output / "results.md", markdown(summary, args))
        plot(summary, output / "curves.png")
    print(markdown(summary, args))
    return results


if __name__ == "__main__":
    main()
