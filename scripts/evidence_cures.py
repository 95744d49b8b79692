"""Evidence for CurES (arXiv 2510.01037): GRPO with and without the curriculum at equal generated samples.

    nice -n 10 python scripts/evidence_cures.py                 # 3 seeds (about 10 minutes on an idle 2-core CPU)
    python scripts/evidence_cures.py --quick                    # smoke run: 1 seed, a few steps

Setup: PBE string-rewrite cascades (hub_datasets.pbe, the `demo` family: alphabet abcdef, 1-char rules) in three
tiers of difficulty by cascade length: easy = 1 rule, medium = 2 rules, hard = 3 rules; per tier three disjoint
sets of prompts: SFT, RL train, held-out. A tiny model is built on the task's text and warm-started by SFT on the
SFT prompts' reference programs (once, shared by every run), so that it meets the RL prompts with a mix of
solved, learnable and hopeless ones. The RL train set is small so that each prompt is drawn several times (the
posterior needs visits to act). Then, per seed, two RL runs from the same
warm start with the same budget (`--prompts-per-step` groups of 8 samples per step, the same steps: equal generated
samples):
`--curriculum false` (stock GRPO, TRL's uniform sampler) and CurES (curriculum on, the `CurESConfig` defaults).

Measured per run: the share of groups with zero reward variance (TRL's `frac_reward_zero_std`, same definition in
both arms), the training reward, the share of rollouts spent on each tier, and held-out pass@1 (test split, every
tier, `--eval-samples` samples per prompt at temperature 1) at a few points of the run. The training reward is
not comparable between the arms (CurES picks its prompts), held-out pass@1 is. Writes results.json, results.md and
curves.png under --output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from experiments import cpu_args, pbe_warm_start, write_atomic
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIERS = {"easy": 1, "medium": 2, "hard": 3}  # cascade length per tier
ARMS = ("grpo", "cures")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=100, help="RL steps per run")
    p.add_argument("--prompts-per-step", type=int, default=8, help="groups of 8 samples per RL step")
    p.add_argument("--evals", type=int, default=4, help="held-out evaluations per run (the last at the end)")
    p.add_argument("--sft-steps", type=int, default=1000)
    p.add_argument(
        "--n-sft", type=int, default=300, help="SFT warm-start prompts per tier (not trained on by RL)"
    )
    p.add_argument("--n-train", type=int, default=40, help="RL train prompts per tier")
    p.add_argument("--n-test", type=int, default=40, help="held-out prompts per tier")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 avoids thrashing a shared CPU)"
    )
    p.add_argument("--eval-samples", type=int, default=4)
    p.add_argument("--output", default="outputs/evidence-cures")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 4 steps, tiny data and SFT")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.evals, args.sft_steps, args.prompts_per_step = [0], 3, 1, 20, 4
        args.n_sft, args.n_train, args.n_test, args.eval_samples = 24, 8, 8, 2
    if args.steps < args.evals or args.evals < 1:
        raise SystemExit(f"--steps ({args.steps}) must be >= --evals ({args.evals}) >= 1")
    return args


def build_data(args):
    from dataclasses import replace

    from datasets import Dataset

    from hub_datasets.pbe import CONFIGS, generate

    sft, train, test = [], [], []
    for tier, rules in TIERS.items():
        config = replace(CONFIGS["demo"], rules=(rules, rules))
        rows, rows_test = generate(config, args.n_sft + args.n_train, args.n_test, seed=1000 + rules)
        sft += [{**r, "tier": tier} for r in rows[: args.n_sft]]
        train += [{**r, "tier": tier} for r in rows[args.n_sft :]]
        test += [{**r, "tier": tier} for r in rows_test]
    return Dataset.from_list(sft), Dataset.from_list(train).shuffle(seed=0), Dataset.from_list(test)


def warm_start(args, sft_rows, out: Path) -> str:
    """A tiny model on the task's text, then SFT on the reference programs of the SFT split (cached in `out`)."""
    target = out / f"sft-{args.sft_steps}-{args.n_sft}"
    if (target / "model.safetensors").exists():
        return str(target)
    return pbe_warm_start(sft_rows, out, target, args.sft_steps)


def held_out_pass1(model_dir: str, test, samples: int, seed: int) -> dict:
    """pass@1 per tier and overall (unbiased estimate from `samples` samples per prompt)."""
    from trl_ext.eval.harness import EvalRequest, GenerationSettings, sample, score

    request = EvalRequest(
        model=model_dir,
        dataset="unused",
        samples=samples,
        generation=GenerationSettings(max_new_tokens=16, batch_size=64, seed=seed),
    )
    completions, _ = sample(request, test["prompt"])
    result = {"all": score(test, completions, [1])[0]["pass@1"]}
    for tier in TIERS:
        idx = [i for i, t in enumerate(test["tier"]) if t == tier]
        result[tier] = score(test.select(idx), [completions[i] for i in idx], [1])[0]["pass@1"]
    return result


def run(args, arm: str, seed: int, sft: str, train, test, out: Path) -> dict:
    from transformers import TrainerCallback

    from trl_ext import CurESConfig, CurESTrainer
    from trl_ext.rewards import task_reward

    tier_rollouts = dict.fromkeys(TIERS, 0)

    def pbe_reward(prompts, completions, tier, **kwargs):
        for t in tier:
            tier_rollouts[t] += 1
        return task_reward(prompts=prompts, completions=completions, **kwargs)

    eval_steps = {round(args.steps * (i + 1) / args.evals) for i in range(args.evals)}
    curve = []
    run_dir = out / f"{arm}-seed{seed}"

    class HeldOut(TrainerCallback):
        def on_step_end(self, _args, state, control, model=None, processing_class=None, **kwargs):
            if state.global_step in eval_steps:
                path = run_dir / f"step-{state.global_step}"
                model.save_pretrained(path)
                processing_class.save_pretrained(path)
                curve.append(
                    {"step": state.global_step, **held_out_pass1(str(path), test, args.eval_samples, seed)}
                )

    config = CurESConfig(
        **cpu_args(run_dir, seed),
        curriculum=arm == "cures",
        per_device_train_batch_size=8 * args.prompts_per_step,
        num_generations=8,
        max_completion_length=16,
        temperature=1.0,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        beta=0.0,
        max_steps=args.steps,
        logging_steps=1,
    )
    trainer = CurESTrainer(
        model=sft, reward_funcs=pbe_reward, args=config, train_dataset=train, callbacks=[HeldOut()]
    )
    trainer.train()
    logs = [e for e in trainer.state.log_history if "frac_reward_zero_std" in e]
    total = sum(tier_rollouts.values())
    return {
        "arm": arm,
        "seed": seed,
        "samples_per_step": config.generation_batch_size,
        "zero_std": [e["frac_reward_zero_std"] for e in logs],
        "reward": [e["reward"] for e in logs],
        "tier_share": {t: n / total for t, n in tier_rollouts.items()},
        "held_out": curve,
        "weight_entropy": [e.get("curriculum/weight_entropy") for e in logs],
    }


def summarise(runs: list[dict], before: dict, args) -> tuple[dict, str]:
    def mean_sd(values):
        return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    table = {}
    for arm in ARMS:
        rs = [r for r in runs if r["arm"] == arm]
        table[arm] = {
            "held_out_pass@1_final": mean_sd([r["held_out"][-1]["all"] for r in rs]),
            **{f"held_out_{t}_final": mean_sd([r["held_out"][-1][t] for r in rs]) for t in TIERS},
            "held_out_pass@1_first_eval": mean_sd([r["held_out"][0]["all"] for r in rs]),
            "zero_std_share": mean_sd([statistics.mean(r["zero_std"]) for r in rs]),
            **{f"rollouts_{t}": mean_sd([r["tier_share"][t] for r in rs]) for t in TIERS},
        }
    samples = runs[0]["samples_per_step"] * args.steps
    lines = [
        f"# CurES vs GRPO at equal generated samples ({samples} per run, {len(args.seeds)} seeds: "
        f"{', '.join(map(str, args.seeds))})",
        "",
        f"{3 * args.n_train} train prompts (3 tiers), {args.steps} steps of {args.prompts_per_step} groups of 8: "
        f"{args.steps * args.prompts_per_step / (3 * args.n_train):.1f} groups per prompt on average; "
        f"{3 * args.n_test} held-out prompts x {args.eval_samples} samples.",
        "",
        f"Warm start (SFT, {args.sft_steps} steps) held-out pass@1: "
        + ", ".join(f"{k} {v:.3f}" for k, v in before.items()),
        "",
        "| metric (mean ± sd over seeds) | GRPO | CurES |",
        "|---|---|---|",
    ]
    for key in table["grpo"]:
        g, c = table["grpo"][key], table["cures"][key]
        lines.append(f"| {key} | {g[0]:.3f} ± {g[1]:.3f} | {c[0]:.3f} ± {c[1]:.3f} |")
    lines += [
        "",
        "Held-out pass@1 (all tiers) by samples generated:",
        "",
        "| samples | GRPO | CurES |",
        "|---|---|---|",
    ]
    for i, point in enumerate(runs[0]["held_out"]):
        g = mean_sd([r["held_out"][i]["all"] for r in runs if r["arm"] == "grpo"])
        c = mean_sd([r["held_out"][i]["all"] for r in runs if r["arm"] == "cures"])
        n = point["step"] * runs[0]["samples_per_step"]
        lines.append(f"| {n} | {g[0]:.3f} ± {g[1]:.3f} | {c[0]:.3f} ± {c[1]:.3f} |")
    return table, "\n".join(lines) + "\n"


def plot(runs: list[dict], before: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    colors = {"grpo": "tab:blue", "cures": "tab:orange"}
    per_step = runs[0]["samples_per_step"]
    for arm in ARMS:
        rs = [r for r in runs if r["arm"] == arm]
        xs = [0] + [p["step"] * per_step for p in rs[0]["held_out"]]
        ys = np.array([[before["all"]] + [p["all"] for p in r["held_out"]] for r in rs])
        axes[0].errorbar(xs, ys.mean(0), yerr=ys.std(0), label=arm, color=colors[arm], marker="o", capsize=3)
        for key, ax in (("zero_std", axes[1]), ("reward", axes[2])):
            values = np.array([r[key] for r in rs]).mean(0)
            window = max(1, len(values) // 10)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            steps = np.arange(len(values)) + 1
            ax.plot(steps * per_step, values, color=colors[arm], alpha=0.2)
            ax.plot(steps[window - 1 :] * per_step, smooth, color=colors[arm], label=f"{arm} (moving mean)")
    shares = {
        arm: [statistics.mean(r["tier_share"][t] for r in runs if r["arm"] == arm) for t in TIERS]
        for arm in ARMS
    }
    x = np.arange(len(TIERS))
    for i, arm in enumerate(ARMS):
        axes[3].bar(x + (i - 0.5) * 0.38, shares[arm], 0.38, label=arm, color=colors[arm])
    axes[3].set_xticks(x, list(TIERS))
    titles = [
        "held-out pass@1 (mean ± sd over seeds)",
        "share of groups with zero reward variance",
        "training reward (not comparable: CurES picks prompts)",
        "share of rollouts per tier",
    ]
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    for ax in axes[:3]:
        ax.set_xlabel("generated samples")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    sft_rows, train, test = build_data(args)
    print(f"data: {len(sft_rows)} SFT / {len(train)} RL train / {len(test)} held-out prompts, tiers {TIERS}")
    sft = warm_start(args, sft_rows, out)
    before = held_out_pass1(sft, test, args.eval_samples, 0)
    print(f"warm start held-out pass@1: {before}")
    runs = []
    for seed in tqdm(args.seeds, desc="seeds"):
        for arm in ARMS:
            runs.append(run(args, arm, seed, sft, train, test, out))
            print(
                f"seed {seed} {arm}: held-out {runs[-1]['held_out'][-1]}, rollouts {runs[-1]['tier_share']}"
            )
    table, markdown = summarise(runs, before, args)
    write_atomic(
        out / "results.json", json.dumps({"args": vars(args), "before": before, "table": table, "runs": runs})
    )
    write_atomic(out / "results.md", markdown)
    plot(runs, before, out / "curves.png")
    print(markdown)
    print(f"wrote {out}/results.json, results.md, curves.png")


if __name__ == "__main__":
    main()
