"""Learning-rate schedules on the demo task: cosine vs linear vs REX vs refined, over several seeds.

The demo's warm-start stage (`trl_ext.demo`): TRL's SFTTrainer trains the demo's tiny Llama-style model (built from
the PBE `demo` dataset's own text) on the reference programs, for a fixed budget of steps, with each schedule at the
same peak rate and no warmup (REX and the refined schedule set their whole shape). `refined` is computed per seed
from that seed's `linear` run's gradient norms (arXiv 2310.07831 refines a linear-decay run) with
`scripts/refine_schedule.py`. Each run is scored by the held-out loss and next-token accuracy on the test split.
Prints a table; saves JSON, markdown and a PNG plot (rates and held-out loss).

    nice -n 5 python scripts/bench_schedules.py --seeds 0 1 2 --steps 60 --output outputs/bench_schedules
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

from tqdm import tqdm

SCHEDULES = ("cosine", "linear", "rex", "refined")


def demo_rows(n_train: int, n_test: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """The PBE `demo` config as SFT rows (prompt + the reference program as the completion)."""
    import hub_datasets

    built = hub_datasets.build("pbe", "demo", n=n_train, n_test=n_test, seed=seed)

    def rows(split):
        return [
            {"prompt": r["prompt"], "completion": [{"role": "assistant", "content": r["answer"]}]}
            for r in built.dataset[split]
        ]

    return rows("train"), rows("test")


def tiny_model(train: list[dict], output: Path, seed: int) -> str:
    """The demo's tiny model (its sizes), initialised with `seed`."""
    from trl_ext.models import build_tiny_model

    corpus = [r["prompt"][0]["content"] + r["completion"][0]["content"] for r in train]
    return str(
        build_tiny_model(
            output,
            corpus,
            hidden_size=64,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=256,
            seed=seed,
        )
    )


def sft_run(
    model: str,
    train: list[dict],
    test: list[dict],
    schedule: str,
    *,
    seed: int,
    steps: int,
    output_dir: Path,
    learning_rate: float = 3e-3,
    batch_size: int = 16,
    schedule_file: str | None = None,
) -> dict:
    """One SFT run with `lr_scheduler_type: schedule`; returns the rates, gradient norms and held-out metrics, and
    leaves the run's trainer_state.json in `output_dir`."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    import trl_ext.schedules  # noqa: F401  (registers rex and refined)

    args = SFTConfig(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=64,
        learning_rate=learning_rate,
        lr_scheduler_type=schedule,
        lr_scheduler_kwargs={"schedule_file": schedule_file} if schedule_file else {},
        warmup_steps=0,
        max_steps=steps,
        completion_only_loss=False,  # as the demo: the whole sequence
        max_length=256,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(train), eval_dataset=Dataset.from_list(test)
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    trainer.save_state()
    history = [e for e in trainer.state.log_history if "grad_norm" in e]
    metrics = trainer.evaluate()
    return {
        "schedule": schedule,
        "seed": seed,
        "learning_rates": [e["learning_rate"] for e in history],
        "grad_norms": [e["grad_norm"] for e in history],
        "train_loss_last10": statistics.fmean(e["loss"] for e in history[-10:]),
        "eval_loss": metrics["eval_loss"],
        "eval_token_accuracy": metrics.get("eval_mean_token_accuracy"),
        "trainer_state": str(Path(output_dir) / "trainer_state.json"),
    }


def refine(trainer_state: str, output: Path) -> str:
    """scripts/refine_schedule.py on a run's trainer_state.json → the schedule file."""
    spec = importlib.util.spec_from_file_location(
        "refine_schedule", Path(__file__).with_name("refine_schedule.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([trainer_state, "--output", str(output)])
    return str(output)


def summarize(runs: list[dict]) -> list[dict]:
    table = []
    for schedule in SCHEDULES:
        mine = [r for r in runs if r["schedule"] == schedule]
        if not mine:
            continue
        losses = [r["eval_loss"] for r in mine]
        accuracies = [r["eval_token_accuracy"] for r in mine if r["eval_token_accuracy"] is not None]
        table.append(
            {
                "schedule": schedule,
                "seeds": len(mine),
                "eval_loss_mean": statistics.fmean(losses),
                "eval_loss_std": statistics.stdev(losses) if len(losses) > 1 else 0.0,
                "eval_token_accuracy_mean": statistics.fmean(accuracies) if accuracies else None,
                "per_seed_eval_loss": losses,
            }
        )
    return table


def markdown(table: list[dict], settings: dict) -> str:
    lines = [
        f"Demo task SFT, {settings['steps']} steps, batch {settings['batch_size']}, peak lr {settings['learning_rate']}, "
        f"seeds {settings['seeds']}, {settings['n_train']} train / {settings['n_test']} held-out rows.",
        "",
        "| schedule | held-out loss (mean ± sd) | held-out token accuracy | per seed |",
        "|---|---|---|---|",
    ]
    for row in table:
        accuracy = (
            f"{row['eval_token_accuracy_mean']:.3f}" if row["eval_token_accuracy_mean"] is not None else "-"
        )
        per_seed = ", ".join(f"{v:.4f}" for v in row["per_seed_eval_loss"])
        lines.append(
            f"| {row['schedule']} | {row['eval_loss_mean']:.4f} ± {row['eval_loss_std']:.4f} | {accuracy} | {per_seed} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rates, losses) = plt.subplots(1, 2, figsize=(10, 3.6))
    seed = runs[0]["seed"]
    for run in (r for r in runs if r["seed"] == seed):
        rates.plot(run["learning_rates"], label=run["schedule"])
    rates.set_xlabel("step")
    rates.set_ylabel("learning rate")
    rates.set_title(f"schedules (seed {seed})")
    rates.legend(fontsize=8)
    names = [row["schedule"] for row in table]
    losses.bar(names, [row["eval_loss_mean"] for row in table], yerr=[row["eval_loss_std"] for row in table])
    low = min(row["eval_loss_mean"] - row["eval_loss_std"] for row in table)
    losses.set_ylim(bottom=max(0.0, low - 0.05))
    losses.set_ylabel("held-out loss (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--schedules", nargs="+", choices=SCHEDULES, default=list(SCHEDULES))
    parser.add_argument("--steps", type=int, default=60, help="training steps per run (the budget)")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="the peak rate of every schedule")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 runs best on a shared CPU)")
    parser.add_argument("--output", default="outputs/bench_schedules")
    args = parser.parse_args(argv)
    if "refined" in args.schedules and "linear" not in args.schedules:
        parser.error("refined is computed from the linear run: add linear to --schedules")
    args.schedules = [name for name in SCHEDULES if name in args.schedules]  # linear runs before refined
    import torch

    torch.set_num_threads(args.threads)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "output"}
    train, test = demo_rows(args.n_train, args.n_test)
    runs = []
    start = time.time()
    with tqdm(total=len(args.seeds) * len(args.schedules), desc="runs", unit="run") as bar:
        for seed in args.seeds:
            model = tiny_model(train, output / f"init-seed{seed}", seed)
            for schedule in args.schedules:
                schedule_file = None
                if schedule == "refined":
                    linear = next(r for r in runs if r["seed"] == seed and r["schedule"] == "linear")
                    schedule_file = refine(linear["trainer_state"], output / f"refined-seed{seed}.json")
                run = sft_run(
                    model,
                    train,
                    test,
                    schedule,
                    seed=seed,
                    steps=args.steps,
                    output_dir=output / f"{schedule}-seed{seed}",
                    learning_rate=args.learning_rate,
                    batch_size=args.batch_size,
                    schedule_file=schedule_file,
                )
                runs.append(run)
                bar.set_postfix(schedule=schedule, seed=seed, eval_loss=f"{run['eval_loss']:.3f}")
                bar.update(1)
    table = summarize(runs)
    settings["seconds"] = round(time.time() - start, 1)
    text = markdown(table, settings)
    print(text)
    (output / "results.json").write_text(
        json.dumps({"settings": settings, "table": table, "runs": runs}, indent=1)
    )
    (output / "results.md").write_text(text)
    plot(runs, table, output / "schedules.png")
    print(f"saved {output}/results.json, results.md, schedules.png ({settings['seconds']} s)")
    return table


if __name__ == "__main__":
    main()
