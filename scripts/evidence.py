"""Evidence that each trl-ext trainer does what its paper claims: one experiment per trainer against stock GRPO at an
equal budget of generated samples, each designed so that the paper's mechanism predicts a large effect.

    python scripts/evidence.py all                 # every experiment, seeds 0 1 2, two runs at a time
    python scripts/evidence.py passk spo           # some of them
    python scripts/evidence.py all --quick         # smoke run: tiny sizes, one seed, a few steps
    python scripts/evidence.py report              # tables and plots from the runs cached so far
    python scripts/evidence.py power all --max-seeds 14   # pilot (seeds 0 1 2) → OUTPUT/power.json: seeds needed
    python scripts/evidence.py all --seeds-from-power   # the full runs at those seeds

Runs are resumable: each (experiment, arm, seed) is one subprocess with one torch thread (`--jobs` at a time) that
writes `OUTPUT/runs/<experiment>/<arm>-seed<s>-<hash>.json` when it finishes (the hash: the experiment's definition
and its warm start's, whose folder `OUTPUT/warm/<family>-<hash>` is named by its SFT data and recipe); a run whose
file exists is not run again.
Writes `OUTPUT/results.json`, `OUTPUT/results.md` (per experiment: mean ± sd over seeds, each predicted effect ± its
standard error, and a verdict computed from them) and `OUTPUT/<experiment>.png` (a curve per arm, mean ± sd).

The tasks are synthetic, on a tiny character-level model (trl_ext.models) warm-started by TRL's SFTTrainer, chosen
so that each mechanism has something large to show (what each arm is predicted to do is in EXPERIMENTS):
- `codes`: "code KEY len N" → a secret code of N letters from "abcdef", a fixed random function of the prompt that
  the warm start has never seen (it only learnt the format: a random code, 1/6^N correct); "copy L" → the letter L
  (0.90 right); "guess KEY" → one letter, "a" for half the prompts and b–f for a tenth each (the warm start samples that
  mix). Guide's hint "starts WXYZ" gives the first four letters of a 5-letter code (the warm start learnt to follow
  such hints, partly: 1 in 25 right with it, 1 in 7776 without).
- `hidden`: RLEF's "hidden number" code task: print the hidden digit; only a failed public test's feedback
  ("Expected: 7") tells it. 40% of the warm start's post-feedback SFT answers copy the feedback's digit, meant as a
  partly feedback-resistant model for multi-turn training to improve; this model learns no copying at all (README).

`power` runs a pilot (`--seeds`, at the full budget) and writes `OUTPUT/power.json`: per comparison the pilot's sd
per arm, the plausible effect stated in EXPERIMENTS, and the seeds that put it beyond 2 standard errors;
`--seeds-from-power` then runs each experiment with the seeds chosen there (the pilot's runs are reused as its first
seeds: same definition, same budget).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import string
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from experiments import (
    cpu_args,
    effect,
    k_sample_metrics,
    mean_sd,
    sample_texts,
    sft_train,
    verdict,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]
LETTERS = "abcdef"
HINT_TEMPLATE = "{prompt}\nhint: {hint}"
GUESS_WEIGHTS = {"a": 0.5, **dict.fromkeys("bcdef", 0.1)}
HIDDEN = "Print the hidden number."
SECRET = "cabed"  # the SPO and Guide experiments' code: 1 in 6^5 = 7776 for the warm start


# ------------------------------------------------------------------------------------------------------ the tasks


def _key(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(4))


def code_row(rng: random.Random, length: int) -> dict:
    key, answer = _key(rng), "".join(rng.choice(LETTERS) for _ in range(length))
    return {
        "prompt": [{"role": "user", "content": f"code {key} len {length}"}],
        "answer": answer,
        "hint": f"starts {answer[:-1]}" if length >= 3 else None,
    }


def copy_row(rng: random.Random) -> dict:
    text = rng.choice(
        LETTERS
    )  # one letter: the warm start solves it (three were a third right: not "solved")
    return {"prompt": [{"role": "user", "content": f"copy {text}"}], "answer": text, "hint": None}


def guess_row(rng: random.Random) -> dict:
    answer = rng.choices(list(GUESS_WEIGHTS), weights=list(GUESS_WEIGHTS.values()))[0]
    return {"prompt": [{"role": "user", "content": f"guess {_key(rng)}"}], "answer": answer, "hint": None}


def codes_rows(kind: str, n: int, seed: int) -> list[dict]:
    """`n` rows of one prompt kind (`code1`, `code5`, `copy`, `guess`), reproducible from `seed`."""
    rng = random.Random(f"{kind}-{seed}")
    make = {
        "code1": lambda: code_row(rng, 1),
        "code5": lambda: code_row(rng, 5),
        "copy": lambda: copy_row(rng),
        "guess": lambda: guess_row(rng),
    }[kind]
    return [{**make(), "kind": kind} for _ in range(n)]


def exact_reward(prompts, completions, answer, **kwargs) -> list[float]:
    """1 when the completion's text is the row's answer, else 0."""
    return [float(c[-1]["content"].strip() == a) for c, a in zip(completions, answer)]


def text_answer(completions, **kwargs) -> list:
    """maj@k's canonical answer: the completion's stripped text (None when empty: it abstains)."""
    return [c[-1]["content"].strip() or None for c in completions]


def codes_sft_rows(n: int) -> list[dict]:
    """The warm start's data (seed 10_000: no RL or evaluation prompt): the answer formats, following a hint, copying,
    and the guess mix. Its code answers are random: it cannot know any experiment's secret codes."""
    pairs = []
    for kind, count in (("code5", n), ("code1", n // 3), ("copy", n), ("guess", n)):
        for r in codes_rows(kind, count, 10_000):
            pairs.append(
                {"prompt": r["prompt"], "completion": [{"role": "assistant", "content": r["answer"]}]}
            )
            if r["hint"]:
                hinted = [
                    {
                        "role": "user",
                        "content": HINT_TEMPLATE.format(prompt=r["prompt"][0]["content"], hint=r["hint"]),
                    }
                ]
                pairs.append(
                    {"prompt": hinted, "completion": [{"role": "assistant", "content": r["answer"]}]}
                )
    return pairs


def hidden_problems(n: int, seed: int) -> list[dict]:
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


def hidden_sft_rows(n: int, seed: int, copy_share: float) -> list[dict]:
    """The answer format after the problem and after a real feedback turn; after feedback the answer copies the
    expected digit with probability `copy_share`, else it is a random digit."""
    from trl_ext.episodes import EpisodeSettings, feedback_message, public_verdicts

    pairs = [(h, g) for h in range(10) for g in range(10) if h != g]
    rows = [{"task": "code", "public_tests": [{"input": "", "output": str(h)}]} for h, _ in pairs]
    verdicts = public_verdicts([f"print({g})" for _, g in pairs], rows)
    feedback = {pair: feedback_message(v, EpisodeSettings()) for pair, v in zip(pairs, verdicts)}
    rng, out = random.Random(seed), []
    for _ in range(n):
        messages, answer = [{"role": "user", "content": HIDDEN}], rng.randrange(10)
        if rng.random() < 0.5:
            h, g = rng.choice(pairs)
            messages += [
                {"role": "assistant", "content": f"print({g})"},
                {"role": "user", "content": feedback[h, g]},
            ]
            answer = h if rng.random() < copy_share else answer
        out.append({"prompt": messages, "completion": [{"role": "assistant", "content": f"print({answer})"}]})
    return out


# ------------------------------------------------------------------------------------------------ the experiments


@dataclass
class Comparison:
    arm: str
    baseline: str
    metric: str
    sign: int  # +1: the paper's mechanism predicts arm > baseline; -1: arm < baseline
    claim: str
    # the effect (metric units, signed as predicted) that the power estimate sizes the seeds for, and why it is
    # plausible, written before the pilot; None: no effect is plausible on this task (3 seeds, the minimum)
    plausible: float | None = None
    why: str = ""


@dataclass
class Experiment:
    family: str  # warm start: "codes" or "hidden"
    arms: dict  # arm → (trainer, config fields)
    budget: int  # generated policy samples per run (RLEF: answers)
    evals: int  # evaluations after the start (the last at the end)
    metrics: tuple
    curve: str  # the plotted metric
    comparisons: list
    lr: float = 1e-3
    prompts_per_step: int = 8
    description: str = ""
    extra: dict = field(default_factory=dict)


EXPERIMENTS = {
    "passk": Experiment(
        family="codes",
        arms={
            "grpo": ("grpo", {}),
            "passk": ("passk", {"objective": "pass@k", "k": 4}),
            "majk": ("passk", {"objective": "maj@k", "k": 4}),
        },
        budget=64 * 120,
        evals=6,
        metrics=("pass@1", "pass@4", "maj@4"),
        curve="pass@4",
        comparisons=[
            Comparison(
                "passk",
                "grpo",
                "pass@4",
                +1,
                "training for pass@4 keeps pass@4 where GRPO trades it",
                plausible=0.10,
                why="GRPO's optimum answers `a` everywhere (pass@4 = the share of `a`, ≈ 0.45); pass@4's keeps "
                "the warm start's spread (≈ 0.6): half of that gap",
            ),
            Comparison(
                "passk",
                "grpo",
                "pass@1",
                -1,
                "... at a cost in pass@1",
                plausible=0.10,
                why="the same trade seen from pass@1: GRPO ≈ 0.45, the warm start's spread ≈ 0.3",
            ),
            Comparison(
                "majk",
                "grpo",
                "maj@4",
                +1,
                "training for maj@4 raises maj@4 over GRPO",
                plausible=None,
                why="none on this task: every optimum of GRPO's pass@1 is also a maj@4 optimum (README), so the "
                "mechanism predicts a tie; the arm checks that maj@k training reaches it too",
            ),
        ],
        description="256 `guess` train prompts, 64 held-out ones × 8 samples. The answer is `a` for half the prompts, "
        "b–f for a tenth each, and nothing in the prompt tells which: pass@1's optimum always answers `a` (pass@1 = "
        "pass@4 = 0.5), pass@4's keeps the warm start's spread (pass@4 ≈ 0.64).",
    ),
    "spo": Experiment(
        family="codes",
        arms={
            "grpo": ("grpo", {}),
            "spo-offline": ("spo", {"off_policy_ratio": 0.5}),
            "spo-replay": ("spo", {"off_policy_ratio": 0.5, "replay_buffer_size": 512}),
        },
        budget=64 * 100,
        evals=5,
        metrics=("pass@1", "pass@8"),
        curve="pass@1",
        lr=3e-4,
        comparisons=[
            Comparison(
                "spo-offline",
                "grpo",
                "pass@1",
                +1,
                "half-online SPO learns from offline solutions the policy cannot produce",
                plausible=0.30,
                why="GRPO ≈ 0 (about 0.8 successes in the whole run); with the 3-letter code SPO reached 0.8 in 50 steps: "
                "a 5-letter one may take longer, so less than half of that",
            ),
            Comparison(
                "spo-offline",
                "spo-replay",
                "pass@1",
                +1,
                "... from the offline data, not from replaying its own (failed) samples",
                plausible=0.30,
                why="replayed samples all failed (reward 0), so replay has nothing to teach: as GRPO",
            ),
        ],
        description="64 `code KEY len 5` train prompts whose code is `cabed` for every key (the warm start samples it 1 "
        "time in 7776: GRPO's 512 samples a step hold a success every ~15 steps), their solutions as SPO's offline pairs "
        "(half of each batch, β 0.1, K 4); the replay arm replays its own earlier samples instead (buffer 512); "
        "evaluated on 64 held-out keys × 8.",
        extra={"spo_beta": 0.1, "value_samples": 4},
    ),
    "guide": Experiment(
        family="codes",
        arms={"grpo": ("grpo", {}), "guide": ("guide", {"hint_template": HINT_TEMPLATE})},
        budget=64 * 200,  # the pilot at 64 × 100: Guide took off after ~5,000 samples in 1 seed of 3
        evals=5,
        metrics=("pass@1", "pass@8"),
        curve="pass@1",
        lr=3e-4,
        comparisons=[
            Comparison(
                "guide",
                "grpo",
                "pass@1",
                +1,
                "Guide teaches the unhinted policy prompts it fails; GRPO cannot",
                plausible=0.30,
                why="GRPO ≈ 0; the hinted warm start succeeds 1 time in 6, so Guide gets ~10 successes a step, "
                "as many as taught the 3-letter code to 0.8; half of that after the importance shaping",
            )
        ],
        description="64 `code KEY len 5` train prompts whose code is `cabed` for every key, with the hint `starts cabe` "
        "(the warm start solves 1 in 7776 without it, about 1 in 25 with it: it follows the whole hint a quarter of the "
        "time, then the last letter is 1 in 6); evaluated without hints on 64 held-out "
        "keys × 8. Guide's hinted regenerations count as generated samples.",
    ),
    "cures": Experiment(
        family="codes",
        arms={"grpo": ("grpo", {}), "cures": ("cures", {})},
        budget=64 * 150,
        evals=10,
        metrics=("pass@1", "pass@1/code1"),
        curve="pass@1",
        lr=3e-4,
        comparisons=[
            Comparison(
                "cures",
                "grpo",
                "samples_to_target",
                -1,
                "CurES reaches GRPO's final pool accuracy with fewer generated samples",
                plausible=64 * 150 * 0.3,
                why="5/6 of GRPO's samples land on solved or hopeless prompts (zero gradient); CurES puts most on "
                "the borderline sixth, so even a third of that saving (30% of the budget) is plausible",
            ),
            Comparison(
                "cures",
                "grpo",
                "pass@1/code1",
                +1,
                "... because it learns the borderline prompts faster",
                plausible=0.15,
                why="the borderline prompts get several times GRPO's samples; GRPO's final pass@1 on them is the "
                "reference",
            ),
        ],
        description="A pool of 96 prompts: 40 `copy L` (the warm start: 0.90), 40 `code len 5` (hopeless: 1 in 7776), "
        "16 `code len 1` (borderline: 1 in 6 by chance, learnable); pool pass@1 over all of them × 8.",
    ),
    "rlef": Experiment(
        family="hidden",
        arms={"grpo": ("rlef", {"max_turns": 1}), "rlef": ("rlef", {"max_turns": 3})},
        budget=1600,
        evals=4,
        metrics=("multi_turn_1@3", "independent_1@3", "feedback_uptake"),
        curve="multi_turn_1@3",
        lr=3e-4,
        prompts_per_step=2,
        comparisons=[
            Comparison(
                "rlef",
                "grpo",
                "multi_turn_1@3",
                +1,
                "RLEF raises multi-turn 1@3 over single-turn GRPO",
                plausible=0.15,
                why="the warm start copies the feedback's digit in a minority of second answers; rewarding the "
                "episodes that do should push uptake toward 1, worth tens of points of 1@3 over a single-turn "
                "policy that never sees feedback",
            ),
            Comparison(
                "rlef",
                "grpo",
                "feedback_uptake",
                +1,
                "... and the feedback uptake",
                plausible=0.15,
                why="as above",
            ),
        ],
        description="The hidden-number task, 3-turn episodes vs single-turn (RLEFTrainer with max_turns 1: GRPO on "
        "the same ±1 reward) at equal generated answers; 60 held-out problems × 3 episodes.",
    ),
}


ALL = ["passk", "rlef", "spo", "guide", "cures"]  # the order `all` runs them in


@dataclass
class Settings:
    output: Path
    quick: bool
    seeds: list
    jobs: int
    chosen_seeds: dict | None = None  # experiment → its seeds, from OUTPUT/power.json (`--seeds-from-power`)

    def seeds_for(self, name: str) -> list:
        return self.chosen_seeds[name] if self.chosen_seeds and name in self.chosen_seeds else self.seeds

    def scale(self, exp: Experiment) -> Experiment:
        """The quick mode's sizes: a few steps, same shapes."""
        if not self.quick:
            return exp
        from dataclasses import replace

        step = exp.prompts_per_step * 8
        return replace(exp, budget=step * 3, evals=1)


# ------------------------------------------------------------------------------------------------- warm starts


@dataclass(frozen=True)
class WarmStart:
    """How a task family's warm start is made: SFT rows, steps and batch (the quick mode's are smaller)."""

    rows: int  # codes: rows per code5/copy/guess kind (a third as many code1); hidden: rows
    steps: int
    batch: int = 32
    copy_share: float = 0.0  # hidden: share of post-feedback answers that copy the feedback's digit


WARM_STARTS = {
    "codes": WarmStart(rows=1500, steps=600),  # copy: 500 rows and 500 steps left it at 0.81 (not "solved")
    # no copying is learnt by this model (README, RLEF): P(copy) stays at chance, 0.10, also with 100% copy rows
    "hidden": WarmStart(rows=3000, steps=600, copy_share=0.4),
}
QUICK_WARM_STARTS = {
    "codes": WarmStart(rows=60, steps=30, batch=16),
    "hidden": WarmStart(rows=60, steps=20, copy_share=0.4),
}


def warm_start(settings: Settings, family: str) -> WarmStart:
    return (QUICK_WARM_STARTS if settings.quick else WARM_STARTS)[family]


def warm_rows(settings: Settings, family: str) -> list[dict]:
    recipe = warm_start(settings, family)
    if family == "codes":
        return codes_sft_rows(recipe.rows)
    return hidden_sft_rows(recipe.rows, 0, recipe.copy_share)


def warm_start_dir(settings: Settings, family: str) -> Path:
    """The family's model, in a folder named by a hash of its SFT data and recipe: a changed one builds a new model."""
    import hashlib

    what = json.dumps([repr(warm_start(settings, family)), warm_rows(settings, family)], sort_keys=True)
    return settings.output / "warm" / f"{family}-{hashlib.sha1(what.encode()).hexdigest()[:8]}"


def build_warm_start(settings: Settings, family: str) -> None:
    """The tiny model of a task family, SFT on its warm-start data; saved (atomically) once."""
    from trl_ext.models import build_tiny_model

    final = warm_start_dir(settings, family)
    work = final.with_name(final.name + ".work")
    recipe, rows = warm_start(settings, family), warm_rows(settings, family)
    if family == "codes":
        corpus = [r["prompt"][-1]["content"] + r["completion"][0]["content"] for r in rows] + [
            string.ascii_lowercase
        ]
        base = build_tiny_model(work / "init", corpus, seed=0)
    else:
        corpus = [string.printable] + [m["content"] for r in rows[:50] for m in r["prompt"]]
        base = build_tiny_model(
            work / "init", corpus, hidden_size=64, num_hidden_layers=2, intermediate_size=128
        )
    sft_train(
        base,
        rows,
        work / "sft",
        work / "final",
        max_steps=recipe.steps,
        warmup_steps=min(20, recipe.steps // 4),
        batch_size=recipe.batch,
    )
    os.replace(work / "final", final)


# ------------------------------------------------------------------------------------------------ one run


def experiment_data(name: str, quick: bool) -> tuple[list[dict], list[dict]]:
    """(train rows, evaluation rows) of a codes-family experiment."""
    small = 8 if quick else 1
    if name == "passk":
        return codes_rows("guess", 256 // small, 1), codes_rows("guess", 64 // small, 2)
    if name in (
        "spo",
        "guide",
    ):  # one secret code for every key: data the warm start cannot produce (1 in 7776)
        secret = [
            {**r, "answer": SECRET, "hint": f"starts {SECRET[:-1]}"}
            for r in codes_rows("code5", 128 // small, 3)
        ]
        return secret[: 64 // small], secret[64 // small :]
    # CurES's pool: mostly solved (copy) or hopeless (code5), a minority of borderline prompts (code1)
    rows = (
        codes_rows("copy", 40 // small, 5)
        + codes_rows("code5", 40 // small, 5)
        + codes_rows("code1", 16 // small, 5)
    )
    return rows, rows


def trainer_for(
    kind: str, fields: dict, exp: Experiment, model: str, train, run_dir: Path, seed: int, steps: int
):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from trl_ext import (
        CurESConfig,
        CurESTrainer,
        GuideConfig,
        GuideTrainer,
        PassAtKConfig,
        PassAtKTrainer,
        SPOConfig,
        SPOTrainer,
    )

    group = 8
    args = dict(
        **cpu_args(run_dir, seed),
        per_device_train_batch_size=exp.prompts_per_step * group,
        num_generations=group,
        max_completion_length=8,
        temperature=1.0,
        learning_rate=exp.lr,
        lr_scheduler_type="constant",
        beta=0.0,
        max_steps=steps,
        logging_steps=1,
    )
    data = Dataset.from_list(train)
    if kind == "grpo":
        return GRPOTrainer(
            model=model, reward_funcs=exact_reward, args=GRPOConfig(**args), train_dataset=data
        )
    if kind == "passk":
        config = PassAtKConfig(**args, **fields, answer_fn="evidence:text_answer")
        return PassAtKTrainer(model=model, reward_funcs=exact_reward, args=config, train_dataset=data)
    if kind == "guide":
        return GuideTrainer(
            model=model, reward_funcs=exact_reward, args=GuideConfig(**args, **fields), train_dataset=data
        )
    if kind == "cures":
        return CurESTrainer(
            model=model, reward_funcs=exact_reward, args=CurESConfig(**args, **fields), train_dataset=data
        )
    offline = None
    if "replay_buffer_size" not in fields:
        offline = data.map(lambda r: {"completion": [{"role": "assistant", "content": r["answer"]}]})
    config = SPOConfig(**args, **exp.extra, **fields)
    return SPOTrainer(model, exact_reward, config, data, offline_dataset=offline)


def counting(trainer):
    """Count every generated policy sample (Guide's hinted regenerations included) and SPO's π_ref samples."""
    trainer.generated, trainer.reference_samples = 0, 0
    generate = trainer._generate_single_turn

    def counted(prompt_ids, *rest, **kwargs):
        trainer.generated += len(prompt_ids)
        return generate(prompt_ids, *rest, **kwargs)

    trainer._generate_single_turn = counted
    if hasattr(trainer, "_sample_reference"):
        sample_reference = trainer._sample_reference

        def counted_reference(prompt_ids):
            trainer.reference_samples += len(prompt_ids)
            return sample_reference(prompt_ids)

        trainer._sample_reference = counted_reference
    return trainer


def run_codes(name: str, arm: str, seed: int, settings: Settings, progress: Path) -> dict:
    from transformers import AutoTokenizer, TrainerCallback

    exp = settings.scale(EXPERIMENTS[name])
    kind, fields = exp.arms[arm]
    train, evaluation = experiment_data(name, settings.quick)
    model = str(warm_start_dir(settings, exp.family))
    tokenizer = AutoTokenizer.from_pretrained(model)
    samples = 8
    per_step = exp.prompts_per_step * 8
    eval_at = [round(exp.budget * (i + 1) / exp.evals) for i in range(exp.evals)]
    curve = []

    def evaluate(model_, generated: int) -> None:
        texts = sample_texts(
            model_,
            tokenizer,
            [r["prompt"] for r in evaluation],
            samples,
            seed=10_000 + seed,
            max_new_tokens=8,
        )
        point = {
            "samples": generated,
            **k_sample_metrics(texts, [r["answer"] for r in evaluation], (1, 4, 8)),
        }
        if name == "cures":  # pass@1 per kind of prompt: solved (copy), borderline (code1), hopeless (code5)
            for kind_name in ("copy", "code1", "code5"):
                idx = [i for i, r in enumerate(evaluation) if r["kind"] == kind_name]
                point[f"pass@1/{kind_name}"] = k_sample_metrics(
                    [texts[i] for i in idx], [evaluation[i]["answer"] for i in idx], (1,)
                )["pass@1"]
        curve.append(point)

    class Budget(TrainerCallback):
        """Evaluates at the start and at each evaluation point of the sample budget; stops at the budget."""

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            evaluate(model, 0)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            done = trainer.generated
            if eval_at and done >= eval_at[0]:
                while eval_at and done >= eval_at[0]:
                    eval_at.pop(0)
                evaluate(model, done)
                control.should_training_stop = not eval_at
            progress.write_text(f"{min(done, exp.budget)}/{exp.budget} samples")
            return control

    trainer = trainer_for(
        kind,
        fields,
        exp,
        model,
        train,
        settings.output / "work" / name / f"{arm}-{seed}",
        seed,
        steps=10 * exp.budget // per_step,
    )
    counting(trainer)
    trainer.add_callback(Budget())
    start = time.monotonic()
    trainer.train()
    logs = [e for e in trainer.state.log_history if "reward" in e]
    record = {
        "experiment": name,
        "arm": arm,
        "seed": seed,
        "curve": curve,
        "final": curve[-1],
        "steps": trainer.state.global_step,
        "generated": trainer.generated,
        "reference_samples": trainer.reference_samples,
        "minutes": round((time.monotonic() - start) / 60, 2),
        "train_reward": [e["reward"] for e in logs],
    }
    for key in (
        "guide/guided_group_share",
        "guide/guided_success_rate",
        "curriculum/zero_variance_groups",
        "frac_reward_zero_std",
        "spo/calibration_gap",
    ):
        values = [e[key] for e in trainer.state.log_history if key in e]
        if values:
            record[key] = sum(values) / len(values)
    return record


def run_rlef(arm: str, seed: int, settings: Settings, progress: Path) -> dict:
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

    from trl_ext import RLEFConfig, RLEFTrainer

    exp = settings.scale(EXPERIMENTS["rlef"])
    _, fields = exp.arms[arm]
    model = str(warm_start_dir(settings, "hidden"))
    tokenizer = AutoTokenizer.from_pretrained(model)
    test = hidden_problems(8 if settings.quick else 60, 2000)
    batch = exp.prompts_per_step * 8
    eval_at = [round(exp.budget * (i + 1) / exp.evals) for i in range(exp.evals)]
    curve, answers = [], [0]

    def evaluate(model_) -> None:
        curve.append({"samples": answers[0], **evaluate_hidden(model_, tokenizer, test, seed)})

    class Budget(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            evaluate(model)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "rlef/mean_turns" in logs:
                answers[0] += round(logs["rlef/mean_turns"] * batch)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            # logs of this step arrive after on_step_end: count them at the next step (one step late at most)
            if eval_at and answers[0] >= eval_at[0]:
                eval_at.pop(0)
                evaluate(model)
                control.should_training_stop = not eval_at
            progress.write_text(f"{answers[0]}/{exp.budget} answers")
            return control

    config = RLEFConfig(
        **cpu_args(settings.output / "work" / "rlef" / f"{arm}-{seed}", seed),
        **fields,
        learning_rate=exp.lr,
        lr_scheduler_type="constant",
        per_device_train_batch_size=batch,
        num_generations=8,
        max_completion_length=320,
        temperature=1.0,
        beta=0.0,
        max_steps=10 * exp.budget // batch,
        logging_steps=1,
    )
    trainer = RLEFTrainer(
        model=model, args=config, train_dataset=Dataset.from_list(hidden_problems(512, seed + 1000))
    )
    trainer.add_callback(Budget())
    start = time.monotonic()
    trainer.train()
    return {
        "experiment": "rlef",
        "arm": arm,
        "seed": seed,
        "curve": curve,
        "final": curve[-1],
        "steps": trainer.state.global_step,
        "generated": answers[0],
        "minutes": round((time.monotonic() - start) / 60, 2),
    }


def evaluate_hidden(model, tokenizer, rows: list[dict], seed: int) -> dict:
    """Multi-turn 1@3 (episodes of up to 3 turns) and independent 1@3 (3 single-turn samples), with uptake."""
    import torch

    from trl_ext.episodes import EpisodeSettings, FeedbackTokenizer
    from trl_ext.eval.harness import GenerationSettings
    from trl_ext.eval.multiturn import evaluate_episodes, transformers_generator

    was_training, rng = model.training, torch.get_rng_state()
    model.eval()
    torch.manual_seed(10_000 + seed)
    io = dict(
        generate=transformers_generator(model, tokenizer, GenerationSettings(max_new_tokens=16), chunk=256),
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        prompt_ids=lambda m: list(
            tokenizer.apply_chat_template(m, add_generation_prompt=True, return_dict=False)
        ),
        feedback_ids=FeedbackTokenizer(tokenizer),
        eos_token_ids=[tokenizer.eos_token_id],
    )
    multi, _ = evaluate_episodes(rows, 3, EpisodeSettings(max_turns=3, max_completion_length=512), [1], **io)
    single, _ = evaluate_episodes(rows, 3, EpisodeSettings(max_turns=1), [3], **io)
    model.train(was_training)
    torch.set_rng_state(rng)
    return {
        "multi_turn_1@3": multi["1@3"],
        "independent_1@3": single["1@3"],
        "solve@turn1": multi["solve@turn1"],
        "feedback_uptake": multi.get("feedback_uptake", 0.0),
    }


def run_job(name: str, arm: str, seed: int, settings: Settings) -> None:
    """One run in this process (one thread), its record written atomically."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = run_path(settings, name, arm, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    progress = path.with_suffix(".progress")
    if name == "rlef":
        record = run_rlef(arm, seed, settings, progress)
    else:
        record = run_codes(name, arm, seed, settings, progress)
    write_json(path, record)
    progress.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------- scheduling the runs


def spec_hash(settings: Settings, name: str) -> str:
    """A short hash of what an experiment's runs do (its definition without the report's text, and the quick mode): a
    cached run of another definition is not reused."""
    import hashlib
    from dataclasses import replace

    what_runs = replace(
        settings.scale(EXPERIMENTS[name]), description="", comparisons=[]
    )  # not the report's text
    warm = warm_start_dir(settings, what_runs.family).name
    return hashlib.sha1(repr((what_runs, settings.quick, warm)).encode()).hexdigest()[:8]


def run_path(settings: Settings, name: str, arm: str, seed: int) -> Path:
    return settings.output / "runs" / name / f"{arm}-seed{seed}-{spec_hash(settings, name)}.json"


@dataclass
class Task:
    """One subprocess: `done` exists once it succeeded; its output goes to `log`, its progress to `progress`."""

    label: str
    argv: list
    done: Path
    log: Path
    progress: Path


def run_parallel(tasks: list[Task], settings: Settings, desc: str) -> list[str]:
    """Run the tasks' subprocesses, `settings.jobs` at a time (one torch thread each), with a progress bar showing
    the running ones; a task whose done-file exists is skipped. Returns the labels that failed (their log says why)."""
    from tqdm import tqdm

    todo = [t for t in tasks if not t.done.exists()]
    failed, running = [], {}
    if settings.jobs == 0:  # in this process, one after the other (the tests: no interpreter start per run)
        for task in todo:
            try:
                main(task.argv[2:])
            except Exception:  # reported, and the other runs still run, as with subprocesses
                failed.append(task.label)
                print(f"FAILED {task.label}:\n{traceback.format_exc()}", file=sys.stderr)
        return failed
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "scripts")]),
    }
    with tqdm(
        total=len(tasks),
        initial=len(tasks) - len(todo),
        desc=desc,
        unit="run",
        dynamic_ncols=True,
        mininterval=5,
    ) as bar:
        while todo or running:
            while todo and len(running) < settings.jobs:
                task = todo.pop(0)
                if task.done.exists():  # finished meanwhile by another command on the same output
                    bar.update(1)
                    continue
                task.log.parent.mkdir(parents=True, exist_ok=True)
                handle = task.log.open("w")
                process = subprocess.Popen(task.argv, stdout=handle, stderr=subprocess.STDOUT, env=env)
                running[task.label] = (process, handle, task)
            time.sleep(1.0)
            for label, (process, handle, task) in list(running.items()):
                if process.poll() is None:
                    continue
                handle.close()
                del running[label]
                if process.returncode != 0 or not task.done.exists():
                    failed.append(label)
                    tqdm.write(f"FAILED {label}: see {task.log}")
                bar.update(1)
            states = [
                f"{label} {task.progress.read_text() if task.progress.exists() else '...'}"
                for label, (_, _, task) in running.items()
            ]
            bar.set_postfix_str("; ".join(states), refresh=False)
            bar.update(0)
    return failed


def run_experiments(names: list[str], settings: Settings) -> list[str]:
    script = [sys.executable, str(Path(__file__).resolve())]
    common = ["--output", str(settings.output)] + (["--quick"] if settings.quick else [])
    families = sorted({EXPERIMENTS[n].family for n in names})
    warm = []
    for f in families:
        folder = warm_start_dir(settings, f)
        log = folder.with_name(folder.name + ".log")
        progress = folder.with_name(folder.name + ".progress")  # none: SFT shows no progress of its own here
        warm.append(
            Task(f"warm start {f}", [*script, "_warm", f, *common], folder / "config.json", log, progress)
        )
    failed = run_parallel(warm, settings, "warm starts")
    if failed:
        return failed
    runs = []  # experiment by experiment: an interrupted command leaves whole experiments, not one seed of each
    for n in names:
        for seed in settings.seeds_for(n):
            for arm in EXPERIMENTS[n].arms:
                done = run_path(settings, n, arm, seed)
                argv = [*script, "_run", n, arm, str(seed), *common]
                runs.append(
                    Task(
                        f"{n}/{arm}/{seed}",
                        argv,
                        done,
                        done.with_suffix(".log"),
                        done.with_suffix(".progress"),
                    )
                )
    return run_parallel(runs, settings, "runs")


# ------------------------------------------------------------------------------------------------------ report


def load_runs(settings: Settings, name: str) -> dict:
    """arm → the finished runs' records of the experiment's seeds (sorted by seed)."""
    out = {}
    for arm in EXPERIMENTS[name].arms:
        records = []
        for seed in settings.seeds_for(name):
            path = run_path(settings, name, arm, seed)
            if path.exists():
                records.append(json.loads(path.read_text()))
        if records:
            out[arm] = sorted(records, key=lambda r: r["seed"])
    return out


def samples_to_target(curve: list[dict], metric: str, target: float) -> float | None:
    """Generated samples at which the trained policy first reaches `target` (the evaluations after the warm start's,
    linear interpolation from the previous one when that was below); None if never."""
    for i in range(1, len(curve)):
        if curve[i][metric] >= target:
            before, after = curve[i - 1], curve[i]
            if i == 1 or before[metric] >= target:
                return float(after["samples"])
            t = (target - before[metric]) / (after[metric] - before[metric])
            return before["samples"] + t * (after["samples"] - before["samples"])
    return None


def summarise(name: str, runs: dict, settings: Settings) -> dict:
    exp = settings.scale(EXPERIMENTS[name])
    summary = {"description": exp.description, "budget": exp.budget, "arms": {}, "comparisons": []}
    values = {arm: {m: [r["final"][m] for r in rs] for m in exp.metrics} for arm, rs in runs.items()}
    if name == "cures" and "grpo" in runs:
        target = mean_sd(values["grpo"]["pass@1"])[0]
        summary["target_pass@1"] = target
        for arm, rs in runs.items():
            reached = [samples_to_target(r["curve"], "pass@1", target) for r in rs]
            # a run that never reached the target counts as the whole budget (censored: flagged in the table)
            values[arm]["samples_to_target"] = [exp.budget if s is None else s for s in reached]
            summary.setdefault("not_reached", {})[arm] = sum(s is None for s in reached)
    for arm, metrics in values.items():
        rs = runs[arm]
        summary["arms"][arm] = {
            "seeds": [r["seed"] for r in rs],
            **{m: dict(zip(("mean", "sd"), mean_sd(v)), values=v) for m, v in metrics.items()},
            "generated": mean_sd([r["generated"] for r in rs])[0],
            "steps": mean_sd([r["steps"] for r in rs])[0],
            "minutes": mean_sd([r["minutes"] for r in rs])[0],
        }
        for key in (
            "reference_samples",
            "guide/guided_success_rate",
            "guide/guided_group_share",
            "frac_reward_zero_std",
        ):
            if key in rs[0]:
                summary["arms"][arm][key] = mean_sd([r.get(key) or 0.0 for r in rs])[0]
    starts = [
        r["curve"][0] for rs in runs.values() for r in rs
    ]  # step 0: the warm start (per-seed eval sampling)
    summary["warm_start"] = {m: mean_sd([p[m] for p in starts])[0] for m in exp.metrics if m in starts[0]}
    for c in exp.comparisons:
        if c.arm in values and c.baseline in values and len(values[c.arm][c.metric]) > 1:
            delta, se = effect(values[c.arm][c.metric], values[c.baseline][c.metric])
            summary["comparisons"].append(
                {
                    "arm": c.arm,
                    "baseline": c.baseline,
                    "metric": c.metric,
                    "claim": c.claim,
                    "predicted_sign": c.sign,
                    "effect": delta,
                    "se": se,
                    "verdict": verdict(delta, se, c.sign),
                    "seeds": min(len(values[c.arm][c.metric]), len(values[c.baseline][c.metric])),
                }
            )
    return summary


def markdown(name: str, summary: dict) -> str:
    exp = EXPERIMENTS[name]
    metrics = list(exp.metrics) + (["samples_to_target"] if "target_pass@1" in summary else [])
    lines = [
        f"#### {name}: {summary['description']}",
        "",
        f"Budget: {summary['budget']} generated {'answers' if name == 'rlef' else 'samples'} per run. "
        + "Warm start (step 0, mean over runs): "
        + ", ".join(f"{m} {v:.3f}" for m, v in summary["warm_start"].items())
        + ".",
        "",
        "| arm | seeds | " + " | ".join(metrics) + " | generated | steps |",
        "|---|---|" + "---:|" * (len(metrics) + 2),
    ]
    for arm, row in summary["arms"].items():
        cells = []
        for m in metrics:
            fmt = "{:.0f} ± {:.0f}" if m == "samples_to_target" else "{:.3f} ± {:.3f}"
            cells.append(fmt.format(row[m]["mean"], row[m]["sd"]))
        lines.append(
            f"| {arm} | {len(row['seeds'])} | "
            + " | ".join(cells)
            + f" | {row['generated']:.0f} | {row['steps']:.0f} |"
        )
    if "target_pass@1" in summary:
        lines += [
            "",
            f"Target: GRPO's final mean pool pass@1, {summary['target_pass@1']:.3f}; runs that never "
            f"reached it (counted as the whole budget): {summary['not_reached']}.",
        ]
    lines += [
        "",
        "| prediction | comparison | metric | seeds | effect ± SE | detectable (2 SE) | verdict |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for c in summary["comparisons"]:
        scale = 1 if c["metric"] == "samples_to_target" else 100
        unit = "" if scale == 1 else " pts"
        lines.append(
            f"| {c['claim']} | {c['arm']} − {c['baseline']} | {c['metric']} | {c['seeds']} | "
            f"{scale * c['effect']:+.1f} ± {scale * c['se']:.1f}{unit} | {2 * scale * c['se']:.1f}{unit} | "
            f"{c['verdict']} |"
        )
    return "\n".join(lines) + "\n"


def plot(name: str, runs: dict, summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    exp = EXPERIMENTS[name]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm, rs in runs.items():
        length = min(len(r["curve"]) for r in rs)
        x = np.mean([[p["samples"] for p in r["curve"][:length]] for r in rs], axis=0)
        y = np.array([[p[exp.curve] for p in r["curve"][:length]] for r in rs])
        (line,) = ax.plot(x, y.mean(0), marker="o", label=f"{arm} ({len(rs)} seeds)")
        ax.fill_between(
            x,
            y.mean(0) - y.std(0, ddof=1 if len(rs) > 1 else 0),
            y.mean(0) + y.std(0, ddof=1 if len(rs) > 1 else 0),
            color=line.get_color(),
            alpha=0.2,
        )
    if "target_pass@1" in summary:
        ax.axhline(summary["target_pass@1"], color="gray", linestyle="--", label="target: GRPO's final mean")
    ax.set_xlabel("generated answers" if name == "rlef" else "generated samples")
    ax.set_ylabel(exp.curve)
    ax.set_title(f"{name}: {exp.curve} (mean ± sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(names: list[str], settings: Settings) -> dict:
    results, sections = {}, []
    for name in names:
        runs = load_runs(settings, name)
        if not runs:
            continue
        summary = summarise(name, runs, settings)
        results[name] = summary
        sections.append(markdown(name, summary))
        plot(name, runs, summary, settings.output / f"{name}.png")
    write_json(
        settings.output / "results.json",
        {
            "seeds": {n: settings.seeds_for(n) for n in results},
            "quick": settings.quick,
            "experiments": results,
        },
    )
    (settings.output / "results.md").write_text("\n".join(sections))
    print("\n".join(sections))
    return results


# ------------------------------------------------------------------------------------------------------- power


def seeds_needed(sd_arm: float, sd_base: float, plausible: float | None, minimum: int = 3) -> int:
    """Seeds per arm (equal in both) for which `plausible` exceeds 2 standard errors of the difference of means,
    SE = sqrt(sd_arm²/n + sd_base²/n); at least `minimum` (also when no effect is plausible or nothing varies)."""
    if plausible is None or plausible <= 0:
        return minimum
    return max(minimum, math.ceil(4 * (sd_arm**2 + sd_base**2) / plausible**2 - 1e-9))


def power_estimate(names: list[str], settings: Settings, max_seeds: int) -> dict:
    """From the pilot's runs (`settings.seeds`): per comparison the pilot sd of each arm, the plausible effect, the
    seeds it needs; per experiment the seeds chosen (the largest need, at most `max_seeds`) and the CPU minutes the
    full runs will take from the pilot's mean run time."""
    estimate = {"pilot_seeds": settings.seeds, "max_seeds": max_seeds, "experiments": {}}
    for name in names:
        runs = load_runs(settings, name)
        if not runs:
            continue
        exp = settings.scale(EXPERIMENTS[name])
        summary = summarise(name, runs, settings)
        rows = []
        for c in exp.comparisons:
            arm, base = summary["arms"].get(c.arm), summary["arms"].get(c.baseline)
            if not arm or not base or c.metric not in arm:
                continue
            sd_a, sd_b = arm[c.metric]["sd"], base[c.metric]["sd"]
            rows.append(
                {
                    "arm": c.arm,
                    "baseline": c.baseline,
                    "metric": c.metric,
                    "pilot_sd_arm": sd_a,
                    "pilot_sd_baseline": sd_b,
                    "pilot_effect": arm[c.metric]["mean"] - base[c.metric]["mean"],
                    "plausible_effect": c.plausible,
                    "why_plausible": c.why,
                    "seeds_needed": seeds_needed(sd_a, sd_b, c.plausible),
                }
            )
        needed = max((r["seeds_needed"] for r in rows), default=3)
        chosen = min(needed, max_seeds)
        minutes = {a: row["minutes"] for a, row in summary["arms"].items()}
        estimate["experiments"][name] = {
            "budget": exp.budget,
            "pilot_seeds": len(settings.seeds),
            "comparisons": rows,
            "seeds_needed": needed,
            "seeds": chosen,
            "capped": chosen < needed,
            "minutes_per_run": minutes,
            "cpu_minutes_full": round(sum(minutes.values()) * chosen, 1),
            "cpu_minutes_to_add": round(sum(minutes.values()) * max(0, chosen - len(settings.seeds)), 1),
        }
    return estimate


def power_markdown(estimate: dict) -> str:
    lines = [
        f"Pilot: seeds {estimate['pilot_seeds']} at the full budget; seeds chosen = the most any comparison needs "
        f"(at least 3, at most {estimate['max_seeds']}).",
        "",
        "| experiment | budget | comparison | metric | pilot sd (arm / baseline) | plausible effect | seeds needed "
        "| seeds chosen | CPU min (full) |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, e in estimate["experiments"].items():
        for r in e["comparisons"]:
            scale, unit = (1, "") if r["metric"] == "samples_to_target" else (100, " pts")
            plausible = (
                "none" if r["plausible_effect"] is None else f"{scale * r['plausible_effect']:.0f}{unit}"
            )
            lines.append(
                f"| {name} | {e['budget']} | {r['arm']} − {r['baseline']} | {r['metric']} | "
                f"{scale * r['pilot_sd_arm']:.1f} / {scale * r['pilot_sd_baseline']:.1f}{unit} | {plausible} | "
                f"{r['seeds_needed']} | {e['seeds']}{' (capped)' if e['capped'] else ''} | {e['cpu_minutes_full']} |"
            )
    lines += ["", "Why each effect is plausible (written before the pilot, in `EXPERIMENTS`):", ""]
    for name, e in estimate["experiments"].items():
        for r in e["comparisons"]:
            lines.append(f"- {name}, {r['arm']} − {r['baseline']}, {r['metric']}: {r['why_plausible']}.")
    return "\n".join(lines) + "\n"


def read_chosen_seeds(output: Path) -> dict:
    """experiment → seeds 0 … n−1 with n the seeds chosen in OUTPUT/power.json."""
    path = output / "power.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run `python scripts/evidence.py power ...` first")
    estimate = json.loads(path.read_text())
    return {name: list(range(e["seeds"])) for name, e in estimate["experiments"].items()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "what",
        nargs="+",
        help=f"experiments ({', '.join(EXPERIMENTS)}) or `all`, optionally after `power` (the pilot), or `report`",
    )
    p.add_argument(
        "--seeds", type=int, nargs="+", help="default 0 1 2 (0 with --quick); with `power`: the pilot's"
    )
    p.add_argument(
        "--seeds-from-power",
        action="store_true",
        help="each experiment's seeds as OUTPUT/power.json chose them",
    )
    p.add_argument(
        "--max-seeds", type=int, default=10, help="`power`: at most this many seeds per experiment"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="runs at a time, one thread each (0: one after the other, in this process)",
    )
    p.add_argument(
        "--output", type=Path, help="default outputs/evidence (outputs/evidence-quick with --quick)"
    )
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, seed 0, a few steps")
    args = p.parse_args(argv)
    output = args.output or Path("outputs/evidence-quick" if args.quick else "outputs/evidence")
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    settings = Settings(output=output, quick=args.quick, seeds=seeds, jobs=args.jobs)
    if args.what[0] in ("_warm", "_run"):  # a subprocess of run_parallel
        import torch

        torch.set_num_threads(1)  # the model is tiny: more threads only add synchronisation on a shared CPU
        if args.what[0] == "_warm":
            build_warm_start(settings, args.what[1])
        else:
            run_job(args.what[1], args.what[2], int(args.what[3]), settings)
        return 0
    pilot = args.what[0] == "power"
    what = args.what[1:] if pilot else args.what
    names = ALL if what in (["all"], ["report"], []) else what
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        p.error(f"unknown experiment(s) {unknown}; choose from {', '.join(EXPERIMENTS)}, all, report")
    if args.seeds_from_power:
        settings.chosen_seeds = read_chosen_seeds(output)
    failed = [] if what == ["report"] else run_experiments(names, settings)
    if pilot:
        estimate = power_estimate(names, settings, args.max_seeds)
        if (output / "power.json").exists():  # a pilot of some experiments keeps the others' estimates
            earlier = json.loads((output / "power.json").read_text())
            estimate["experiments"] = {**earlier["experiments"], **estimate["experiments"]}
        write_json(output / "power.json", estimate)
        (output / "power.md").write_text(power_markdown(estimate))
        print(power_markdown(estimate))
    else:
        report(names, settings)
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}; rerun the same command to retry them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
