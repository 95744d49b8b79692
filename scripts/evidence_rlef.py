"""Evidence for RLEF (arXiv 2410.02089): does multi-turn RL from execution feedback teach a model to *use* the
feedback, compared with single-turn GRPO given the same number of generated samples?

    python scripts/evidence_rlef.py --quick          # smoke run, about a minute
    python scripts/evidence_rlef.py                  # 3 seeds

The generated task ("hidden number"): every problem says only "Print the hidden number."; its public and
private tests expect the problem's hidden digit on stdout. Nothing in the prompt tells the digit, so a single
answer is right by chance only, while the feedback of a failed public test ("Expected: 7, Got: 3") tells it.
This isolates feedback uptake = P(turn t+1 passes | turn t failed), the quantity Feedback Friction and RLEF
are about; it is a toy (the feedback holds the answer), not a claim about real code problems.

Per seed: a tiny character-level model warm-started with TRL's SFTTrainer on the answer format, single- and
two-turn (the second answer after a feedback turn is a *random* digit: the warm start never copies the
feedback); then from that checkpoint (1) RLEFTrainer with 3 turns and (2) single-turn GRPO (RLEFTrainer with
max_turns=1, the same reward, TRL's GRPO underneath) trained on as many generated answers as RLEF generated.
Each model is evaluated on held-out problems both ways at 3 samples per problem: multi-turn 1@3 (one episode of
up to 3 turns, the final answer submitted) and independent 1@3 (3 single-turn samples, a public-test passer
submitted), with feedback uptake. Writes outputs/evidence_rlef/{results.json,results.md,evidence.png}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import string
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from experiments import cpu_args, sft_train
from tqdm import tqdm

HIDDEN = "Print the hidden number."


def problems(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tests = [{"input": "", "output": str(rng.randrange(10))}]
        rows.append(
            {
                "prompt": [{"role": "user", "content": HIDDEN}],
                "task": "code",
                "fn_name": None,
                "public_tests": tests,
                "private_tests": tests,
            }
        )
    return rows


def sft_rows(n: int, seed: int) -> list[dict]:
    """Prompt-completion rows: the answer format after the problem and after a real feedback turn, always a
    random digit (no copying is taught)."""
    from trl_ext.episodes import EpisodeSettings, feedback_message, public_verdicts

    pairs = [(h, g) for h in range(10) for g in range(10) if h != g]
    rows = [{"task": "code", "public_tests": [{"input": "", "output": str(h)}]} for h, _ in pairs]
    verdicts = public_verdicts([f"print({g})" for _, g in pairs], rows)
    feedback = {pair: feedback_message(v, EpisodeSettings()) for pair, v in zip(pairs, verdicts)}
    rng, out = random.Random(seed), []
    for _ in range(n):
        messages = [{"role": "user", "content": HIDDEN}]
        if rng.random() < 0.5:
            h, g = rng.choice(pairs)
            messages += [
                {"role": "assistant", "content": f"print({g})"},
                {"role": "user", "content": feedback[h, g]},
            ]
        out.append(
            {
                "prompt": messages,
                "completion": [{"role": "assistant", "content": f"print({rng.randrange(10)})"}],
            }
        )
    return out


def warm_start(out: Path, seed: int, steps: int) -> str:
    from trl_ext.models import build_tiny_model

    rows = sft_rows(2000, seed)
    corpus = [string.printable] + [m["content"] for r in rows[:50] for m in r["prompt"]]
    base = build_tiny_model(
        out / "init", corpus, hidden_size=64, num_hidden_layers=2, intermediate_size=128, seed=seed
    )
    sft_train(
        base, rows, out / "sft", out / "sft-final", max_steps=steps, warmup_steps=10, seed=seed, batch_size=32
    )
    return str(out / "sft-final")


def reinforce(model: str, out: Path, seed: int, max_turns: int, steps: int, batch: int, lr: float):
    """Train with RLEFTrainer; returns the trainer and the number of answers it generated."""
    from datasets import Dataset

    from trl_ext import RLEFConfig, RLEFTrainer

    args = RLEFConfig(
        **cpu_args(out, seed),
        max_turns=max_turns,
        learning_rate=lr,
        lr_scheduler_type="constant",
        per_device_train_batch_size=batch,
        num_generations=8,
        max_completion_length=320,
        temperature=1.0,
        beta=0.0,
        max_steps=steps,
        logging_steps=1,
    )
    trainer = RLEFTrainer(model=model, args=args, train_dataset=Dataset.from_list(problems(512, seed + 1000)))
    trainer.train()
    turns = [e["rlef/mean_turns"] for e in trainer.state.log_history if "rlef/mean_turns" in e]
    return trainer, round(sum(turns) * batch)


def evaluate(model, tokenizer, rows: list[dict], samples: int) -> dict:
    """Multi-turn 1@3 (episodes of 3 turns) and independent 1@3 (3 single-turn samples), with uptake."""
    from trl_ext.episodes import EpisodeSettings, FeedbackTokenizer
    from trl_ext.eval.harness import GenerationSettings
    from trl_ext.eval.multiturn import evaluate_episodes, transformers_generator

    model.eval()
    io = dict(
        generate=transformers_generator(model, tokenizer, GenerationSettings(max_new_tokens=16), chunk=256),
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        prompt_ids=lambda m: list(
            tokenizer.apply_chat_template(m, add_generation_prompt=True, return_dict=False)
        ),
        feedback_ids=FeedbackTokenizer(tokenizer),
        eos_token_ids=[tokenizer.eos_token_id],
    )
    multi, _ = evaluate_episodes(
        rows, samples, EpisodeSettings(max_turns=3, max_completion_length=512), [1], **io
    )
    single, _ = evaluate_episodes(rows, samples, EpisodeSettings(max_turns=1), [3], **io)
    return {
        "multi_turn_1@3": multi["1@3"],
        "independent_1@3": single["1@3"],
        "solve@turn1": multi["solve@turn1"],
        "feedback_uptake": multi.get("feedback_uptake", 0.0),
    }


def run_seed(seed: int, a: argparse.Namespace, out: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(max(1, torch.get_num_threads() // a.jobs))
    torch.manual_seed(seed)
    test = problems(a.test_problems, seed + 2000)
    sft = warm_start(out / f"seed{seed}", seed, a.sft_steps)
    tokenizer = AutoTokenizer.from_pretrained(sft)
    result = {"sft": evaluate(AutoModelForCausalLM.from_pretrained(sft), tokenizer, test, a.eval_samples)}
    rlef, answers = reinforce(sft, out / f"seed{seed}/rlef", seed, 3, a.rl_steps, a.batch, a.lr)
    result["rlef"] = evaluate(rlef.model, tokenizer, test, a.eval_samples)
    grpo_steps = max(1, round(answers / a.batch))  # the same number of generated answers
    grpo, grpo_answers = reinforce(sft, out / f"seed{seed}/grpo", seed, 1, grpo_steps, a.batch, a.lr)
    result["grpo"] = evaluate(grpo.model, tokenizer, test, a.eval_samples)
    result["budget"] = {
        "rlef_steps": a.rl_steps,
        "rlef_answers": answers,
        "grpo_steps": grpo_steps,
        "grpo_answers": grpo_answers,
    }
    return result


def summarise(results: dict) -> dict:
    seeds = list(results)
    table = {}
    for model in ("sft", "rlef", "grpo"):
        for metric in results[seeds[0]][model]:
            values = [results[s][model][metric] for s in seeds]
            table[f"{model}/{metric}"] = (statistics.mean(values), statistics.pstdev(values))
    return table


def write(out: Path, results: dict, a: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarise(results)
    metrics = ["multi_turn_1@3", "independent_1@3", "solve@turn1", "feedback_uptake"]
    lines = [
        f"# RLEF evidence ({len(results)} seeds; command: `python scripts/evidence_rlef.py {a.argv}`)",
        "",
        "| model | " + " | ".join(metrics) + " |",
        "|---" * (len(metrics) + 1) + "|",
    ]
    for model in ("sft", "rlef", "grpo"):
        cells = [f"{table[f'{model}/{m}'][0]:.3f} ± {table[f'{model}/{m}'][1]:.3f}" for m in metrics]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", "Budgets per seed: " + json.dumps({s: r["budget"] for s, r in results.items()})]
    tmp = out / "results.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out / "results.md")
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps({"per_seed": results, "mean_std": table}, indent=2))
    tmp.replace(out / "results.json")
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.25
    for i, model in enumerate(("sft", "rlef", "grpo")):
        means = [table[f"{model}/{m}"][0] for m in metrics]
        stds = [table[f"{model}/{m}"][1] for m in metrics]
        ax.bar([x + i * width for x in range(len(metrics))], means, width, yerr=stds, label=model)
    ax.set_xticks([x + width for x in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_title(f"hidden-number task, {len(results)} seeds (mean ± std)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "evidence.png", dpi=120)
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, a few steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sft-steps", type=int, default=200)
    parser.add_argument("--rl-steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16, help="episodes per RL step (2 prompts x 8)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--test-problems", type=int, default=30)
    parser.add_argument("--eval-samples", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    parser.add_argument("--output", default="outputs/evidence_rlef")
    a = parser.parse_args(argv)
    a.argv = " ".join(argv if argv is not None else __import__("sys").argv[1:])
    if a.quick:
        a.seeds, a.sft_steps, a.rl_steps, a.test_problems = a.seeds[:1], 20, 2, 8
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    # Seeds are independent: --jobs runs them in parallel processes (each with its share of the CPU threads).
    with ProcessPoolExecutor(a.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_seed, seed, a, out): seed for seed in a.seeds}
        results = {}
        for future in tqdm(as_completed(futures), total=len(futures), desc="seeds"):
            results[futures[future]] = future.result()
    write(out, dict(sorted(results.items())), a)


if __name__ == "__main__":
    main()
