"""Multi-turn evaluation with execution feedback (`trl-ext evaluate --turns T`), as RLEF evaluates
(Gehring et al. 2024, arXiv 2410.02089).

Each of the N samples of a problem is an episode of up to T turns (`trl_ext.episodes`): an
answer, feedback from the public tests when they fail, another answer, ... Metrics, averaged over problems:

- `solve@turn{t}`: the fraction of episodes whose answer after turn t (the last answer, for an episode that
  ended earlier) passes the private tests;
- `{n}@{k·T}` for each k: n submissions out of the final answers of k episodes (public-test passers first),
  i.e. AlphaCode's n@k with each episode costing up to T samples — `1@T` (k = 1) is RLEF's 1@3 for T = 3;
- `pass@k` of the final answers and `feedback_uptake` = P(turn t+1 passes the public tests |
  turn t failed them).

Sampling uses transformers (vLLM multi-turn sampling is not implemented here).
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

from trl_ext.episodes import (
    Episodes,
    EpisodeSettings,
    FeedbackTokenizer,
    check_feedback_rows,
    episode_metrics,
    final_answer_scores,
    run_episodes,
)
from trl_ext.eval.metrics import mean_n_at_k, mean_pass_at_k


def multiturn_metrics(
    turn_correct: list[list[list[bool]]],
    public_passed: list[list[list[bool | None]]],
    end_reasons: list[list[str]],
    turns: int,
    ks: list[int],
) -> dict[str, float]:
    """Metrics from per-problem, per-episode, per-turn results: `turn_correct[p][s][t]` (private tests) and
    `public_passed[p][s][t]` for each turn the episode ran (module docstring)."""
    metrics = {}
    for t in range(1, turns + 1):
        per_problem = [sum(ep[min(t, len(ep)) - 1] for ep in eps) / len(eps) for eps in turn_correct]
        metrics[f"solve@turn{t}"] = sum(per_problem) / len(per_problem)
    final_correct = [[ep[-1] for ep in eps] for eps in turn_correct]
    final_public = [[bool(ep[-1]) for ep in eps] for eps in public_passed]
    for k in ks:
        metrics[f"pass@{k}"] = mean_pass_at_k(final_correct, k)
        metrics[f"1@{k * turns}"] = mean_n_at_k(final_public, final_correct, 1, k)
    flat = episode_metrics(
        [ep for eps in public_passed for ep in eps], [r for rs in end_reasons for r in rs], turns
    )
    if "feedback_uptake" in flat:
        metrics["feedback_uptake"] = flat["feedback_uptake"]
    return metrics


def evaluate_episodes(
    rows: list[dict],
    samples: int,
    settings: EpisodeSettings,
    ks: list[int],
    *,
    generate: Callable,
    decode: Callable[[list[int]], str],
    prompt_ids: Callable[[list[dict]], list[int]],
    feedback_ids: Callable[[str], list[int]],
    eos_token_ids: list[int],
) -> tuple[dict, Episodes]:
    """Run `samples` episodes per problem and score every turn's answer on the private tests."""
    check_feedback_rows(rows)
    flat_rows = [r for r in rows for _ in range(samples)]
    episodes = run_episodes(
        [prompt_ids(r["prompt"]) for r in flat_rows],
        flat_rows,
        generate=generate,
        decode=decode,
        feedback_ids=feedback_ids,
        eos_token_ids=eos_token_ids,
        settings=settings,
    )
    texts = [a for answers in episodes.answers for a in answers]
    flat_scores = final_answer_scores(texts, [r for r, a in zip(flat_rows, episodes.answers) for _ in a])
    scores = iter(flat_scores)
    per_episode = [[next(scores) for _ in answers] for answers in episodes.answers]
    unjudged = sum(
        reason == "sandbox_error" or None in s for reason, s in zip(episodes.end_reason, per_episode)
    )
    if unjudged:  # counting them wrong would publish a wrong score (as the single-turn harness refuses)
        raise RuntimeError(
            f"{unjudged} of {len(per_episode)} episodes could not be judged: no sandbox could run their tests"
        )
    correct = [[s > 0.5 for s in scores] for scores in per_episode]

    def by_problem(values):
        return [values[i * samples : (i + 1) * samples] for i in range(len(rows))]

    metrics = multiturn_metrics(
        by_problem(correct),
        by_problem(episodes.public_passed),
        by_problem(episodes.end_reason),
        settings.max_turns,
        ks,
    )
    return metrics, episodes


def transformers_generator(model, tokenizer, generation, chunk: int) -> Callable:
    """`generate(list of token-id lists)` for the episodes: left-padded batches of `chunk` sequences, one
    sample each, cut after the first EOS."""
    import torch

    def generate(prompts: list[list[int]]):
        out = []
        for start in tqdm(
            range(0, len(prompts), chunk), desc=f"turn of {len(prompts)} episodes", leave=False
        ):
            batch = prompts[start : start + chunk]
            width = max(map(len, batch))
            ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in batch])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
            with torch.no_grad():
                generated = model.generate(
                    input_ids=ids.to(model.device),
                    attention_mask=mask.to(model.device),
                    do_sample=True,
                    temperature=generation.temperature,
                    top_p=generation.top_p,
                    max_new_tokens=generation.max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                )
            for row in generated[:, width:].tolist():
                end = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
                out.append(row[:end])
        return out, None

    return generate


def evaluate_multiturn(request, problems) -> tuple[dict, int]:
    """The `trl-ext evaluate --turns T` path of `trl_ext.eval.harness.evaluate`: metrics and parameter count."""
    import torch

    from trl_ext.eval.loading import load_model

    model, tokenizer = load_model(request.model, request.revision, request.precision)
    torch.manual_seed(request.generation.seed)
    feedback_room = 2 * EpisodeSettings.feedback_max_chars + 256  # a test message, a trace and the template
    settings = EpisodeSettings(
        max_turns=request.turns,
        max_completion_length=request.turns * request.generation.max_new_tokens
        + (request.turns - 1) * feedback_room,
        context_window=getattr(model.config, "max_position_embeddings", None),
    )
    metrics, _ = evaluate_episodes(
        problems.to_list(),
        request.samples,
        settings,
        request.ks,
        generate=transformers_generator(
            model,
            tokenizer,
            request.generation,
            min(request.generation.batch_size * request.samples, request.generation.max_sequences),
        ),
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        prompt_ids=lambda messages: list(
            tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        ),
        feedback_ids=FeedbackTokenizer(tokenizer),
        eos_token_ids=[tokenizer.eos_token_id],
    )
    return metrics, model.num_parameters()
