"""The trl-ext trainers side by side at small scale: same tasks, tiny model, warm start and sample budget.

    python scripts/benchmark_trainers.py                 # 2 tasks x 9 variants x 3 seeds (~20 min, idle 2-core CPU)
    python scripts/benchmark_trainers.py --quick         # smoke run (~2 minutes)
    python scripts/benchmark_trainers.py --tasks pbe --variants grpo,passk --seeds 0 1 2

Per task (a generated dataset, `hub_datasets`): a tiny character-level model is built from the task's text and
warm-started with TRL's SFTTrainer on the reference answers (each row once plain and once with its hint, so the
policy can read hints, which Guide needs), once, cached under `--output/<task>/`. From that checkpoint every
variant trains until it has generated `--budget` samples: every sequence the trainer generates counts, the hinted
regenerations of Guide, RLEF's later turns and SPO's π_ref samples for V̂₀ included (SPO's offline reference
solutions are not generated, so they do not count). Then it is evaluated on held-out problems with
`model.generate` + `trl_ext.rewards.task_reward` + the unbiased `trl_ext.objectives.pass_at_k` (pass@1, pass@k
from `--eval-samples` samples), and the RLEF variants also with multi-turn episodes (`trl_ext.eval.multiturn`,
1@3: one episode of up to 3 turns vs 3 independent single-turn samples).

Each (task, variant, seed) is one JSON file under `--output/runs/` written when it finishes: an interrupted run
continues where it stopped. Writes results.json, results.md (mean ± sample std over seeds, and every paper claim
of ALGORITHMS.md checked against the table) and one plot per task (train reward and held-out pass@k vs generated
samples). A variant a task cannot run (RLEF needs an execution-feedback verifier) is recorded as unsupported
with the trainer's own error message.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import string
import time
from pathlib import Path
from types import SimpleNamespace

from experiments import answer_rows, cpu_args, sampled_rewards, sft_train, write_atomic

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HINT_TEMPLATE = "{prompt}\nHint: {hint}\n"
# task name -> (hub_datasets name, config). PBE: short rewrite-rule programs; puzzles: Python literals that
# satisfy a `sat` function (long prompts, answers checked by execution); kolmogorov: short programs.
TASKS = {"pbe": ("pbe", "demo"), "puzzles": ("puzzles", "lite"), "kolmogorov": ("kolmogorov", "lite")}
DEFAULT_TASKS = ("pbe", "puzzles")
# variant -> (config class, trainer class, config fields). "offline" marks SPO's half-online reference pairs.
VARIANTS = {
    "grpo": ("trl:GRPOConfig", "trl:GRPOTrainer", {}),
    "passk": ("trl_ext:PassAtKConfig", "trl_ext:PassAtKTrainer", {"objective": "pass@k", "k": 4}),
    "passk-maj": ("trl_ext:PassAtKConfig", "trl_ext:PassAtKTrainer", {"objective": "maj@k", "k": 4}),
    "spo": ("trl_ext:SPOConfig", "trl_ext:SPOTrainer", {"spo_beta": 0.2, "value_samples": 4}),
    "spo-half": (
        "trl_ext:SPOConfig",
        "trl_ext:SPOTrainer",
        {"spo_beta": 0.2, "value_samples": 4, "off_policy_ratio": 0.5, "offline": True},
    ),
    "guide": ("trl_ext:GuideConfig", "trl_ext:GuideTrainer", {"hint_template": HINT_TEMPLATE}),
    "cures": ("trl_ext:CurESConfig", "trl_ext:CurESTrainer", {"curriculum": True}),
    "rlef": ("trl_ext:RLEFConfig", "trl_ext:RLEFTrainer", {"max_turns": 3, "max_completion_length": 160}),
    "rlef-1turn": ("trl_ext:RLEFConfig", "trl_ext:RLEFTrainer", {"max_turns": 1}),
}
RLEF_VARIANTS = ("rlef", "rlef-1turn")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, tiny sizes (~2 minutes)")
    p.add_argument(
        "--tasks", default=",".join(DEFAULT_TASKS), help=f"comma-separated, from {', '.join(TASKS)}"
    )
    p.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=int, default=320, help="generated samples per run (every variant)")
    p.add_argument("--prompts-per-step", type=int, default=2)
    p.add_argument("--group", type=int, default=8, help="num_generations (> k = 4 of passk)")
    p.add_argument("--max-completion-length", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=1e-4, help="as the demo (5e-4 collapsed pass@k)")
    p.add_argument("--n-train", type=int, default=1000, help="training rows per task (dataset seed 0)")
    p.add_argument("--sft-steps", type=int, default=500, help="warm-start SFT steps per task")
    p.add_argument("--eval-problems", type=int, default=32, help="held-out problems")
    p.add_argument("--eval-samples", type=int, default=8, help="samples per held-out problem (k = this)")
    p.add_argument("--offline-pairs", type=int, default=200, help="reference solutions for spo-half")
    p.add_argument("--output", type=Path, default=Path("outputs/benchmark_trainers"))
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="train nothing: tables and plots from the runs cached so far",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: a tiny model gains little from more, and a shared machine loses a lot)",
    )
    if p.parse_known_args(argv)[0].quick:  # smaller defaults; flags given explicitly still win
        p.set_defaults(seeds=[0], budget=48, n_train=200, sft_steps=40, eval_problems=8, eval_samples=4)
        p.set_defaults(offline_pairs=32)
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for kind, given, known in (("task", args.tasks, TASKS), ("variant", args.variants, VARIANTS)):
        unknown = [x for x in given if x not in known]
        if unknown or not given:
            p.error(f"unknown or no {kind}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if args.eval_samples < 2 or args.budget < args.prompts_per_step * args.group:
        p.error("--eval-samples must be >= 2 and --budget at least one step (prompts-per-step x group)")
    return args


def _load(path: str):
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def load_task(task: str, args) -> tuple:
    """(train, test rows) of the task's generated dataset, built once (seed 0) and cached on disk."""
    from datasets import load_from_disk

    import hub_datasets

    path = args.output / task / f"data-n{args.n_train}"
    if not (path / "dataset_dict.json").exists():
        name, config = TASKS[task]
        built = hub_datasets.build(name, config, n=args.n_train, n_test=max(args.eval_problems, 32), seed=0)
        built.dataset.save_to_disk(str(path.with_suffix(".tmp")))
        os.replace(path.with_suffix(".tmp"), path)
    data = load_from_disk(str(path))
    return data["train"], list(data["test"])[: args.eval_problems]


def warm_start(task: str, train, args) -> str:
    """The tiny model, SFT on the reference answers (plain and hinted prompts); cached per task and size."""
    from trl_ext.models import build_tiny_model

    final = args.output / task / f"sft-n{args.n_train}-steps{args.sft_steps}"
    if (final / "model.safetensors").exists():
        return str(final)
    rows = answer_rows(train, HINT_TEMPLATE)
    corpus = [r["prompt"][-1]["content"] + r["completion"][0]["content"] for r in rows]
    corpus.append(string.printable)  # RLEF's feedback turns tokenise without <unk>
    base = build_tiny_model(args.output / task / "tiny-init", corpus, seed=0)
    tmp = final.with_name(final.name + ".tmp")
    sft_train(
        base,
        rows,
        args.output / task / "sft",
        tmp,
        max_steps=args.sft_steps,
        warmup_steps=min(20, args.sft_steps // 10),
        max_length=1024,
    )
    os.replace(tmp, final)
    return str(final)


def evaluate(model, tokenizer, test: list[dict], samples: int, seed: int) -> dict:
    """Held-out mean reward, pass@1 and pass@`samples` (unbiased estimator), `samples` per problem."""
    from trl_ext.objectives import pass_at_k

    rewards = [0.0 if r is None else r for r in sampled_rewards(model, tokenizer, test, samples, seed)]
    correct = [sum(x > 0.5 for x in rewards[i * samples : (i + 1) * samples]) for i in range(len(test))]
    return {
        "reward": sum(rewards) / len(rewards),
        "pass@1": statistics.mean(pass_at_k(samples, c, 1) for c in correct),
        f"pass@{samples}": statistics.mean(pass_at_k(samples, c, samples) for c in correct),
    }


def evaluate_episodes_1at3(model, tokenizer, test: list[dict]) -> dict:
    """RLEF's metric: multi-turn 1@3 (an episode of up to 3 turns) vs independent 1@3, and feedback uptake."""
    from trl_ext.episodes import EpisodeSettings, FeedbackTokenizer
    from trl_ext.eval.multiturn import evaluate_episodes, transformers_generator

    was_training = model.training
    model.eval()
    generation = SimpleNamespace(max_new_tokens=16, temperature=1.0, top_p=1.0)
    io = dict(
        generate=transformers_generator(model, tokenizer, generation, chunk=256),
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        prompt_ids=lambda m: list(
            tokenizer.apply_chat_template(m, add_generation_prompt=True, return_dict=False)
        ),
        feedback_ids=FeedbackTokenizer(tokenizer),
        eos_token_ids=[tokenizer.eos_token_id],
    )
    multi, _ = evaluate_episodes(test, 3, EpisodeSettings(max_turns=3, max_completion_length=512), [1], **io)
    single, _ = evaluate_episodes(test, 3, EpisodeSettings(max_turns=1), [3], **io)
    model.train(was_training)
    return {
        "multi_turn_1@3": multi["1@3"],
        "independent_1@3": single["1@3"],
        "feedback_uptake": multi.get("feedback_uptake", 0.0),
    }


def counting(trainer_cls):
    """`trainer_cls` that counts every sequence it generates (policy turns and SPO's π_ref samples)."""

    class Counting(trainer_cls):
        generated = 0
        reference_generated = 0

        def _generate_single_turn(self, prompt_ids, *rest, **kwargs):
            self.generated += len(prompt_ids)
            return super()._generate_single_turn(prompt_ids, *rest, **kwargs)

        def _sample_reference(self, prompt_ids, *rest, **kwargs):  # SPO's V̂₀ samples (π_ref)
            self.reference_generated += len(prompt_ids)
            return super()._sample_reference(prompt_ids, *rest, **kwargs)

        @property
        def samples_used(self) -> int:
            return self.generated + self.reference_generated

    return Counting


def make_budget_callback(trainer, budget: int, test, args, seed: int):
    """Stops training once `budget` samples were generated; records the train reward per step and a held-out
    evaluation when half the budget is spent."""
    from transformers import TrainerCallback

    class Budget(TrainerCallback):
        curve: list = []
        evals: list = []

        def on_log(self, targs, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                self.curve.append({"samples": trainer.samples_used, "reward": logs["reward"]})

        def on_step_end(self, targs, state, control, model=None, **kwargs):
            if not self.evals and trainer.samples_used >= budget / 2 and trainer.samples_used < budget:
                result = evaluate(model, trainer.processing_class, test, args.eval_samples, seed=1234)
                self.evals.append({"samples": trainer.samples_used, **result})
            if trainer.samples_used >= budget:
                control.should_training_stop = True
            return control

    callback = Budget()
    callback.curve, callback.evals = [], []
    return callback


def train_run(task: str, variant: str, seed: int, args, sft: str, train, test) -> dict:
    config_path, trainer_path, fields = VARIANTS[variant]
    fields = dict(fields)
    offline = fields.pop("offline", False)
    rl = dict(
        **cpu_args(args.output / task / "runs" / f"{variant}-seed{seed}", seed),
        per_device_train_batch_size=args.prompts_per_step * args.group,
        num_generations=args.group,
        max_completion_length=args.max_completion_length,
        temperature=1.0,
        learning_rate=args.learning_rate,
        lr_scheduler_type="constant",
        beta=0.0,
        max_steps=10 * args.budget // (args.prompts_per_step * args.group),  # the budget callback stops first
        logging_steps=1,
    )
    rl.update(fields)
    config = _load(config_path)(**rl)
    trainer_cls = counting(_load(trainer_path))
    extra = {}
    if offline:
        extra["offline_dataset"] = train.select(range(args.offline_pairs)).rename_column(
            "answer", "completion"
        )
    reward = None if variant in RLEF_VARIANTS else _load("trl_ext.rewards:task_reward")
    try:
        trainer = trainer_cls(model=sft, reward_funcs=reward, args=config, train_dataset=train, **extra)
    except ValueError as error:  # e.g. RLEF on a task without an execution-feedback verifier
        return {"task": task, "variant": variant, "seed": seed, "status": "unsupported", "reason": str(error)}
    budget = make_budget_callback(trainer, args.budget, test, args, seed)
    trainer.add_callback(budget)
    start = time.perf_counter()
    trainer.train()
    final = evaluate(trainer.model, trainer.processing_class, test, args.eval_samples, seed=1234)
    run = {
        "task": task,
        "variant": variant,
        "seed": seed,
        "status": "ok",
        "steps": trainer.state.global_step,
        "samples_used": trainer.samples_used,
        "policy_samples": trainer.generated,
        "reference_samples": trainer.reference_generated,
        "train_seconds": time.perf_counter() - start,
        "curve": budget.curve,
        "evals": [*budget.evals, {"samples": trainer.samples_used, **final}],
        "final": final,
    }
    if variant in RLEF_VARIANTS:
        run["episodes"] = evaluate_episodes_1at3(trainer.model, trainer.processing_class, test)
    return run


def baseline_eval(task: str, sft: str, test, args) -> dict:
    """The warm start's held-out figures (the 0-sample point of every curve), cached per task."""
    path = args.output / task / f"sft-eval-{Path(sft).name}-p{args.eval_problems}-s{args.eval_samples}.json"
    if path.exists():
        return json.loads(path.read_text())
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(sft), AutoTokenizer.from_pretrained(sft)
    result = {"samples": 0, **evaluate(model, tokenizer, test, args.eval_samples, seed=1234)}
    if any(v in RLEF_VARIANTS for v in args.variants):
        try:
            result["episodes"] = evaluate_episodes_1at3(model, tokenizer, test)
        except ValueError as error:
            result["episodes_unsupported"] = str(error)
    write_atomic(path, json.dumps(result, indent=1))
    return result


# ----------------------------------------------------------------------------------------------------- summary
def mean_sd(values: list[float]) -> list[float]:
    """[mean, sample std] (a list: what results.json holds)."""
    return [statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def final_train_reward(run: dict) -> float:
    """Mean train reward over the last quarter of the logged steps (one step is too noisy)."""
    rewards = [p["reward"] for p in run["curve"]]
    return statistics.mean(rewards[-max(1, len(rewards) // 4) :])


def summarise(runs: list[dict], args) -> dict:
    k = args.eval_samples
    summary = {}
    for task in args.tasks:
        for variant in args.variants:
            mine = [r for r in runs if r["task"] == task and r["variant"] == variant]
            ok = [r for r in mine if r["status"] == "ok"]
            entry = {"seeds": [r["seed"] for r in ok]}
            if not ok:
                entry["unsupported"] = next(
                    (f"{r['status']}: {r['reason']}" for r in mine if r["status"] != "ok"), "not run"
                )
            else:
                metrics = {
                    "train_reward": [final_train_reward(r) for r in ok],
                    "pass@1": [r["final"]["pass@1"] for r in ok],
                    f"pass@{k}": [r["final"][f"pass@{k}"] for r in ok],
                    "samples_used": [r["samples_used"] for r in ok],
                    "steps": [r["steps"] for r in ok],
                }
                if all("episodes" in r for r in ok):
                    metrics["multi_turn_1@3"] = [r["episodes"]["multi_turn_1@3"] for r in ok]
                    metrics["independent_1@3"] = [r["episodes"]["independent_1@3"] for r in ok]
                    metrics["feedback_uptake"] = [r["episodes"]["feedback_uptake"] for r in ok]
                entry.update({m: {"values": v, "mean_sd": mean_sd(v)} for m, v in metrics.items()})
            summary[f"{task}/{variant}"] = entry
    return summary


def compare(summary: dict, task: str, variant: str, baseline: str, metric: str) -> dict | None:
    """Mean difference variant − baseline in `metric` (points), with its standard error over seeds."""
    a, b = summary.get(f"{task}/{variant}", {}), summary.get(f"{task}/{baseline}", {})
    if metric not in a or metric not in b:
        return None
    x, y = a[metric]["values"], b[metric]["values"]
    diff = 100 * (statistics.mean(x) - statistics.mean(y))
    var = sum(statistics.variance(v) / len(v) for v in (x, y) if len(v) > 1)
    signal = any(v > 0 for v in (*x, *y))
    return {"diff": diff, "se": 100 * math.sqrt(var), "n": min(len(x), len(y)), "signal": signal}


def verdict(c: dict | None, want_positive: bool = True) -> str:
    """'reproduces' when the difference has the claimed sign and exceeds 2 standard errors over seeds."""
    if c is None:
        return "not measured"
    if not c.get("signal", True):
        return "no signal (both arms at 0: the warm start solves nothing here)"
    sign = c["diff"] if want_positive else -c["diff"]
    if c["n"] < 2:
        return "direction only (1 seed)" if sign > 0 else "does not reproduce (1 seed)"
    if sign > 2 * c["se"]:
        return "reproduces"
    return "same direction, within noise" if sign > 0 else "does not reproduce"


def claims(summary: dict, args) -> list[dict]:
    """Each paper claim of ALGORITHMS.md, checked on every task against the table."""
    k = f"pass@{args.eval_samples}"
    checks = [
        (
            "PassAtK (PKPO)",
            "training for pass@k raises pass@k above a pass@1-trained baseline",
            "passk",
            "grpo",
            k,
            True,
        ),
        ("PassAtK (PKPO)", "... at some cost in pass@1", "passk", "grpo", "pass@1", False),
        (
            "SPO",
            "online SPO beats the on-policy baseline (PPO there, GRPO here) on pass@k",
            "spo",
            "grpo",
            k,
            True,
        ),
        (
            "SPO",
            "half-online SPO (50% offline solutions) beats the on-policy baseline on pass@k",
            "spo-half",
            "grpo",
            k,
            True,
        ),
        ("Guide", "up to +4 points pass@1 over GRPO", "guide", "grpo", "pass@1", True),
        ("CurES", "+3.3 / +4.8 points pass@1 over GRPO", "cures", "grpo", "pass@1", True),
        (
            "RLEF",
            "multi-turn RL beats single-turn RL at multi-turn 1@3, same samples",
            "rlef",
            "rlef-1turn",
            "multi_turn_1@3",
            True,
        ),
        (
            "RLEF (feedback use)",
            "multi-turn 1@3 of the RLEF model beats its own independent 1@3",
            "rlef",
            "rlef",
            None,
            True,
        ),
    ]
    out = []
    for task in args.tasks:
        for paper, claim, variant, baseline, metric, positive in checks:
            if variant not in args.variants or baseline not in args.variants:
                continue
            if metric is None:  # within-model: multi-turn vs independent sampling at the same 3 samples
                entry = summary.get(f"{task}/{variant}", {})
                c = None
                if "multi_turn_1@3" in entry:
                    x, y = entry["multi_turn_1@3"]["values"], entry["independent_1@3"]["values"]
                    d = [100 * (a - b) for a, b in zip(x, y)]
                    c = {"diff": statistics.mean(d), "n": len(d), "signal": any(v > 0 for v in (*x, *y))}
                    c["se"] = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0.0
            else:
                c = compare(summary, task, variant, baseline, metric)
            out.append(
                {
                    "task": task,
                    "paper": paper,
                    "claim": claim,
                    "metric": metric or "multi_turn_1@3 − independent_1@3",
                    "comparison": f"{variant} vs {baseline}"
                    if metric
                    else f"{variant}: multi-turn vs independent",
                    **(c or {}),
                    "verdict": verdict(c, positive),
                }
            )
    return out


def markdown(summary: dict, checked: list[dict], baselines: dict, args) -> str:
    k = f"pass@{args.eval_samples}"
    lines = [
        f"# Trainer benchmark (tiny char-level model, {args.budget} generated samples per run, seeds {args.seeds})",
        "",
        f"Mean ± sample std over seeds. Held-out: {args.eval_problems} problems x {args.eval_samples} samples. "
        "Train reward: last quarter of the logged steps (RLEF's is its own ±1 reward with a −0.2 penalty).",
        "",
        f"| task | variant | train reward | held-out pass@1 | held-out {k} | samples used | steps | multi-turn 1@3 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task in args.tasks:
        base = baselines.get(task)
        if base:
            lines.append(
                f"| {task} | (SFT warm start) | – | {base['pass@1']:.3f} | {base[k]:.3f} | 0 | 0 | "
                + (f"{base['episodes']['multi_turn_1@3']:.3f}" if "episodes" in base else "–")
                + " |"
            )
        for variant in args.variants:
            e = summary[f"{task}/{variant}"]
            if "unsupported" in e:
                lines.append(f"| {task} | {variant} | n/a ({e['unsupported'][:100]}) | | | | | |")
                continue

            def cell(m, digits=3, e=e):
                if m not in e:
                    return "–"
                mu, sd = e[m]["mean_sd"]
                return f"{mu:.{digits}f} ± {sd:.{digits}f}"

            lines.append(
                f"| {task} | {variant} | {cell('train_reward')} | {cell('pass@1')} | {cell(k)} | "
                f"{cell('samples_used', 0)} | {cell('steps', 1)} | {cell('multi_turn_1@3')} |"
            )
    lines += [
        "",
        "## Paper claims at this scale",
        "",
        "Verdict: *reproduces* when the mean difference has the claimed sign and exceeds twice its standard error "
        "over seeds; *same direction, within noise* when it has the sign but not the margin.",
        "",
        "| task | paper | claim | comparison | metric | difference (points) | verdict |",
        "|---|---|---|---|---|---:|---|",
    ]
    for c in checked:
        diff = f"{c['diff']:+.1f} ± {c['se']:.1f}" if "diff" in c else "–"
        lines.append(
            f"| {c['task']} | {c['paper']} | {c['claim']} | {c['comparison']} | {c['metric']} | {diff} | {c['verdict']} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], baselines: dict, args) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = f"pass@{args.eval_samples}"
    paths = []
    for task in args.tasks:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
        for variant in args.variants:
            mine = [r for r in runs if r["task"] == task and r["variant"] == variant and r["status"] == "ok"]
            if not mine:
                continue
            # train reward: mean over seeds of each logged step (steps align across seeds of one variant)
            n = min(len(r["curve"]) for r in mine)
            if n and variant not in RLEF_VARIANTS:  # RLEF's ±1 reward is on another scale
                xs = [statistics.mean(r["curve"][i]["samples"] for r in mine) for i in range(n)]
                ys = [statistics.mean(r["curve"][i]["reward"] for r in mine) for i in range(n)]
                left.plot(xs, ys, label=variant)
            points = [[baselines[task]] + r["evals"] for r in mine]
            m = min(map(len, points))
            xs = [statistics.mean(p[i]["samples"] for p in points) for i in range(m)]
            ys = [statistics.mean(p[i][k] for p in points) for i in range(m)]
            right.plot(xs, ys, marker="o", label=variant)
        left.set(title=f"{task}: train reward (mean over seeds)", xlabel="generated samples", ylabel="reward")
        right.set(title=f"{task}: held-out {k}", xlabel="generated samples", ylabel=k)
        left.legend(fontsize=7)
        right.legend(fontsize=7)
        fig.tight_layout()
        path = args.output / f"benchmark_{task}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def settings_key(args) -> str:
    """A short hash of the settings a run's result depends on: the cache never mixes runs of other settings."""
    import hashlib

    keys = ("budget", "prompts_per_step", "group", "max_completion_length", "learning_rate", "n_train")
    keys += ("sft_steps", "eval_problems", "eval_samples", "offline_pairs")
    text = json.dumps({k: getattr(args, k) for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def main(argv=None) -> dict:
    from tqdm import tqdm

    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    args.output.mkdir(parents=True, exist_ok=True)
    runs_dir = args.output / "runs"
    # seed-major order: an interrupted run has every variant of every task at the seeds it finished
    jobs = [(t, v, s) for s in args.seeds for t in args.tasks for v in args.variants]
    runs, baselines, prepared = [], {}, {}
    bar = tqdm(jobs, desc="benchmark", unit="run")
    for task, variant, seed in bar:
        path = runs_dir / f"{task}__{variant}__seed{seed}__{settings_key(args)}.json"
        bar.set_postfix_str(f"{task}/{variant}/seed{seed}")
        if args.cached_only and not path.exists():
            continue
        if task not in prepared:
            train, test = load_task(task, args)
            sft = warm_start(task, train, args)
            prepared[task] = (train, test, sft)
            baselines[task] = baseline_eval(task, sft, test, args)
        train, test, sft = prepared[task]
        if path.exists():
            run = json.loads(path.read_text())
            tqdm.write(f"{task}/{variant}/seed{seed}: cached")
        else:
            try:
                run = train_run(task, variant, seed, args, sft, train, test)
            except Exception as error:  # one broken variant must not lose the others; not cached: retried
                run = {
                    "task": task,
                    "variant": variant,
                    "seed": seed,
                    "status": "failed",
                    "reason": repr(error),
                }
            if run["status"] != "failed":
                write_atomic(path, json.dumps(run, indent=1))
            if run["status"] == "ok":
                k = f"pass@{args.eval_samples}"
                tqdm.write(
                    f"{task}/{variant}/seed{seed}: {run['steps']} steps, {run['samples_used']} samples, "
                    f"pass@1 {run['final']['pass@1']:.3f}, {k} {run['final'][k]:.3f}, {run['train_seconds']:.0f}s"
                )
            else:
                tqdm.write(f"{task}/{variant}/seed{seed}: {run['status']} ({run['reason'][:200]})")
        runs.append(run)
    summary = summarise(runs, args)
    checked = claims(summary, args)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = {"settings": settings, "warm_start": baselines, "summary": summary, "claims": checked}
    write_atomic(args.output / "results.json", json.dumps(results, indent=1))
    table = markdown(summary, checked, baselines, args)
    write_atomic(args.output / "results.md", table)
    results["plots"] = [str(p) for p in plot(runs, baselines, args)]
    print(table)
    return results


if __name__ == "__main__":
    main()
