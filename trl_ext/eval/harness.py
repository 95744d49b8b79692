"""The evaluation harness behind `trl-ext evaluate`, the leaderboard backend and the demo.

Samples N completions per problem (transformers; vLLM when it is installed and a GPU is present), scores
them with `trl_ext.rewards.task_reward` in the sandbox, and reports pass@k and maj@k for every k (and 1@k —
one submission chosen by the public tests out of k samples — where the problems have public tests), as a
results JSON of the format in DESIGN.md.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from trl_ext import hub
from trl_ext.eval.metrics import mean_maj_at_k, mean_n_at_k, mean_pass_at_k
from trl_ext.rewards import VERIFIERS, task_answers, task_reward
from trl_ext.rewards.common import as_list

HARNESS_VERSION = "trl-ext-eval-1"
PRECISIONS = ("float32", "bfloat16", "float16", "4bit")


@dataclass
class GenerationSettings:
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 8
    seed: int = 0


@dataclass
class EvalRequest:
    model: str
    dataset: str
    dataset_config: str | None = None
    split: str = "test"
    samples: int = 8
    ks: list[int] = field(default_factory=lambda: [1])
    revision: str | None = None
    precision: str = "float32"
    limit: int | None = None  # evaluate only the first `limit` problems
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    turns: int = 1  # > 1: multi-turn episodes with public-test feedback (trl_ext.eval.multiturn)

    def validate(self) -> None:
        if self.samples < 1:
            raise ValueError(f"--samples must be at least 1, got {self.samples}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"every k must be at least 1, got {self.ks}")
        if max(self.ks) > self.samples:
            raise ValueError(
                f"k={max(self.ks)} exceeds --samples {self.samples}: pass@k needs at least k samples per problem"
            )
        if self.turns < 1:
            raise ValueError(f"--turns must be at least 1, got {self.turns}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def dataset_label(target: str) -> str:
    return Path(hub.local_path(target)).name if hub.is_local(target) else target


def check_model(model: str, revision: str | None = None) -> None:
    """Raise HubError naming the problem when `model` is neither a local model folder nor a Hub model."""
    if hub.is_local(model):
        path = hub.local_path(model)
        if not (path / "config.json").is_file():
            raise hub.HubError(f"model {model!r} does not exist (no config.json in {path})")
        return
    hub.check_repo_id(model)
    if not hub.exists(model, repo_type="model"):
        raise hub.HubError(f"model {model!r} does not exist on the Hub (or is private)")


def load_problems(request: EvalRequest):
    try:
        problems = hub.load_dataset(request.dataset, request.dataset_config, split=request.split)
    except (ValueError, KeyError) as err:
        raise ValueError(f"cannot load split {request.split!r} of {request.dataset}: {err}") from err
    if "task" not in problems.column_names or "prompt" not in problems.column_names:
        raise ValueError(
            f"dataset {request.dataset} has no `task`/`prompt` columns: it is not a trl-ext benchmark"
        )
    unknown = sorted(set(problems["task"]) - set(VERIFIERS))
    if unknown:
        raise ValueError(
            f"dataset {request.dataset} has rows of unknown task {unknown[0]!r}; known tasks: {', '.join(VERIFIERS)}"
        )
    if request.limit:
        problems = problems.select(range(min(request.limit, len(problems))))
    return problems


def _load_model(request: EvalRequest):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    kwargs = {"revision": request.revision}
    if request.precision == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16
        )
    else:
        kwargs["dtype"] = getattr(torch, request.precision)
    tokenizer = AutoTokenizer.from_pretrained(request.model, revision=request.revision)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(request.model, **kwargs)
    if torch.cuda.is_available() and request.precision != "4bit":
        model = model.to("cuda")
    return model.eval(), tokenizer


def _vllm_available() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def _generate_vllm(request: EvalRequest, prompts: list) -> tuple[list[list[str]], int | None]:
    from vllm import LLM, SamplingParams

    g = request.generation
    llm = LLM(
        model=request.model,
        revision=request.revision,
        seed=g.seed,
        quantization="bitsandbytes" if request.precision == "4bit" else None,
    )
    params = SamplingParams(
        n=request.samples, temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_new_tokens, seed=g.seed
    )
    outputs = llm.chat(prompts, params, use_tqdm=True)
    return [[c.text for c in out.outputs] for out in outputs], None


def _generate_transformers(request: EvalRequest, prompts: list) -> tuple[list[list[str]], int]:
    import torch

    model, tokenizer = _load_model(request)
    g = request.generation
    torch.manual_seed(g.seed)
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    out: list[list[str]] = []
    with tqdm(total=len(texts), desc=f"sampling {request.samples}x", unit="problem") as bar:
        for start in range(0, len(texts), g.batch_size):
            batch = tokenizer(
                texts[start : start + g.batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            )
            batch = batch.to(model.device)
            with torch.no_grad():
                generated = model.generate(
                    **batch,
                    do_sample=True,
                    temperature=g.temperature,
                    top_p=g.top_p,
                    max_new_tokens=g.max_new_tokens,
                    num_return_sequences=request.samples,
                    pad_token_id=tokenizer.pad_token_id,
                )
            completions = tokenizer.batch_decode(
                generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
            out += [completions[i : i + request.samples] for i in range(0, len(completions), request.samples)]
            bar.update(len(batch["input_ids"]))
    return out, model.num_parameters()


def sample(request: EvalRequest, prompts: list) -> tuple[list[list[str]], int | None]:
    """N completions per prompt (conversational prompts), and the model's parameter count when known."""
    return _generate_vllm(request, prompts) if _vllm_available() else _generate_transformers(request, prompts)


def score(problems, completions: list[list[str]], ks: list[int]) -> tuple[dict, dict]:
    """Metrics for completions (problems × N) of `problems`; also returns per-problem details."""
    rows = problems.to_list()
    n = len(completions[0])
    flat_rows = [r for r in rows for _ in range(n)]
    flat = [[{"role": "assistant", "content": c}] for cs in completions for c in cs]
    columns = {key: [r.get(key) for r in flat_rows] for key in flat_rows[0]}
    rewards = task_reward(prompts=[r["prompt"] for r in flat_rows], completions=flat, **columns)
    answers = task_answers(flat, **columns)
    correct = [[rewards[i * n + j] > 0.5 for j in range(n)] for i in range(len(rows))]
    grouped_answers = [answers[i * n : (i + 1) * n] for i in range(len(rows))]
    metrics = {}
    for k in ks:
        metrics[f"pass@{k}"] = mean_pass_at_k(correct, k)
    for k in ks:
        metrics[f"maj@{k}"] = mean_maj_at_k(grouped_answers, correct, k)
    with_public = [
        i for i, r in enumerate(rows) if r.get("task") == "code" and as_list(r.get("public_tests"))
    ]
    if with_public:
        from trl_ext.rewards.code import public_pass

        sub_rows = [rows[i] for i in with_public]
        public = public_pass(
            [c for i in with_public for c in completions[i]], [r for r in sub_rows for _ in range(n)]
        )
        public = [public[j * n : (j + 1) * n] for j in range(len(with_public))]
        for k in ks:
            metrics[f"1@{k}"] = mean_n_at_k(public, [correct[i] for i in with_public], 1, k)
    details = {
        "correct": correct,
        "answers": [[repr(a) if a is not None else None for a in g] for g in grouped_answers],
    }
    return metrics, details


def evaluate(request: EvalRequest) -> dict:
    """Run the whole evaluation and return the results dict (DESIGN.md format)."""
    request.validate()
    check_model(request.model, request.revision)
    problems = load_problems(request)
    start = time.time()
    if request.turns > 1:
        from trl_ext.eval.multiturn import evaluate_multiturn

        metrics, params = evaluate_multiturn(request, problems)
    else:
        completions, params = sample(request, problems["prompt"])
        metrics, _ = score(problems, completions, request.ks)
    key = f"{dataset_label(request.dataset)}/{request.dataset_config or 'default'}"
    return {
        "config": {
            "model": request.model,
            "revision": request.revision or "main",
            "precision": request.precision,
            "params": params,
            "dataset": request.dataset,
            "dataset_config": request.dataset_config,
            "split": request.split,
            "problems": len(problems),
            "samples": request.samples,
            "generation": asdict(request.generation),
            "harness_version": HARNESS_VERSION,
            "seconds": round(time.time() - start, 2),
        },
        "results": {key: metrics},
    }


def format_table(results: dict) -> str:
    lines = []
    for benchmark, metrics in results["results"].items():
        lines.append(
            f"{results['config']['model']} on {benchmark} ({results['config']['problems']} problems, {results['config']['samples']} samples each)"
        )
        width = max(len(m) for m in metrics)
        lines += [f"  {name:<{width}}  {value:6.1%}" for name, value in metrics.items()]
    return "\n".join(lines)


def write_results(results: dict, path: str | os.PathLike) -> None:
    path = Path(path)
    hub.atomic_write_bytes(path.resolve(), (json.dumps(results, indent=2) + "\n").encode())
