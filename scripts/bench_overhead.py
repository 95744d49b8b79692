"""Per-step overhead of each trl-ext trainer against stock GRPOTrainer on an identical workload.

    python scripts/bench_overhead.py                      # every trainer, 8 measured steps each
    python scripts/bench_overhead.py --trainers grpo,passk --steps 4
    python scripts/bench_overhead.py --hidden-size 512 --layers 8 --max-completion-length 64   # ~23M parameters

Same model (built once from the task's text; `--hidden-size` / `--layers` set its shape), same PBE prompts, batch, generation length and seed for
every trainer. Each trainer runs in its own subprocess, so its peak resident memory is its own. Per step we
record wall time and CPU time (this process and its children, e.g. sandbox workers), and the time spent in
`_generate_single_turn` beyond the step's first call plus SPO's `_sample_reference`: the *extra* generations an
algorithm needs by design (Guide's hinted regeneration, RLEF's later turns, SPO's π_ref samples for V̂₀). The table gives each trainer's ratio to
GRPO with and without those extra generations. Saves JSON + markdown under `--output`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# name → (config class, trainer class, trainer-specific config fields). GRPO is the baseline.
TRAINERS = {
    "grpo": ("trl:GRPOConfig", "trl:GRPOTrainer", {}),
    "passk": ("trl_ext.trainers.passk:PassAtKConfig", "trl_ext.trainers.passk:PassAtKTrainer", {"k": 4}),
    "passk-maj": (
        "trl_ext.trainers.passk:PassAtKConfig",
        "trl_ext.trainers.passk:PassAtKTrainer",
        {"objective": "maj@k", "k": 4},
    ),
    "spo": ("trl_ext.trainers.spo:SPOConfig", "trl_ext.trainers.spo:SPOTrainer", {"value_samples": 4}),
    "spo-half": (
        "trl_ext.trainers.spo:SPOConfig",
        "trl_ext.trainers.spo:SPOTrainer",
        {"value_samples": 4, "off_policy_ratio": 0.5, "offline_completion_column": "answer"},
    ),
    "guide": ("trl_ext.trainers.guide:GuideConfig", "trl_ext.trainers.guide:GuideTrainer", {}),
    "cures": (
        "trl_ext.trainers.cures:CurESConfig",
        "trl_ext.trainers.cures:CurESTrainer",
        {"curriculum": True},
    ),
    # RLEF's max_completion_length bounds the whole episode (answers + feedback turns); its reward is its own.
    "rlef": ("trl_ext.trainers.rlef:RLEFConfig", "trl_ext.trainers.rlef:RLEFTrainer", {"max_turns": 3}),
    "rlef-1turn": ("trl_ext.trainers.rlef:RLEFConfig", "trl_ext.trainers.rlef:RLEFTrainer", {"max_turns": 1}),
}
# Trainers whose reward is built in (RLEF: the private tests of the final answer); the others get task_reward.
OWN_REWARD = ("rlef", "rlef-1turn")


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_workload(root: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The PBE demo prompts and a model of the requested shape built from their text, shared by every trainer."""
    import hub_datasets
    from trl_ext import hub
    from trl_ext.models import build_tiny_model

    # absolute: a relative path reads as a repo id
    data, model = root.resolve() / "data", root.resolve() / f"model-h{args.hidden_size}-l{args.layers}"
    if not (data / "README.md").exists():
        built = hub_datasets.build("pbe", "demo", n=args.prompts, n_test=8, seed=args.seed)
        hub.push_dataset(
            built.dataset, str(data), "demo", card_meta=built.card_meta, card_body=built.card_body
        )
    if not (model / "config.json").exists():
        train = hub.load_dataset(str(data), "demo")["train"]
        build_tiny_model(
            model,
            [r["prompt"][-1]["content"] + r["answer"] for r in train],
            hidden_size=args.hidden_size,
            num_hidden_layers=args.layers,
            num_attention_heads=max(4, args.hidden_size // 64),
            num_key_value_heads=max(2, args.hidden_size // 128),
            intermediate_size=4 * args.hidden_size,
            seed=args.seed,
        )
    return data, model


def run_worker(name: str, root: Path, args: argparse.Namespace) -> dict:
    """Train `name` for warmup + measured steps in this process and return its per-step figures."""
    from transformers import TrainerCallback

    from trl_ext import hub
    from trl_ext.rewards import task_reward

    config_path, trainer_path, extra = TRAINERS[name]
    config_cls, trainer_cls = _load(config_path), _load(trainer_path)
    data, model = build_workload(root, args)
    train = hub.load_dataset(str(data), "demo")["train"]
    config = config_cls(
        output_dir=str(root / "runs" / name),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        learning_rate=1e-4,
        per_device_train_batch_size=args.batch,
        num_generations=args.generations,
        max_completion_length=args.max_completion_length,
        max_steps=args.warmup + args.steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        beta=0.0,
        disable_tqdm=True,
        **extra,
    )
    reward = None if name in OWN_REWARD else task_reward
    trainer = trainer_cls(model=str(model), reward_funcs=reward, args=config, train_dataset=train)

    # Generation time per step: the step's first `_generate_single_turn` call is the ordinary one; later calls
    # (Guide's hinted regeneration, RLEF's later turns) and SPO's π_ref sampling are the extra generations.
    steps, generate_calls, reference_calls, lengths = [], [], [], []

    def timed(method, calls):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return method(*a, **kw)
            finally:
                calls.append(time.perf_counter() - start)

        return wrapper

    trainer._generate_single_turn = timed(trainer._generate_single_turn, generate_calls)
    if hasattr(trainer, "_sample_reference"):
        trainer._sample_reference = timed(trainer._sample_reference, reference_calls)

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            generate_calls.clear()
            reference_calls.clear()
            self.start = (time.perf_counter(), _cpu_seconds())

        def on_step_end(self, *_, **__):
            wall, cpu = time.perf_counter() - self.start[0], _cpu_seconds() - self.start[1]
            extra = sum(generate_calls[1:]) + sum(reference_calls)
            steps.append({"wall": wall, "cpu": cpu, "extra_generate": extra})

        def on_log(self, _args, _state, _control, logs=None, **__):
            # the trainers' models drift apart after the first update: their completions' lengths explain part
            # of the differences in step time
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    trainer.add_callback(StepTimer())
    trainer.train()
    measured = steps[args.warmup :]
    return {
        "trainer": name,
        "steps": len(measured),
        "wall_s": statistics.median(s["wall"] for s in measured),
        "cpu_s": statistics.median(s["cpu"] for s in measured),
        "extra_generate_s": statistics.median(s["extra_generate"] for s in measured),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "completion_tokens": statistics.median(lengths[args.warmup :]) if lengths[args.warmup :] else None,
    }


def markdown(rows: list[dict]) -> str:
    base = next((r for r in rows if r["trainer"] == "grpo"), None)
    sizes = sorted({r["parameters"] for r in rows if "parameters" in r})
    lines = [
        f"Model: {', '.join(f'{n / 1e6:.1f}M' for n in sizes)} parameters; medians over the measured steps.",
        "",
        "| trainer | step wall (s) | × GRPO | × GRPO excl. extra generation | step CPU (s) | × GRPO | peak RSS (MB) | × GRPO "
        "| mean completion tokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['trainer']} | failed: {r['error']} | | | | | | | |")
            continue

        def ratio(key, value=None, row=r):
            return f"{(row[key] if value is None else value) / base[key]:.2f}" if base else "–"

        lines.append(
            f"| {r['trainer']} | {r['wall_s']:.3f} | {ratio('wall_s')} | "
            f"{ratio('wall_s', r['wall_s'] - r['extra_generate_s'])} | {r['cpu_s']:.3f} | {ratio('cpu_s')} | "
            f"{r['peak_rss_mb']:.0f} | {ratio('peak_rss_mb')} | "
            + (f"{r['completion_tokens']:.1f} |" if r.get("completion_tokens") is not None else "– |")
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--trainers", default=",".join(TRAINERS), help="comma-separated, from: " + ", ".join(TRAINERS)
    )
    parser.add_argument("--steps", type=int, default=8, help="measured steps per trainer (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="steps run before measuring")
    parser.add_argument(
        "--batch", type=int, default=16, help="completions per step (per_device_train_batch_size)"
    )
    parser.add_argument("--generations", type=int, default=8, help="num_generations (group size)")
    parser.add_argument("--max-completion-length", type=int, default=16)
    parser.add_argument("--prompts", type=int, default=256, help="training prompts in the workload")
    parser.add_argument("--hidden-size", type=int, default=64, help="model width (heads of 64 dimensions)")
    parser.add_argument("--layers", type=int, default=4, help="model depth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("outputs/bench_overhead"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)

    if args.worker:
        print(json.dumps(run_worker(args.worker, args.output, args)))
        return

    names = [n.strip() for n in args.trainers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRAINERS]
    if unknown:
        parser.error(f"unknown trainer(s) {', '.join(unknown)}; choose from {', '.join(TRAINERS)}")
    build_workload(args.output, args)
    rows = []
    for i, name in enumerate(names, 1):
        print(
            f"[{i}/{len(names)}] {name}: {args.warmup} warm-up + {args.steps} measured steps ...", flush=True
        )
        argv = [sys.executable, __file__, "--worker", name, *sys.argv[1:]]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            rows.append({"trainer": name, "error": done.stderr.strip().splitlines()[-1][:200]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print("   ", rows[-1], flush=True)
        table = markdown(rows)  # after every trainer: an interrupted run keeps what it measured
        write_atomic(args.output / "overhead.json", json.dumps(rows, indent=2) + "\n")
        write_atomic(args.output / "overhead.md", table)
    print(table)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


if __name__ == "__main__":
    main()
