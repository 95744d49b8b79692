"""The evaluation harness behind `trl-ext evaluate`, the leaderboard backend and the demo.

Samples N completions per problem (transformers; vLLM when it is installed and a GPU is present; the chat
template when the tokenizer has one, the plain prompt text otherwise; greedy at temperature 0), scores them
with `trl_ext.rewards.task_reward` in the sandbox, and reports, each with its standard error over problems:
pass@k for every k; maj@k where the problems have canonical answers (not HumanEval-style `test_code`
problems); n@k (n submissions chosen by the public tests out of k samples) where they have public tests.
The results JSON (DESIGN.md format) records what reproducing a score needs: date, versions, the dataset's
revision and content hash, the generation backend, the model's resolved revision.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from trl_ext import hub
from trl_ext.eval.loading import load_model
from trl_ext.eval.metrics import mean_and_stderr, n_at_k
from trl_ext.hub import PRECISIONS
from trl_ext.objectives import majority_value, pass_at_k
from trl_ext.rewards import VERIFIERS, task_answers, task_reward
from trl_ext.rewards.common import as_list

HARNESS_VERSION = "trl-ext-eval-2"
# dataset_label and check_model live in trl_ext.hub (the leaderboard Space imports them without torch);
# re-exported here for the harness's users.
dataset_label, check_model = hub.target_label, hub.check_model


@dataclass
class GenerationSettings:
    """Sampling settings. Memory is bounded by design: one `generate` call holds at most `max_sequences`
    sequences (`batch_size` prompts, fewer when each needs many samples; a prompt's samples split over calls),
    so what grows with `--samples` is only the completions' text, which `evaluate` checks fits before starting."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 8  # prompts per generate call
    seed: int = 0
    max_sequences: int = 256  # sequences (prompts x samples) per generate call


# What holding one sample costs until it is scored (its text, its message dict, its reward and answer), per
# generated token and per sample; `evaluate` refuses runs whose samples would not fit in half the free memory.
BYTES_PER_TOKEN, BYTES_PER_SAMPLE = 8, 1024


def available_memory() -> int:
    """Bytes of memory available to this process now (Linux `MemAvailable`; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(request: EvalRequest, problems: int, available: int | None = None) -> None:
    """Refuse, before any model is loaded, a run whose completions cannot be held until they are scored."""
    need = (
        problems * request.samples * (BYTES_PER_SAMPLE + BYTES_PER_TOKEN * request.generation.max_new_tokens)
    )
    budget = (available_memory() if available is None else available) // 2
    if need > budget:
        most = budget // max(
            1, problems * (BYTES_PER_SAMPLE + BYTES_PER_TOKEN * request.generation.max_new_tokens)
        )
        raise ValueError(
            f"{problems} problems x {request.samples} samples of up to {request.generation.max_new_tokens} tokens "
            f"need about {need / 2**30:.1f} GiB to hold until scored, over half the available memory "
            f"({budget / 2**30:.1f} GiB): use at most --samples {most}, fewer problems (--limit) or fewer tokens"
        )


def generation_calls(
    prompts: int, draws: int, settings: GenerationSettings
) -> list[tuple[int, int, int, int]]:
    """The `generate` calls that draw `draws` samples for each of `prompts` prompts, as (first prompt, prompts,
    first draw, draws): every call holds at most `settings.max_sequences` sequences."""
    draws_per_call = min(draws, settings.max_sequences)
    prompts_per_call = max(1, min(settings.batch_size, settings.max_sequences // draws_per_call))
    return [
        (first, min(prompts_per_call, prompts - first), start, min(draws_per_call, draws - start))
        for first in range(0, prompts, prompts_per_call)
        for start in range(0, draws, draws_per_call)
    ]


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
    submissions: int = 1  # the n of n@k
    turns: int = 1  # > 1: multi-turn episodes with public-test feedback (trl_ext.eval.multiturn)

    def validate(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")
        if self.generation.temperature < 0:
            raise ValueError(f"--temperature must be 0 (greedy) or more, got {self.generation.temperature}")
        if self.submissions < 1:
            raise ValueError(f"--submissions must be at least 1, got {self.submissions}")
        if self.turns < 1:
            raise ValueError(f"--turns must be at least 1, got {self.turns}")
        if self.samples < 1:
            raise ValueError(f"--samples must be at least 1, got {self.samples}")
        if self.generation.batch_size < 1 or self.generation.max_sequences < 1:
            raise ValueError("--batch-size and max_sequences must be at least 1")
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
    if request.limit is not None:
        problems = problems.select(range(min(request.limit, len(problems))))
    return problems


def _vllm_available() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def format_prompts(tokenizer, prompts: list) -> list[str]:
    """Prompt texts: the chat template when the tokenizer has one (instruct models); otherwise, for base
    models, the messages' contents joined as plain text."""
    if getattr(tokenizer, "chat_template", None):
        return [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    return [p if isinstance(p, str) else "\n\n".join(m["content"] for m in p) for p in prompts]


def _draws(request: EvalRequest) -> int:
    """Completions to generate per prompt: greedy decoding gives one, which stands for all N samples."""
    return 1 if request.generation.temperature == 0 else request.samples


def _generate_vllm(request: EvalRequest, prompts: list) -> tuple[list[list[str]], dict]:
    from vllm import LLM, SamplingParams

    g = request.generation
    llm = LLM(
        model=request.model,
        revision=request.revision,
        seed=g.seed,
        quantization="bitsandbytes" if request.precision == "4bit" else None,
    )
    params = SamplingParams(
        n=_draws(request), temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_new_tokens, seed=g.seed
    )
    texts = format_prompts(llm.get_tokenizer(), prompts)
    outputs = llm.generate(texts, params, use_tqdm=True)
    model_info = {"backend": "vllm", "resolved_revision": resolved_revision(request.model, request.revision)}
    return [[c.text for c in out.outputs] for out in outputs], model_info


def _generate_transformers(request: EvalRequest, prompts: list) -> tuple[list[list[str]], dict]:
    import torch

    model, tokenizer = load_model(request.model, request.revision, request.precision)
    g = request.generation
    torch.manual_seed(g.seed)  # the calls run in a fixed order: a run reproduces
    texts = format_prompts(tokenizer, prompts)
    draws = _draws(request)
    sampling = (
        {"do_sample": True, "temperature": g.temperature, "top_p": g.top_p}
        if g.temperature > 0
        else {"do_sample": False}
    )
    out: list[list[str]] = [[] for _ in texts]
    calls = generation_calls(len(texts), draws, g)
    with tqdm(total=len(texts) * draws, desc=f"sampling {request.samples}x", unit="sample") as bar:
        for first, count, _, n in calls:
            batch = tokenizer(
                texts[first : first + count],
                return_tensors="pt",
                padding=True,
                add_special_tokens=not getattr(tokenizer, "chat_template", None),
            ).to(model.device)
            with torch.no_grad():
                generated = model.generate(
                    **batch,
                    **sampling,
                    max_new_tokens=g.max_new_tokens,
                    num_return_sequences=n,
                    pad_token_id=tokenizer.pad_token_id,
                )
            completions = tokenizer.batch_decode(
                generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
            del generated
            for i in range(count):
                out[first + i] += completions[i * n : (i + 1) * n]
            bar.update(count * n)
    revision = getattr(model.config, "_commit_hash", None) or resolved_revision(
        request.model, request.revision
    )
    model_info = {"backend": "transformers", "resolved_revision": revision, "params": model.num_parameters()}
    return out, model_info


def sample(request: EvalRequest, prompts: list) -> tuple[list[list[str]], dict]:
    """N completions per prompt, and what the run used: the backend, the model's resolved revision and
    (transformers) its parameter count. Greedy decoding generates one completion, repeated N times."""
    generate = _generate_vllm if _vllm_available() else _generate_transformers
    completions, info = generate(request, prompts)
    return [(c * request.samples)[: request.samples] for c in completions], info


def _sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def resolved_revision(model: str, revision: str | None) -> str | None:
    """The commit a Hub model's revision points at; for a local folder, `local-sha256:` + its weights'
    hash (a folder has no revision). None when the Hub cannot be asked (offline)."""
    if hub.is_local(model):
        path = hub.local_path(model)
        weights = [*path.glob("*.safetensors"), *path.glob("*.bin")]
        return f"local-sha256:{_sha256_files(weights)[:16]}" if weights else None
    return hub.resolved_commit(model, revision, repo_type="model")


def dataset_fingerprint(request: EvalRequest, rows: list[dict]) -> dict:
    """The dataset's resolved revision (Hub) and a hash of the evaluated rows' content (any target)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    local = hub.is_local(request.dataset)
    revision = None if local else hub.resolved_commit(request.dataset, None, repo_type="dataset")
    return {"dataset_revision": revision, "dataset_sha256": digest.hexdigest()}


def versions() -> dict:
    from importlib import metadata

    from trl_ext import __version__

    out = {"trl-ext": __version__}
    for name in ("trl", "transformers", "torch", "datasets", "vllm"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def has_canonical_answers(row: dict) -> bool:
    """maj@k needs an answer to vote on: code problems have one only when they have test inputs."""
    return row.get("task") != "code" or bool(
        as_list(row.get("public_tests")) or as_list(row.get("private_tests"))
    )


def compression_rate(texts: list[str], rows: list[dict]) -> float:
    """The KoLMogorov-Test's compression rate (arXiv 2503.13992) over all samples: total program bits over total
    sequence bits, a failed program counting as its sequence's gzip encoding (the verifier's fallback)."""
    from trl_ext.rewards.kolmogorov import compression_rates, sequence_text

    raw = [8 * len(sequence_text(r["sequence"])) for r in rows]
    return sum(rate * bits for rate, bits in zip(compression_rates(texts, rows), raw)) / sum(raw)


def score(
    problems, completions: list[list[str]], ks: list[int], submissions: int = 1
) -> tuple[dict, dict, dict]:
    """Metrics for completions (problems × N) of `problems`, their standard errors over problems, and the
    per-problem details (correct, answers)."""
    rows = problems.to_list()
    n = len(completions[0])
    flat_rows = [r for r in rows for _ in range(n)]
    flat = [[{"role": "assistant", "content": c}] for cs in completions for c in cs]
    columns = {key: [r.get(key) for r in flat_rows] for key in flat_rows[0]}
    rewards = task_reward(prompts=[r["prompt"] for r in flat_rows], completions=flat, **columns)
    unjudged = sum(r is None for r in rewards)
    if unjudged:  # counting them wrong would publish a wrong score
        raise RuntimeError(
            f"{unjudged} of {len(rewards)} samples could not be judged: no sandbox could run them"
        )
    answers = task_answers(flat, **columns)
    correct = [[rewards[i * n + j] > 0.5 for j in range(n)] for i in range(len(rows))]
    grouped_answers = [answers[i * n : (i + 1) * n] for i in range(len(rows))]
    per_problem: dict[str, list[float]] = {}
    for k in ks:
        per_problem[f"pass@{k}"] = [pass_at_k(n, sum(c), k) for c in correct]
    if all(has_canonical_answers(r) for r in rows):
        for k in ks:
            per_problem[f"maj@{k}"] = [majority_value(a, c, k) for a, c in zip(grouped_answers, correct)]
    with_public = [
        i for i, r in enumerate(rows) if r.get("task") == "code" and as_list(r.get("public_tests"))
    ]
    if with_public:
        from trl_ext.rewards.code import public_pass

        public = public_pass(
            [c for i in with_public for c in completions[i]], [rows[i] for i in with_public for _ in range(n)]
        )
        unjudged = sum(p is None for p in public)
        if unjudged:  # which samples n@k submits depends on them: a guess would publish a wrong score
            raise RuntimeError(
                f"{unjudged} of {len(public)} public-test checks could not be judged: no sandbox could run them"
            )
        public = [public[j * n : (j + 1) * n] for j in range(len(with_public))]
        for k in (k for k in ks if k >= submissions):
            per_problem[f"{submissions}@{k}"] = [
                n_at_k(p, correct[i], submissions, k) for p, i in zip(public, with_public)
            ]
    swe = [i for i, r in enumerate(rows) if r.get("task") == "swe"]
    if swe:  # SWE-RL's reward is −1 for a format error, else the similarity: errors count as 0 similarity
        per_problem["patch_similarity"] = [
            sum(max(rewards[i * n + j], 0.0) for j in range(n)) / n for i in swe
        ]
    metrics, stderr = {}, {}
    for name, values in per_problem.items():
        metrics[name], stderr[name] = mean_and_stderr(values)
    kolmogorov = [i for i, r in enumerate(rows) if r.get("task") == "kolmogorov"]
    if kolmogorov:
        metrics["compression_rate"], stderr["compression_rate"] = (
            compression_rate(
                [c for i in kolmogorov for c in completions[i]],
                [rows[i] for i in kolmogorov for _ in range(n)],
            ),
            None,
        )
    details = {
        "correct": correct,
        "answers": [[repr(a) if a is not None else None for a in g] for g in grouped_answers],
    }
    return metrics, stderr, details


def evaluate(request: EvalRequest, return_samples: bool = False):
    """Run the whole evaluation and return the results dict (DESIGN.md format); with `return_samples`, also
    the per-sample log (one dict per completion: problem id, prompt, completion, correct, answer)."""
    request.validate()
    problems = load_problems(request)  # the dataset first: cheaper to check than the model
    check_fits(request, len(problems))
    check_model(request.model, request.revision)
    start = time.time()
    if request.turns > 1:
        from trl_ext.eval.multiturn import evaluate_multiturn

        if return_samples:
            raise ValueError("--log-samples is not supported with --turns > 1")
        metrics, params = evaluate_multiturn(request, problems)
        stderr, details = {}, None
        revision = resolved_revision(request.model, request.revision)
        model_info = {"backend": "transformers", "resolved_revision": revision, "params": params}
    else:
        completions, model_info = sample(request, problems["prompt"])
        metrics, stderr, details = score(problems, completions, request.ks, request.submissions)
    rows = problems.to_list()
    key = f"{dataset_label(request.dataset)}/{request.dataset_config or 'default'}"
    results = {
        "config": {
            "model": request.model,
            "revision": request.revision or "main",
            "resolved_revision": model_info.get("resolved_revision"),
            "precision": request.precision,
            "params": model_info.get("params"),
            "dataset": request.dataset,
            "dataset_config": request.dataset_config,
            "split": request.split,
            **dataset_fingerprint(request, rows),
            "problems": len(problems),
            "samples": request.samples,
            "generation": {**asdict(request.generation), "greedy": request.generation.temperature == 0},
            "backend": model_info["backend"],
            "harness_version": HARNESS_VERSION,
            "versions": versions(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - start, 2),
        },
        "results": {key: metrics},
        "stderr": {key: stderr},
    }
    if not return_samples:
        return results
    samples = [
        {
            "id": row.get("id", i),
            "sample": j,
            "prompt": row["prompt"],
            "completion": completion,
            "correct": details["correct"][i][j],
            "answer": details["answers"][i][j],
        }
        for i, row in enumerate(rows)
        for j, completion in enumerate(completions[i])
    ]
    return results, samples


def format_table(results: dict) -> str:
    lines = []
    for benchmark, metrics in results["results"].items():
        config = results["config"]
        lines.append(
            f"{config['model']} on {benchmark} ({config['problems']} problems, {config['samples']} samples each)"
        )
        stderr = results.get("stderr", {}).get(benchmark, {})
        width = max(len(m) for m in metrics)
        for name, value in metrics.items():
            se = stderr.get(name)
            lines.append(f"  {name:<{width}}  {value:6.1%}" + (f" ± {se:.1%}" if se is not None else ""))
    return "\n".join(lines)


def write_results(results: dict, path: str | os.PathLike, samples: list[dict] | None = None) -> None:
    """The results JSON, and with `samples` the per-sample log beside it (`<name>.samples.jsonl`)."""
    path = Path(path).expanduser().resolve()
    if samples is not None:
        lines = "".join(json.dumps(s, default=str) + "\n" for s in samples)
        hub.atomic_write_bytes(path.with_suffix(".samples.jsonl"), lines.encode())
    hub.atomic_write_bytes(path, (json.dumps(results, indent=2) + "\n").encode())
