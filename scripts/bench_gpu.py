"""Every trl-ext trainer against stock GRPOTrainer on a model of real size: step time, tokens/s, peak memory.

    python scripts/bench_gpu.py                             # Qwen2 0.5B shape, bf16 LoRA + 4-bit QLoRA, on a GPU
    python scripts/bench_gpu.py --size 1.5b --budget-s 300 --only grpo,passk
    python scripts/bench_gpu.py --tiny --device cpu         # the same code path on CPU (tested in `make test`)

Needs no network: the model is a randomly initialised Qwen2-architecture LM of a published shape
(`trl_ext.models.QWEN2_SHAPES`, Qwen's 151,936-row embedding) with a byte-level BPE tokenizer trained here on the
Python standard library's source and Qwen's ChatML template; the data is the Kolmogorov code-problem generator
(the model writes a Python program; the reward runs it in the sandbox), or the PBE generator (no sandbox) where the
sandbox cannot run. Random weights produce noise, so every completion runs to `--max-completion-length`: equal
work for every trainer, and every reward is 0 (Guide regenerates every group with the hint: its worst case).

Each precision (`lora`: bf16 weights + LoRA; `qlora`: bitsandbytes 4-bit NF4 + LoRA) runs in its own process; in
it every trainer runs `--warmup` + `--steps` steps with the GPU recipes' settings (LoRA r=16 on all linear
layers, gradient checkpointing, β=0). Per trainer we record the median step wall time, the time in generation and
the *extra* generation an algorithm needs by design (Guide's hinted regeneration, RLEF's later turns, SPO's π_ref
samples), generated tokens/s, the time judging rewards (`_calculate_rewards`; RLEF also judges inside its
episodes, counted as generation), and peak GPU memory (`torch.cuda.max_memory_allocated`; on CPU, not measured).
Each is compared with GRPO in the same process. `--budget-s` stops cleanly between steps and writes a partial table.
Generation uses transformers, or vLLM colocated when vLLM is importable on CUDA (`--generation`).
On CPU, bitsandbytes' 4-bit kernels run (slowly) where its CPU backend has them; where `Linear4bit` cannot be
built the `qlora` rows say so instead of failing the run.

Writes `bench_gpu.json` and `bench_gpu.md` under `--output` (atomically, after every trainer).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from bench_overhead import OWN_REWARD, TRAINERS, _load, write_atomic

DEFAULT_TRAINERS = ("grpo", "passk", "spo", "guide", "cures", "rlef")
PRECISIONS = ("lora", "qlora")
# Goals from the issue: step time × GRPO (PassAtK, CurES: as is; SPO, Guide: excluding their extra generation),
# and QLoRA's peak memory × bf16 LoRA's.
STEP_GOALS = {"passk": 1.05, "cures": 1.05, "spo": 1.3, "guide": 1.3}
QLORA_MEMORY_GOAL = 0.5


def tokenizer_corpus(max_mb: float) -> list[str]:
    """Real source text available on any machine with Python: the standard library, up to `max_mb` MB."""
    texts, total = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        total += len(text)
        if total > max_mb * 1e6:
            break
    return texts


def sandbox_works() -> bool:
    """Whether the sandbox runs a trivial program here (it needs bubblewrap and user namespaces)."""
    from trl_ext.execution import run

    try:
        return run("print(1)", timeout=10).stdout.strip() == "1"
    except (
        Exception
    ) as err:  # a machine without namespaces raises SandboxUnavailableError; say why, fall back
        print(f"sandbox unavailable ({type(err).__name__}: {err}); using the PBE task", flush=True)
        return False


def build_workload(root: Path, args: argparse.Namespace) -> tuple[str, Path, Path]:
    """The task's prompts (a local dataset folder) and the model, built once and shared by every run."""
    import hub_datasets
    from trl_ext import hub
    from trl_ext.models import build_qwen2_model

    task = args.task if args.task != "auto" else ("kolmogorov" if sandbox_works() else "pbe")
    data = root.resolve() / f"data-{task}"
    if not (data / "README.md").exists():
        built = hub_datasets.build(task, "lite", n=args.prompts, n_test=8, seed=args.seed)
        hub.push_dataset(
            built.dataset, str(data), "lite", card_meta=built.card_meta, card_body=built.card_body
        )
    model = root.resolve() / f"model-qwen2-{args.size}"
    if not (model / "config.json").exists():
        rows = hub.load_dataset(str(data), "lite")["train"]
        corpus = [r["prompt"][-1]["content"] for r in rows] + tokenizer_corpus(args.corpus_mb)
        print(f"building the {args.size} model (tokenizer: {args.vocab} tokens) ...", flush=True)
        build_qwen2_model(model, corpus, args.size, vocab_size=args.vocab, seed=args.seed)
    return task, data, model


def trainer_config(name: str, precision: str, output_dir: Path, args: argparse.Namespace):
    config_path, _, extra = TRAINERS[name]
    cuda = args.device == "cuda"
    vllm = {}
    if args.generation == "vllm":
        vllm = {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3}
    return _load(config_path)(
        output_dir=str(output_dir),
        use_cpu=not cuda,
        bf16=cuda,
        **checkpointing(),
        learning_rate=1e-5,
        per_device_train_batch_size=args.batch,
        num_generations=args.generations,
        max_completion_length=args.max_completion_length,
        temperature=1.0,
        max_steps=args.warmup + args.steps,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        beta=0.0,
        disable_tqdm=True,
        model_init_kwargs={"dtype": "bfloat16" if cuda else "float32"},
        **vllm,
        **extra,
    )


def checkpointing() -> dict:
    """Activation checkpointing on, by the name this transformers knows: `activation_checkpointing` (5.2x;
    `gradient_checkpointing` is its deprecated alias there) or `gradient_checkpointing` (the device image's 5.17)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return (
        {"activation_checkpointing": True}
        if "activation_checkpointing" in names
        else {"gradient_checkpointing": True}
    )


def quantization(precision: str, cuda: bool):
    if precision != "qlora":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if cuda else torch.float32,
    )


def run_trainer(name: str, precision: str, task_data: Path, model: Path, deadline: float, args) -> dict:
    """Train `name` for warmup + measured steps in this process; its per-step figures."""
    import torch
    from peft import LoraConfig
    from transformers import TrainerCallback

    from trl_ext import hub
    from trl_ext.rewards import task_reward

    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    train = hub.load_dataset(str(task_data), "lite")["train"]
    config = trainer_config(name, precision, args.output / "runs" / f"{precision}-{name}", args)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = _load(TRAINERS[name][1])(
        model=str(model),
        reward_funcs=None if name in OWN_REWARD else task_reward,
        args=config,
        train_dataset=train,
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
        quantization_config=quantization(precision, cuda),
    )
    generate, reference, reward, steps = [], [], [], []

    def timed(method, calls, count_tokens=False):
        def wrapper(*a, **kw):
            sync()
            start = time.perf_counter()
            out = method(*a, **kw)
            sync()
            tokens = sum(len(c) for c in out[0]) if count_tokens else 0
            calls.append((time.perf_counter() - start, tokens))
            return out

        return wrapper

    trainer._generate_single_turn = timed(trainer._generate_single_turn, generate, count_tokens=True)
    trainer._calculate_rewards = timed(trainer._calculate_rewards, reward)
    if hasattr(trainer, "_sample_reference"):
        trainer._sample_reference = timed(trainer._sample_reference, reference)

    class StepTimer(TrainerCallback):
        def on_step_begin(self, _args, _state, control, **__):
            for calls in (generate, reference, reward):
                calls.clear()
            sync()
            self.start = time.perf_counter()

        def on_step_end(self, _args, _state, control, **__):
            sync()
            steps.append(
                {
                    "wall": time.perf_counter() - self.start,
                    "generate": sum(t for t, _ in generate) + sum(t for t, _ in reference),
                    "extra_generate": sum(t for t, _ in generate[1:]) + sum(t for t, _ in reference),
                    "tokens": sum(n for _, n in generate),
                    "reward": sum(t for t, _ in reward),
                }
            )
            if time.perf_counter() > deadline:
                control.should_training_stop = True

    trainer.add_callback(StepTimer())
    trainer.train()
    measured = steps[args.warmup :] or steps[-1:]

    def median(key):
        return statistics.median(s[key] for s in measured)

    row = {
        "trainer": name,
        "precision": precision,
        "steps": len(measured),
        "step_s": median("wall"),
        "generate_s": median("generate"),
        "extra_generate_s": median("extra_generate"),
        "reward_s": median("reward"),
        "tokens_per_s": sum(s["tokens"] for s in measured) / max(sum(s["generate"] for s in measured), 1e-9),
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "truncated": len(steps) < args.warmup + args.steps,
    }
    del trainer
    if cuda:
        torch.cuda.empty_cache()
    return row


def run_precision(precision: str, args: argparse.Namespace) -> None:
    """Worker process: every trainer at one precision; one JSON row per trainer on stdout."""
    import gc

    task, data, model = build_workload(args.output, args)
    deadline = args.deadline
    for name in args.only:
        if time.time() > deadline:
            row = {"trainer": name, "precision": precision, "skipped": "budget"}
        else:
            try:
                row = run_trainer(
                    name, precision, data, model, time.perf_counter() + deadline - time.time(), args
                )
            except (
                Exception
            ) as err:  # one trainer's failure (e.g. no 4-bit kernel on this CPU) is a row, not a crash
                row = {"trainer": name, "precision": precision, "error": f"{type(err).__name__}: {err}"[:300]}
            gc.collect()
        row["task"] = task
        print("ROW " + json.dumps(row), flush=True)


def machine(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name()} ({torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "vllm"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def markdown(report: dict) -> str:
    rows = report["rows"]
    lines = [
        f"Device: {report['machine']}. Model: Qwen2 {report['size']} shape ({report['parameters'] / 1e6:.3g}M "
        f"parameters, random weights); task {report['task']}; {report['batch']} completions of "
        f"{report['max_completion_length']} tokens per step; generation: {report['generation']}; medians over "
        f"{report['steps']} measured steps after {report['warmup']} warm-up.",
        "",
        "| precision | trainer | step (s) | × GRPO | × GRPO excl. extra gen. | generation (s) | tokens/s | "
        "reward (s) | peak memory (GiB) | × GRPO | goal |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base = {r["precision"]: r for r in rows if r["trainer"] == "grpo" and "step_s" in r}
    for r in rows:
        if "step_s" not in r:
            lines.append(
                f"| {r['precision']} | {r['trainer']} | {r.get('error') or 'skipped: ' + r['skipped']} |"
                + " |" * 8
            )
            continue
        b = base.get(r["precision"])
        step = r["step_s"] / b["step_s"] if b else None
        excl = (r["step_s"] - r["extra_generate_s"]) / (b["step_s"] - b["extra_generate_s"]) if b else None
        mem = r["peak_mem_gb"] / b["peak_mem_gb"] if b and r["peak_mem_gb"] and b["peak_mem_gb"] else None
        goal = ""
        if r["trainer"] in STEP_GOALS and step is not None:
            measured = step if r["trainer"] in ("passk", "cures") else excl
            limit = STEP_GOALS[r["trainer"]]
            goal = f"{'met' if measured <= limit else 'missed'} (≤ {limit}×)"

        def fmt(x, spec=".2f"):
            return "–" if x is None else format(x, spec)

        lines.append(
            f"| {r['precision']} | {r['trainer']} | {r['step_s']:.2f} | {fmt(step)} | {fmt(excl)} | "
            f"{r['generate_s']:.2f} | {r['tokens_per_s']:.0f} | {r['reward_s']:.3f} | {fmt(r['peak_mem_gb'])} | "
            f"{fmt(mem)} | {goal} |" + (" (truncated by --budget-s)" if r["truncated"] else "")
        )
    qlora = {r["trainer"]: r for r in rows if r["precision"] == "qlora" and r.get("peak_mem_gb")}
    lora = {r["trainer"]: r for r in rows if r["precision"] == "lora" and r.get("peak_mem_gb")}
    pairs = [(n, qlora[n]["peak_mem_gb"] / lora[n]["peak_mem_gb"]) for n in lora if n in qlora]
    if pairs:
        lines += [
            "",
            f"QLoRA peak memory × bf16 LoRA's (goal ≤ {QLORA_MEMORY_GOAL}×): "
            + ", ".join(
                f"{n} {ratio:.2f} ({'met' if ratio <= QLORA_MEMORY_GOAL else 'missed'})" for n, ratio in pairs
            ),
        ]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("0.5b", "1.5b", "tiny"), default="0.5b", help="Qwen2 shape")
    parser.add_argument("--tiny", action="store_true", help="shortcut: --size tiny with CPU-sized settings")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated: lora, qlora")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_TRAINERS),
        help=f"comma-separated trainers (grpo is the baseline), from: {', '.join(TRAINERS)}",
    )
    parser.add_argument("--steps", type=int, default=3, help="measured steps per trainer (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="steps run before measuring")
    parser.add_argument("--batch", type=int, default=16, help="completions per step")
    parser.add_argument("--generations", type=int, default=8, help="num_generations (group size)")
    parser.add_argument("--max-completion-length", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=64, help="training prompts generated")
    parser.add_argument(
        "--vocab", type=int, default=32768, help="tokens of the locally trained BPE tokenizer"
    )
    parser.add_argument(
        "--corpus-mb", type=float, default=8.0, help="standard-library text the tokenizer learns"
    )
    parser.add_argument("--task", choices=("auto", "kolmogorov", "pbe"), default="auto")
    parser.add_argument("--generation", choices=("auto", "transformers", "vllm"), default="auto")
    parser.add_argument("--budget-s", type=float, default=480.0, help="stop cleanly after this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("outputs/bench_gpu"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.size, args.max_completion_length, args.vocab, args.corpus_mb = "tiny", 16, 512, 0.2
        args.batch, args.generations, args.prompts = 8, 4, 16
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in TRAINERS]
    if unknown:
        parser.error(f"unknown trainer(s) {', '.join(unknown)}; choose from {', '.join(TRAINERS)}")
    if "grpo" not in args.only:
        args.only.insert(0, "grpo")  # the baseline of every ratio
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not precisions or set(precisions) - set(PRECISIONS):
        parser.error(f"--precisions takes a comma-separated subset of {', '.join(PRECISIONS)}")
    args.precisions = precisions
    if args.batch % args.generations:
        parser.error(f"--batch ({args.batch}) must be a multiple of --generations ({args.generations})")
    if args.generation == "auto":
        import importlib.util

        args.generation = (
            "vllm" if args.device == "cuda" and importlib.util.find_spec("vllm") else "transformers"
        )
    if args.generation == "vllm" and args.device != "cuda":
        parser.error("--generation vllm needs --device cuda")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    if args.worker:
        run_precision(args.worker, args)
        return
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(
            "bench_gpu: --device cuda but torch sees no GPU (use --tiny --device cpu to check the code path)"
        )
    start = time.time()
    task, _, model = build_workload(args.output, args)  # once, before the workers (which reuse it)
    report = {
        "machine": machine(args.device),
        "versions": versions(),
        "size": args.size,
        "parameters": count_parameters(model),
        "task": task,
        **{
            k: getattr(args, k)
            for k in (
                "batch",
                "generations",
                "max_completion_length",
                "steps",
                "warmup",
                "generation",
                "budget_s",
            )
        },
        "rows": [],
    }
    deadline = start + args.budget_s
    for precision in args.precisions:
        print(f"== {precision}: {', '.join(args.only)}", flush=True)
        argv_worker = [
            sys.executable,
            __file__,
            *(argv if argv is not None else sys.argv[1:]),
            "--worker",
            precision,
            "--deadline",
            str(deadline),
        ]
        with subprocess.Popen(argv_worker, stdout=subprocess.PIPE, text=True) as worker:
            for line in worker.stdout:
                if not line.startswith("ROW "):
                    continue
                row = json.loads(line[4:])
                report["rows"].append(row)
                print(
                    f"   {precision} {row['trainer']}: "
                    + (f"{row['step_s']:.2f} s/step" if "step_s" in row else row.get("error") or "skipped"),
                    flush=True,
                )
                write_atomic(args.output / "bench_gpu.json", json.dumps(report, indent=2) + "\n")
                write_atomic(args.output / "bench_gpu.md", markdown(report))
        if worker.returncode:
            report["rows"].append(
                {
                    "trainer": "(worker)",
                    "precision": precision,
                    "error": f"worker exited with {worker.returncode}",
                }
            )
    write_atomic(args.output / "bench_gpu.json", json.dumps(report, indent=2) + "\n")
    write_atomic(args.output / "bench_gpu.md", markdown(report))
    print(markdown(report))
    print(f"saved {args.output / 'bench_gpu.json'} and bench_gpu.md ({time.time() - start:.0f} s)")


def count_parameters(model: Path) -> int:
    """Parameters stored in the model folder's safetensors (read from the headers, not loaded)."""
    from safetensors import safe_open

    total = 0
    for shard in model.glob("*.safetensors"):
        with safe_open(shard, "pt") as f:
            total += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    return total


if __name__ == "__main__":
    main()
