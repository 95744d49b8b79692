"""Evidence for GuideTrainer (arXiv 2506.13923): Guide against stock GRPO at an equal number of generated samples.

    python scripts/evidence_guide.py            # 3 seeds, a few minutes on an idle 2-core CPU
    python scripts/evidence_guide.py --quick    # smoke mode: tiny sizes, 1 seed

Setup (everything offline, on CPU): PBE `demo` rows (hub_datasets.pbe) split into a warm-start set, an RL
training set and a held-out test set, disjoint. A tiny character-level model is built and warm-started by TRL's
SFTTrainer on the warm-start set, each row once without and once with its hint (`hint_template`), so that the
policy can read hints as an instruction-tuned model would; the warm start is short, so that most RL training
prompts start unsolved. From it, for each seed, stock `GRPOTrainer` and `GuideTrainer` train until they have
generated the same number of samples (Guide's hinted regenerations count). Measured: the share of RL training
prompts ever solved by a hint-free sample during training, and held-out pass@1 / pass@8 (8 samples, hint-free).
Writes JSON, markdown and a plot under `--output`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from experiments import answer_rows, cpu_args, sft_train, write_atomic
from tqdm import tqdm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEMPLATE = "{prompt}\nHint: {hint}\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, one seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-sft", type=int, default=800, help="warm-start rows")
    p.add_argument("--n-rl", type=int, default=48, help="RL training prompts")
    p.add_argument("--n-test", type=int, default=40, help="held-out prompts")
    p.add_argument("--sft-steps", type=int, default=200)
    p.add_argument("--budget", type=int, default=768, help="generated samples per RL run (both arms)")
    p.add_argument("--prompts-per-step", type=int, default=8)
    p.add_argument("--group", type=int, default=8, help="num_generations")
    p.add_argument("--eval-samples", type=int, default=8)
    p.add_argument("--output", default="outputs/evidence_guide")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.n_sft, args.n_rl, args.n_test = args.seeds[:1], 64, 16, 8
        args.sft_steps, args.budget, args.prompts_per_step, args.eval_samples = 4, 64, 4, 4
    return args


def warm_start(args, sft_rows: list[dict], corpus: list[str], out: Path) -> str:
    """A tiny model warm-started on (prompt → answer) and (hinted prompt → answer)."""
    from trl_ext.models import build_tiny_model

    base = build_tiny_model(
        out / "tiny-init", corpus, hidden_size=64, num_hidden_layers=4, intermediate_size=256
    )
    pairs = answer_rows(sft_rows, TEMPLATE)
    sft_train(
        base,
        pairs,
        out / "sft",
        out / "sft-final",
        max_steps=args.sft_steps,
        warmup_steps=10,
        logging_steps=max(1, args.sft_steps // 4),
    )
    return str(out / "sft-final")


def counting(trainer_cls):
    """`trainer_cls` counting every generated sample (Guide's regenerations included) and, from hint-free samples,
    the training prompts ever solved."""
    from trl_ext.trainers.guide import prompt_key

    class Counting(trainer_cls):
        generated = 0

        def _generate_single_turn(self, prompt_ids, *rest, **kwargs):
            self.generated += len(prompt_ids)
            return super()._generate_single_turn(prompt_ids, *rest, **kwargs)

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            if not hasattr(self, "solved_unhinted"):  # stock GRPO: every sample is hint-free
                self.solved_grpo = getattr(self, "solved_grpo", set())
                self.solved_grpo |= {
                    prompt_key(p) for p, r in zip(prompts, rewards.sum(1).tolist()) if r > 0.5
                }
            return rewards

        def solved(self) -> set:
            return (
                self.solved_unhinted
                if hasattr(self, "solved_unhinted")
                else getattr(self, "solved_grpo", set())
            )

    return Counting


def train_arm(arm: str, args, sft: str, rl_rows: list[dict], seed: int, out: Path) -> tuple[str, dict]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from trl_ext import GuideConfig, GuideTrainer
    from trl_ext.rewards import task_reward

    per_step = args.prompts_per_step * args.group
    rl = dict(
        **cpu_args(out / f"{arm}-seed{seed}", seed),
        per_device_train_batch_size=per_step,
        num_generations=args.group,
        max_completion_length=16,
        temperature=1.0,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        beta=0.0,
        max_steps=10 * args.budget // per_step,  # an upper bound: the sample budget stops the run
        logging_steps=1,
    )
    holder = {}

    class Budget(TrainerCallback):
        def on_step_end(self, targs, state, control, **kwargs):
            control.should_training_stop = holder["trainer"].generated >= args.budget

    if arm == "guide":
        cls, config = counting(GuideTrainer), GuideConfig(**rl, hint_template=TEMPLATE)
    else:
        cls, config = counting(GRPOTrainer), GRPOConfig(**rl)
    trainer = cls(
        model=sft,
        reward_funcs=task_reward,
        args=config,
        train_dataset=Dataset.from_list(rl_rows),
        callbacks=[Budget()],
    )
    holder["trainer"] = trainer
    trainer.train()
    final = out / f"{arm}-seed{seed}" / "final"
    trainer.save_model(str(final))
    logs = [e for e in trainer.state.log_history if "guide/guided_group_share" in e]
    record = {
        "steps": trainer.state.global_step,
        "generated_samples": trainer.generated,
        "train_prompts_ever_solved_unhinted": len(trainer.solved()) / len(rl_rows),
    }
    if logs:
        record["mean_guided_group_share"] = statistics.mean(e["guide/guided_group_share"] for e in logs)
        rates = [e["guide/guided_success_rate"] for e in logs if "guide/guided_success_rate" in e]
        record["mean_guided_success_rate"] = statistics.mean(rates) if rates else None
        record["guided_later_solved_unhinted"] = logs[-1].get("guide/guided_later_solved_unhinted")
    return str(final), record


def evaluate(model: str, rows: list[dict], args, seed: int) -> dict:
    from datasets import Dataset

    from trl_ext.eval.harness import EvalRequest, GenerationSettings, sample, score

    request = EvalRequest(
        model=model,
        dataset="local",
        samples=args.eval_samples,
        ks=[1, args.eval_samples],
        generation=GenerationSettings(max_new_tokens=16, batch_size=32, seed=seed),
    )
    completions, _ = sample(request, [r["prompt"] for r in rows])
    metrics, _, _ = score(Dataset.from_list(rows), completions, request.ks)  # metrics, std errors, details
    return {k: v for k, v in metrics.items() if k.startswith("pass@")}


def summarise(results: dict, args) -> str:
    k = args.eval_samples
    keys = ["train_prompts_ever_solved_unhinted", "pass@1", f"pass@{k}", "steps", "generated_samples"]
    lines = [
        f"Guide vs GRPO, equal generated samples ({args.budget} per run), seeds {args.seeds}; "
        f"warm start: train prompts solved (pass@{k}) {results['sft']['train'][f'pass@{k}']:.3f}, "
        f"held-out pass@1 {results['sft']['test']['pass@1']:.3f}, pass@{k} {results['sft']['test'][f'pass@{k}']:.3f}.",
        "",
        "| arm | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for arm in ("grpo", "guide"):
        runs = results[arm]
        cells = []
        for key in keys:
            values = [r[key] for r in runs]
            spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.3f}{spread}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    guide = results["guide"]
    lines += [
        "",
        "Guide: mean share of groups guided "
        + ", ".join(f"{r.get('mean_guided_group_share', 0):.3f}" for r in guide)
        + "; success rate of guided samples "
        + ", ".join(f"{r.get('mean_guided_success_rate') or 0:.3f}" for r in guide)
        + "; guided prompts later solved without hint "
        + ", ".join(f"{r.get('guided_later_solved_unhinted') or 0:.3f}" for r in guide)
        + " (per seed).",
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = args.eval_samples
    keys = ["train_prompts_ever_solved_unhinted", "pass@1", f"pass@{k}"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.5))
    for ax, key in zip(axes, keys):
        for i, arm in enumerate(("grpo", "guide")):
            values = [r[key] for r in results[arm]]
            ax.bar(i, statistics.mean(values), color=("tab:gray", "tab:blue")[i], alpha=0.6)
            ax.scatter([i] * len(values), values, color="black", s=12, zorder=3)
        ax.set_xticks([0, 1], ["GRPO", "Guide"])
        ax.set_title(key.replace("train_prompts_ever_solved_unhinted", "train prompts solved (no hint)"))
    fig.suptitle(f"Equal budget: {args.budget} generated samples per run, {len(args.seeds)} seed(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> dict:
    from hub_datasets import pbe

    args = parse_args(argv)
    out = Path(args.output)
    shutil.rmtree(out / "runs", ignore_errors=True)
    runs = out / "runs"
    train, test = pbe.generate(pbe.CONFIGS["demo"], args.n_sft + args.n_rl, args.n_test, seed=0)
    sft_rows, rl_rows = train[: args.n_sft], train[args.n_sft :]
    corpus = [r["prompt"][0]["content"] + r["answer"] for r in train + test]
    corpus += [TEMPLATE.format(prompt="", hint=r["hint"]) for r in train]
    sft = warm_start(args, sft_rows, corpus, runs)
    results = {"config": vars(args), "sft": {}, "grpo": [], "guide": []}
    results["sft"]["train"] = evaluate(sft, rl_rows, args, 0)
    results["sft"]["test"] = evaluate(sft, test, args, 0)
    jobs = [(seed, arm) for seed in args.seeds for arm in ("grpo", "guide")]
    for seed, arm in tqdm(jobs, desc="RL runs", unit="run"):
        model, record = train_arm(arm, args, sft, rl_rows, seed, runs)
        record.update(evaluate(model, test, args, seed), seed=seed)
        results[arm].append(record)
        tqdm.write(f"{arm} seed {seed}: {record}")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", json.dumps(results, indent=2))
    table = summarise(results, args)
    write_atomic(out / "results.md", table)
    plot(results, args, out / "guide_vs_grpo.png")
    print(table)
    return results


if __name__ == "__main__":
    main()
