"""The embedded default: the product's main job end to end on one CPU, with local folders for Hub repos.

    trl-ext demo --trainer passk --k 4 --seed 0 --sft-steps 1500 --rl-steps 540

Fixed step counts decide the figures (the same seed gives the same figures on any machine); the time is
only reported, with an ETA on each stage's progress bar. An optional cap (`--max-minutes`) that stops a
stage early says so loudly and marks the results and the summary `truncated`. The terminal shows one
progress bar per stage (loss, reward, batch pass@k); the full training logs go to OUTPUT/demo.log.

1. builds the PBE `demo` dataset (one or two single-character rewrite rules) into ./hub/datasets/pbe;
2. builds a character-level tokenizer and a tiny Llama-style model on the task's own text and warm-starts it
   with TRL's SFTTrainer on the reference programs (cached: a second run reuses it);
3. evaluates the SFT model on the held-out split with the `trl-ext evaluate` harness;
4. trains with PassAtKTrainer (`--trainer grpo`: stock GRPOTrainer, the baseline; `--trainer sft`: the
   control, as many SFT steps as take the RL steps' time on the reference CPU) and evaluates again;
5. submits both models to the local leaderboard, runs the backend once and prints the table;
6. saves plots: reward and batch pass@k during RL, and the before/after comparison.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm
from transformers import TrainerCallback

from trl_ext import hub

TRAINERS = ("passk", "grpo", "sft")  # sft: the control — spend the RL time on more SFT instead
# Fixed step counts decide the result: the same seed gives the same figures on any machine. The control's
# SFT steps take as long as the RL steps on the 2-core CPU they were measured on (SFT ~17 steps/s, RL ~1.95).
SFT_STEPS, RL_STEPS = 1500, 540
CONTROL_SFT_STEPS_PER_RL_STEP = 17.0 / 1.95
# The few numbers a stage's progress bar shows (full logs go to the log file).
BAR_METRICS = {"loss": "loss", "reward": "reward", "mean_token_accuracy": "acc"}


@dataclass
class DemoSettings:
    sft_steps: int = SFT_STEPS
    rl_steps: int = RL_STEPS
    trainer: str = "passk"
    k: int = 4
    seed: int = 0
    output: str = "outputs/demo"
    hub_root: str = "./hub"
    n_train: int = 2000
    n_test: int = 300
    eval_samples: int = 8
    max_minutes: float | None = None  # an optional wall-clock cap; a stage it stops is reported and marked
    truncated: list[str] = field(default_factory=list)  # stages the cap stopped early

    @property
    def control_sft_steps(self) -> int:
        """The control's SFT steps: as long, on the reference CPU, as the RL steps."""
        return round(self.rl_steps * CONTROL_SFT_STEPS_PER_RL_STEP)

    @property
    def log_file(self) -> Path:
        return Path(self.output) / "demo.log"

    def validate(self) -> None:
        if self.trainer not in TRAINERS:
            raise ValueError(f"--trainer must be one of {', '.join(TRAINERS)}, got {self.trainer!r}")
        if not 1 <= self.k <= 8:
            raise ValueError(
                f"--k must be between 1 and 8 (the demo samples 8 completions per prompt), got {self.k}"
            )
        if self.sft_steps < 1 or self.rl_steps < 1:
            raise ValueError(
                f"--sft-steps and --rl-steps must be at least 1, got {self.sft_steps}, {self.rl_steps}"
            )
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"--max-minutes must be positive, got {self.max_minutes}")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(f"--n-train and --n-test must be at least 1, got {self.n_train}, {self.n_test}")
        if self.eval_samples < 8:
            raise ValueError("the demo reports pass@8 and maj@8: eval_samples must be at least 8")


class StageProgress(TrainerCallback):
    """One progress bar per training stage (steps, ETA, and the few numbers that matter); every log entry
    goes to the demo's log file instead of the terminal. With a deadline (`--max-minutes`), stops the
    stage when it passes and records that it did."""

    def __init__(
        self, stage: str, log_file: Path, deadline: float | None = None, extra: tuple[str, ...] = ()
    ):
        self.stage, self.log_file, self.deadline = stage, log_file, deadline
        self.metrics = {**BAR_METRICS, **{key: key.rpartition("/")[2] for key in extra}}
        self.bar: tqdm | None = None
        self.stopped_at: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = tqdm(total=state.max_steps, desc=self.stage, unit="step", dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)
        if (
            self.deadline is not None
            and time.monotonic() > self.deadline
            and state.global_step < state.max_steps
        ):
            self.stopped_at = state.global_step
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        with self.log_file.open("a") as f:
            f.write(json.dumps({"stage": self.stage, "step": state.global_step, **logs}) + "\n")
        shown = {label: f"{logs[key]:.3g}" for key, label in self.metrics.items() if key in logs}
        if shown and self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


def _quiet_libraries(log_file: Path) -> None:
    """Library logs and warnings go to the log file; the terminal keeps the progress bars and the results."""
    import datasets
    import transformers

    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    transformers.utils.logging.disable_default_handler()
    transformers.utils.logging.add_handler(handler)
    transformers.utils.logging.set_verbosity_info()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    for name in ("trl", "datasets", "trl_ext", "py.warnings", "httpx"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")


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
        activation_checkpointing=False,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,  # StageProgress draws the one bar of the stage
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


def _train(s: DemoSettings, trainer, stage: str, deadline: float | None, extra: tuple[str, ...] = ()):
    """Train with one progress bar and logs to the file; a stage stopped by the deadline is marked loudly."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # TRL would print the metrics dict of every step
    progress = StageProgress(stage, s.log_file, deadline, extra)
    trainer.add_callback(progress)
    trainer.train()
    if progress.stopped_at is not None:
        s.truncated.append(stage)
        print(
            f"\n!!! --max-minutes {s.max_minutes} stopped {stage} at step {progress.stopped_at} of "
            f"{trainer.state.max_steps}: its results are NOT the demo's figures (marked `truncated`) !!!\n",
            flush=True,
        )
    return trainer


def _sft(s: DemoSettings, model: str, args: dict, data, steps: int, stage: str, deadline: float | None):
    from trl import SFTConfig, SFTTrainer

    trainer = SFTTrainer(model=model, args=SFTConfig(**args, max_steps=steps), train_dataset=data)
    return _train(s, trainer, stage, deadline)


def _append_to_card(folder: Path, text: str) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    card.text = card.text.rstrip("\n") + "\n" + text
    card.save(folder / "README.md")


def sft_model(s: DemoSettings, dataset_target: str, deadline: float | None) -> str:
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
    args = _sft_args(s, Path(s.output) / "sft", 3e-3)
    trainer = _sft(s, str(base), args, Dataset.from_list(rows), s.sft_steps, "SFT warm start", deadline)
    final = Path(s.output) / "sft-final"
    trainer.save_model(str(final))
    (final / "README.md").write_text((base / "README.md").read_text())
    _append_to_card(
        final,
        f"\n## Warm start\n\nTRL `SFTTrainer` on {len(rows)} reference programs of the PBE `demo` config "
        f"(whole-sequence loss, lr 3e-3 cosine, batch 16, {trainer.state.global_step} steps, seed {s.seed}).\n",
    )
    if "SFT warm start" in s.truncated:  # never cache a truncated warm start under the full run's name
        target = target.with_name(f"{target.name}-truncated-at{trainer.state.global_step}")
    hub.upload_folder(final, str(target))  # in the models folder: the local leaderboard evaluates it
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
    if s.truncated:
        results["config"]["truncated"] = list(s.truncated)
    print(format_table(results))
    write_results(results, Path(s.output) / f"results_{name}.json")
    return next(iter(results["results"].values()))


def rl_model(
    s: DemoSettings, sft: str, dataset_target: str, deadline: float | None
) -> tuple[str, list[dict]]:
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
        args = _sft_args(s, Path(s.output) / "sft-control", 1e-3)
        trainer = _sft(s, sft, args, data, s.control_sft_steps, "more SFT (control)", deadline)
    elif s.trainer == "passk":
        config = PassAtKConfig(**args, objective="pass@k", k=s.k)
        trainer = PassAtKTrainer(model=sft, reward_funcs=task_reward, args=config, train_dataset=train)
        _train(s, trainer, f"RL: PassAtKTrainer pass@{s.k}", deadline, extra=(f"passk/pass@{s.k}",))
    else:
        trainer = GRPOTrainer(
            model=sft, reward_funcs=task_reward, args=GRPOConfig(**args), train_dataset=train
        )
        _train(s, trainer, "RL: GRPOTrainer", deadline)
    name = f"pbe-{'sft-control' if s.trainer == 'sft' else s.trainer}-seed{s.seed}"  # never the warm start's name
    final = Path(s.output) / f"{s.trainer}-final"
    trainer.save_model(str(final))
    (final / "README.md").write_text((Path(sft) / "README.md").read_text())
    if s.trainer == "sft":
        text = f"\n## Control: more SFT\n\nThe RL time spent on {trainer.state.global_step} more SFT steps (lr 1e-3 cosine) instead.\n"
    else:
        objective = f"PassAtKTrainer (pass@{s.k})" if s.trainer == "passk" else "stock GRPOTrainer"
        text = f"\n## Reinforcement learning\n\n{objective} from the SFT model: 16 prompts x 8 samples per step, lr 1e-4 constant, {trainer.state.global_step} steps, reward `trl_ext.rewards.task_reward`.\n"
    _append_to_card(final, text)
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
    from trl_ext.leaderboard.submissions import SubmissionError, submit

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
    for model, model_type in models:
        try:  # a local model's revision is its weights' hash: weights already on the board are not redone
            submit(
                settings,
                f"local/{Path(model).name}",
                "main",
                "float32",
                model_type,
                [bench.name],
                "trl-ext-demo",
            )
        except SubmissionError as err:
            if "already submitted" not in str(err):
                raise
            print(f"{Path(model).name}: these weights are already on the leaderboard ({err})")
    while process_once(settings) is not None:
        pass
    return settings, leaderboard_frame(settings)


def run_demo(s: DemoSettings) -> dict:
    import torch

    s.validate()
    # One thread: the model is tiny (64 hidden), so more threads only add synchronisation (and thrash badly
    # beside other CPU-bound processes: 20x slower on 2 shared cores), and float sums then do not depend on
    # the machine's core count.
    torch.set_num_threads(1)
    start = time.monotonic()
    deadline = start + 60 * s.max_minutes if s.max_minutes else None
    Path(s.output).mkdir(parents=True, exist_ok=True)
    s.log_file.write_text("")
    _quiet_libraries(s.log_file)
    print(f"full training logs: {s.log_file}", flush=True)
    timings = {}

    def stage(name: str, fn, *args):
        _banner(name)
        began = time.monotonic()
        out = fn(*args)
        timings[name] = round(time.monotonic() - began, 1)
        return out

    dataset = stage("1/7 dataset: PBE demo config", build_dataset, s)
    sft = stage(f"2/7 tiny model + SFT warm start ({s.sft_steps} steps)", sft_model, s, dataset, deadline)
    before = stage("3/7 evaluate the SFT model", evaluate_model, s, sft, dataset, "sft")
    what = (
        f"more SFT, the control ({s.control_sft_steps} steps)"
        if s.trainer == "sft"
        else f"RL with {s.trainer} ({s.rl_steps} steps)"
    )
    rl, history = stage(f"4/7 {what}", rl_model, s, sft, dataset, deadline)
    after = stage("5/7 evaluate the trained model", evaluate_model, s, rl, dataset, s.trainer)
    settings, table = stage(
        "6/7 local leaderboard",
        publish,
        s,
        [(sft, "fine-tuned"), (rl, "fine-tuned" if s.trainer == "sft" else "rl-tuned")],
    )
    print(table.to_string(index=False))
    plots = stage("7/7 plots", save_plots, s, history, before, after)
    summary = {
        "settings": {k: v for k, v in asdict(s).items() if k != "truncated"},
        "truncated": list(s.truncated),
        "sft": before,
        "rl": after,
        "rl_steps": max((e.get("step", 0) for e in history), default=0),
        "seconds_per_stage": timings,
        "minutes": round((time.monotonic() - start) / 60, 2),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (Path(s.output) / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nheld-out PBE demo problems ({s.n_test}), {s.eval_samples} samples each:")
    print(f"  {'':<18}{'pass@1':>8}{'pass@8':>8}{'maj@8':>8}")
    for label, m in (("SFT", before), (f"SFT + {s.trainer}", after)):
        print(f"  {label:<18}{100 * m['pass@1']:7.1f}%{100 * m['pass@8']:7.1f}%{100 * m['maj@8']:7.1f}%")
    print(f"\nplots: {', '.join(str(p) for p in plots)}")
    print(f"open the leaderboard: trl-ext leaderboard --requests {settings.requests}")
    print(f"done in {summary['minutes']:.1f} min (the step counts, not the time, decide the figures)")
    if s.truncated:
        print(
            f"!!! TRUNCATED by --max-minutes: {', '.join(s.truncated)} — these figures are not comparable !!!"
        )
    if not math.isfinite(after["pass@1"]):
        raise RuntimeError("evaluation produced no number")
    return summary
