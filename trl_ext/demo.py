"""The embedded default: the product's main job end to end on one CPU, with local folders for Hub repos.

    trl-ext demo --minutes 12 --trainer passk --k 4 --seed 0

1. builds the PBE `demo` dataset (one or two single-character rewrite rules) into ./hub/datasets/pbe;
2. builds a character-level tokenizer and a tiny Llama-style model on the task's own text and warm-starts it
   with TRL's SFTTrainer on the reference programs (cached: a second run reuses it);
3. evaluates the SFT model on the held-out split with the `trl-ext evaluate` harness;
4. trains with PassAtKTrainer (`--trainer grpo`: stock GRPOTrainer, the baseline; `--trainer sft`: the
   control, the same time spent on more SFT) and evaluates again;
5. submits both models to the local leaderboard, runs the backend once and prints the table;
6. saves plots: reward and batch pass@k during RL, and the before/after comparison.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from transformers import TrainerCallback

from trl_ext import hub

TRAINERS = ("passk", "grpo", "sft")  # sft: the control — spend the RL budget on more SFT instead
# Fixed step counts per minute of budget make the same seed give the same figures; a deadline (a share of the
# budget) stops a machine slower than the 2-core CPU they were measured on (SFT ~17 steps/s, RL ~1.95 steps/s).
SFT_STEPS_PER_MINUTE, RL_STEPS_PER_MINUTE = 125, 45
SFT_STEPS_PER_S, RL_STEPS_PER_S = 17.0, 1.95
SFT_SHARE, RL_SHARE = 0.4, 0.45


@dataclass
class DemoSettings:
    minutes: float = 12.0
    trainer: str = "passk"
    k: int = 4
    seed: int = 0
    output: str = "outputs/demo"
    hub_root: str = "./hub"
    n_train: int = 2000
    n_test: int = 300
    eval_samples: int = 8

    @property
    def sft_steps(self) -> int:
        return max(20, round(SFT_STEPS_PER_MINUTE * self.minutes))

    @property
    def rl_steps(self) -> int:
        return max(2, round(RL_STEPS_PER_MINUTE * self.minutes))

    @property
    def control_sft_steps(self) -> int:
        """SFT steps that take as long as the RL steps: the control spends the same time on more SFT."""
        return round(self.rl_steps * SFT_STEPS_PER_S / RL_STEPS_PER_S)

    def validate(self) -> None:
        if self.trainer not in TRAINERS:
            raise ValueError(f"--trainer must be one of {', '.join(TRAINERS)}, got {self.trainer!r}")
        if not 1 <= self.k <= 8:
            raise ValueError(
                f"--k must be between 1 and 8 (the demo samples 8 completions per prompt), got {self.k}"
            )
        if self.minutes <= 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes}")
        if self.eval_samples < 8:
            raise ValueError("the demo reports pass@8 and maj@8: eval_samples must be at least 8")


class Deadline(TrainerCallback):
    """Stop training once a wall-clock budget is spent (on machines slower than the step counts assume)."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() > self.end:
            control.should_training_stop = True
        return control


def _hub_path(s: DemoSettings, *parts: str) -> Path:
    """A location in the local hub, absolute (a relative 'hub/x' would read as a Hub repo id)."""
    return Path(s.hub_root).expanduser().resolve().joinpath(*parts)


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def build_dataset(s: DemoSettings) -> str:
    import hub_datasets

    target = str(_hub_path(s, "datasets", "pbe"))
    built = hub_datasets.build("pbe", "demo", n=s.n_train, n_test=s.n_test, seed=s.seed)
    hub.push_dataset(built.dataset, target, "demo", card_meta=built.card_meta, card_body=built.card_body)
    return target


def _sft_rows(dataset) -> list[dict]:
    return [
        {"prompt": r["prompt"], "completion": [{"role": "assistant", "content": r["answer"]}]}
        for r in dataset
    ]


def _common_args(s: DemoSettings, output_dir: Path) -> dict:
    return dict(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        seed=s.seed,
        data_seed=s.seed,
        dataloader_num_workers=0,
    )


def _sft_args(s: DemoSettings, output_dir: Path, learning_rate: float) -> dict:
    return dict(
        **_common_args(s, output_dir),
        per_device_train_batch_size=16,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=20,
        completion_only_loss=False,  # the whole sequence: completion-only loss did not learn at this size
        max_length=256,
    )


def _sft(model: str, args: dict, data, steps: int, budget_s: float):
    from trl import SFTConfig, SFTTrainer

    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**args, max_steps=steps),
        train_dataset=data,
        callbacks=[Deadline(budget_s)],
    )
    trainer.train()
    return trainer


def sft_model(s: DemoSettings, dataset_target: str, budget_s: float) -> str:
    """The SFT warm start, cached in the local hub (its card records how it was made)."""
    from datasets import Dataset

    from trl_ext.models import build_tiny_model

    target = _hub_path(s, "models", f"pbe-sft-seed{s.seed}-steps{s.sft_steps}")  # the cache key
    if (target / "model.safetensors").exists():
        print(f"reusing the SFT model in {target}")
        return str(target)
    train = hub.load_dataset(dataset_target, "demo", split="train")
    rows = _sft_rows(train)
    corpus = [r["prompt"][0]["content"] + r["completion"][0]["content"] for r in rows]
    base = build_tiny_model(
        Path(s.output) / "tiny-init",
        corpus,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=256,
        seed=s.seed,
    )
    trainer = _sft(
        str(base), _sft_args(s, Path(s.output) / "sft", 3e-3), Dataset.from_list(rows), s.sft_steps, budget_s
    )
    trainer.save_model(str(Path(s.output) / "sft-final"))
    meta, body = hub.split_card((base / "README.md").read_text())
    body += f"\n## Warm start\n\nTRL `SFTTrainer` on {len(rows)} reference programs of the PBE `demo` config (whole-sequence loss, lr 3e-3 cosine, batch 16, {trainer.state.global_step} steps, seed {s.seed}).\n"
    (Path(s.output) / "sft-final" / "README.md").write_text(hub.join_card(meta, body))
    hub.upload_folder(Path(s.output) / "sft-final", str(target))
    return str(target)


def evaluate_model(s: DemoSettings, model: str, dataset_target: str, name: str) -> dict:
    from trl_ext.eval.harness import EvalRequest, GenerationSettings, evaluate, format_table, write_results

    request = EvalRequest(
        model=model,
        dataset=dataset_target,
        dataset_config="demo",
        split="test",
        samples=s.eval_samples,
        ks=[1, 8],
        generation=GenerationSettings(max_new_tokens=16, batch_size=32, seed=s.seed),
    )
    results = evaluate(request)
    print(format_table(results))
    write_results(results, Path(s.output) / f"results_{name}.json")
    return next(iter(results["results"].values()))


def rl_model(s: DemoSettings, sft: str, dataset_target: str, budget_s: float) -> tuple[str, list[dict]]:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from trl_ext.rewards import task_reward
    from trl_ext.trainers import PassAtKConfig, PassAtKTrainer

    train = hub.load_dataset(dataset_target, "demo", split="train")
    args = dict(
        **_common_args(s, Path(s.output) / s.trainer),
        per_device_train_batch_size=128,  # 16 prompts x 8 samples
        num_generations=8,
        max_completion_length=16,
        temperature=1.0,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        beta=0.0,
        max_steps=s.rl_steps,
    )
    args["logging_steps"] = 1
    if s.trainer == "sft":  # the control: continue SFT on the reference programs (lr 1e-3 cosine)
        data = Dataset.from_list(_sft_rows(train))
        trainer = _sft(
            sft, _sft_args(s, Path(s.output) / "sft-control", 1e-3), data, s.control_sft_steps, budget_s
        )
    elif s.trainer == "passk":
        config = PassAtKConfig(**args, objective="pass@k", k=s.k)
        trainer = PassAtKTrainer(
            model=sft,
            reward_funcs=task_reward,
            args=config,
            train_dataset=train,
            callbacks=[Deadline(budget_s)],
        )
    else:
        trainer = GRPOTrainer(
            model=sft,
            reward_funcs=task_reward,
            args=GRPOConfig(**args),
            train_dataset=train,
            callbacks=[Deadline(budget_s)],
        )
    trainer.train()
    name = f"pbe-{'sft-control' if s.trainer == 'sft' else s.trainer}-seed{s.seed}"  # never the warm start's name
    final = Path(s.output) / f"{s.trainer}-final"
    trainer.save_model(str(final))
    meta, body = hub.split_card((Path(sft) / "README.md").read_text())
    if s.trainer == "sft":
        body += f"\n## Control: more SFT\n\nThe RL budget spent on {trainer.state.global_step} more SFT steps (lr 1e-3 cosine) instead.\n"
    else:
        objective = f"PassAtKTrainer (pass@{s.k})" if s.trainer == "passk" else "stock GRPOTrainer"
        body += f"\n## Reinforcement learning\n\n{objective} from the SFT model: 16 prompts x 8 samples per step, lr 1e-4 constant, {trainer.state.global_step} steps, reward `trl_ext.rewards.task_reward`.\n"
    (final / "README.md").write_text(hub.join_card(meta, body))
    target = str(_hub_path(s, "models", name))
    hub.upload_folder(final, target)
    return target, trainer.state.log_history


def save_plots(s: DemoSettings, history: list[dict], before: dict, after: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(s.output)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    curves = [
        ("reward", "mean reward (batch pass@1)"),
        ("passk/objective", f"batch pass@{s.k}"),  # PassAtKTrainer: its objective, pass@k
        ("loss", "SFT loss"),
    ]
    for key, label in curves:
        points = [(e["step"], e[key]) for e in history if key in e and "train_runtime" not in e]
        if not points or (key == "loss" and s.trainer != "sft"):
            continue
        steps, values = [p for p, _ in points], [v for _, v in points]
        window = max(1, len(values) // 25)
        smooth = [
            sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
            for i in range(len(values))
        ]
        (line,) = ax.plot(steps, smooth, label=f"{label} (moving mean of {window})")
        ax.plot(steps, values, color=line.get_color(), alpha=0.2, linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("rate" if s.trainer != "sft" else "loss")
    ax.set_title(f"Training after the warm start on PBE demo ({s.trainer})")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "rl_curves.png", dpi=120)
    plt.close(fig)

    metrics = ["pass@1", "pass@8", "maj@8"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.38
    xs = range(len(metrics))
    ax.bar([x - width / 2 for x in xs], [100 * before[m] for m in metrics], width, label="SFT")
    ax.bar([x + width / 2 for x in xs], [100 * after[m] for m in metrics], width, label=f"SFT + {s.trainer}")
    for x, m in zip(xs, metrics):
        ax.text(x - width / 2, 100 * before[m] + 1, f"{100 * before[m]:.1f}", ha="center", fontsize=8)
        ax.text(x + width / 2, 100 * after[m] + 1, f"{100 * after[m]:.1f}", ha="center", fontsize=8)
    ax.set_xticks(list(xs), metrics)
    ax.set_ylabel("% of held-out problems")
    ax.set_title(f"PBE demo, {s.n_test} held-out problems")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "before_after.png", dpi=120)
    plt.close(fig)
    return [out / "rl_curves.png", out / "before_after.png"]


def publish(s: DemoSettings, models: list[tuple[str, str]]):
    """Submit the models to the local leaderboard, run the backend once, return the table."""
    from trl_ext.leaderboard import settings as settings_io
    from trl_ext.leaderboard.app import leaderboard_frame
    from trl_ext.leaderboard.backend import process_once
    from trl_ext.leaderboard.settings import Benchmark, Settings
    from trl_ext.leaderboard.submissions import submit

    root = _hub_path(s)
    requests = str(root / "leaderboard" / "requests")
    bench = Benchmark(
        dataset=str(root / "datasets" / "pbe"),
        config="demo",
        split="test",
        samples=s.eval_samples,
        ks=[1, 4, 8],
        max_new_tokens=16,
    )
    try:
        settings = settings_io.load(requests)
    except hub.HubError:
        settings = Settings(
            requests=requests,
            results=str(root / "leaderboard" / "results"),
            benchmarks=[bench],
            local_models=str(root / "models"),
            daily_limit=1000,
        )
        settings_io.save(settings)
    revision = "run-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    for model, model_type in models:
        submit(
            settings,
            f"local/{Path(model).name}",
            revision,
            "float32",
            model_type,
            [bench.name],
            "trl-ext-demo",
        )
    while process_once(settings) is not None:
        pass
    return settings, leaderboard_frame(settings)


def run_demo(s: DemoSettings) -> dict:
    s.validate()
    start = time.monotonic()
    budget = 60 * s.minutes
    Path(s.output).mkdir(parents=True, exist_ok=True)

    _banner("1/6 dataset: PBE demo config")
    dataset = build_dataset(s)
    _banner("2/6 tiny model + SFT warm start")
    sft = sft_model(s, dataset, SFT_SHARE * budget)
    _banner("3/6 evaluate the SFT model")
    before = evaluate_model(s, sft, dataset, "sft")
    _banner(f"4/6 {'more SFT (the control)' if s.trainer == 'sft' else 'RL with ' + s.trainer}")
    rl, history = rl_model(s, sft, dataset, RL_SHARE * budget)
    after = evaluate_model(s, rl, dataset, s.trainer)
    _banner("5/6 local leaderboard")
    settings, table = publish(
        s, [(sft, "fine-tuned"), (rl, "fine-tuned" if s.trainer == "sft" else "rl-tuned")]
    )
    print(table.to_string(index=False))
    _banner("6/6 plots")
    plots = save_plots(s, history, before, after)
    summary = {
        "settings": s.__dict__,
        "sft": before,
        "rl": after,
        "rl_steps": max((e.get("step", 0) for e in history), default=0),
        "minutes": round((time.monotonic() - start) / 60, 2),
    }
    (Path(s.output) / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nheld-out PBE demo problems ({s.n_test}), {s.eval_samples} samples each:")
    print(f"  {'':<18}{'pass@1':>8}{'pass@8':>8}{'maj@8':>8}")
    for label, m in (("SFT", before), (f"SFT + {s.trainer}", after)):
        print(f"  {label:<18}{100 * m['pass@1']:7.1f}%{100 * m['pass@8']:7.1f}%{100 * m['maj@8']:7.1f}%")
    print(f"\nplots: {', '.join(str(p) for p in plots)}")
    print(f"open the leaderboard: trl-ext leaderboard --requests {settings.requests}")
    print(f"done in {summary['minutes']:.1f} min")
    if not math.isfinite(after["pass@1"]):
        raise RuntimeError("evaluation produced no number")
    return summary
