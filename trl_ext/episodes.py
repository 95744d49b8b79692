"""Multi-turn episodes with execution feedback (RLEF, Gehring et al. 2024, arXiv 2410.02089): pure logic, no trainer.

An episode answers a problem; the answer is checked on the problem's *public* tests (one sandbox batch for the
whole generation batch); if it passes, the episode ends, otherwise a feedback message is appended as a user
turn and the model answers again, up to `max_turns`. The episode is one token sequence

    prompt | answer 1 | feedback 1 | answer 2 | ... | answer T

where the feedback spans are the chat template's rendering of the user turn (and the next assistant header),
concatenated as token ids (no re-tokenisation of what the model wrote, as TRL's own tool loop does), and
`env_mask` is 1 on the model's tokens and 0 on the feedback tokens.

The generator and the public-test verifier are arguments, so the trainer passes its own generation backend
and the tests a deterministic fake. Feedback granularity (binary / first failing test / error trace) and
prompt variants follow Zheng et al. 2024 (arXiv 2410.08105); the prompt wording is ours (their exact
prompts are not reproduced).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trl_ext.execution import run_tests_batch
from trl_ext.rewards import VERIFIERS, code, kolmogorov, pbe
from trl_ext.rewards.common import as_list, extract_code

FEEDBACK_LEVELS = ("binary", "test", "trace")
FEEDBACK_TASKS = ("code", "pbe", "kolmogorov")
END_REASONS = ("passed", "max_turns", "truncated", "context", "no_public_tests", "sandbox_error")
DEFAULT_FEEDBACK_TEMPLATE = "{message}\nWrite a corrected solution."
BINARY_MESSAGE = "Your answer is wrong: it fails the public tests."
# Zheng et al.'s two families of single-turn prompts, in our words: a reasoning prompt (reason before coding)
# and an instruction prompt (how to write the code).
PROMPT_VARIANTS = {
    "none": "",
    "reasoning": "\n\nBefore writing code, reason step by step: restate the task, explain what the examples "
    "show, and note the edge cases.",
    "instruction": "\n\nWrite clear, well-structured code with small helper functions, and check the input "
    "constraints.",
}


@dataclass
class Verdict:
    """The public-test check of one answer: `passed` (None: unscorable, no sandbox could run the tests), and when it
    failed, `message` (the first failing test: input, expected, got) and `trace` (the error output, if any)."""

    passed: bool | None
    message: str = ""
    trace: str = ""


@dataclass
class EpisodeSettings:
    max_turns: int = 3
    feedback_level: str = "test"
    feedback_template: str = DEFAULT_FEEDBACK_TEMPLATE
    feedback_max_chars: int = 512
    max_completion_length: int = 256  # all turns and feedback together, as TRL's tool loop counts it
    context_window: int | None = None  # prompt + episode tokens; None: unbounded
    min_answer_tokens: int = 1  # a feedback turn is added only if this much room is left for the next answer

    def __post_init__(self):
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.feedback_level not in FEEDBACK_LEVELS:
            raise ValueError(f"feedback_level must be one of {FEEDBACK_LEVELS}, got {self.feedback_level!r}")
        if self.min_answer_tokens < 1:
            raise ValueError(f"min_answer_tokens must be at least 1, got {self.min_answer_tokens}")
        if self.feedback_max_chars < 1:
            raise ValueError(f"feedback_max_chars must be positive, got {self.feedback_max_chars}")
        try:
            self.feedback_template.format(message="")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"feedback_template must be a format string whose only field is {{message}}: {err}"
            ) from None


@dataclass
class Episodes:
    """What `run_episodes` returns, one entry per episode."""

    completion_ids: list[list[int]]
    env_mask: list[list[int]]
    logprobs: list[list[float]] | None
    answers: list[list[str]] = field(default_factory=list)  # the decoded answer of each turn
    public_passed: list[list[bool | None]] = field(default_factory=list)  # per turn; None: no public tests
    feedback: list[list[str]] = field(default_factory=list)  # the feedback texts shown
    end_reason: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------- public checks


def _truncate(text: str, limit: int, keep: str = "head") -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..." if keep == "head" else "..." + text[-(limit - 3) :]


def _code_verdicts(texts: list[str], rows: list[dict]) -> list[Verdict | None]:
    programs = [code.build_program(t, r) for t, r in zip(texts, rows)]
    out: list[Verdict | None] = [None] * len(texts)
    todo = []
    for i, (program, row) in enumerate(zip(programs, rows)):
        if not as_list(row.get("public_tests")):
            continue
        if program is None:
            out[i] = Verdict(False, "Your answer has no code: answer with a ```python code block.")
        else:
            todo.append(i)
    jobs = [
        {
            "code": programs[i],
            "tests": as_list(rows[i]["public_tests"]),
            "fn_name": rows[i].get("fn_name") or None,
            "stop_on_failure": True,
            "timeout": float(rows[i].get("time_limit_s") or 5.0),
            "memory_mb": int(rows[i].get("memory_limit_mb") or 512),
        }
        for i in todo
    ]
    for i, result in zip(todo, run_tests_batch(jobs) if jobs else []):
        failed = next((r for r in result.results if r.status != "ok"), None)
        if any(r.status == "sandbox_error" for r in result.results):
            out[i] = Verdict(
                None
            )  # an infrastructure failure: no feedback can be given, the answer is not wrong
        elif failed is None:
            out[i] = Verdict(True)
        elif failed.status == "wrong_answer":
            message = (
                f"Your code failed a public test.\nInput:\n{failed.input.rstrip()}\nExpected:\n"
                f"{failed.expected.rstrip()}\nGot:\n{failed.got.rstrip()}"
            )
            out[i] = Verdict(False, message, failed.stderr)
        else:
            message = f"Your code failed a public test ({failed.status}).\nInput:\n{failed.input.rstrip()}"
            out[i] = Verdict(False, message, failed.stderr)
    return out


def public_verdicts(texts: list[str], rows: list[dict]) -> list[Verdict | None]:
    """The public-test check of each answer, dispatched on the row's `task` (code rows: the `public_tests` run
    in one sandbox batch; PBE and Kolmogorov rows: their verifier's `feedback`, on the examples the prompt
    shows). None for a code row without public tests (no feedback can be given)."""
    out: list[Verdict | None] = [None] * len(texts)
    tasks = [row.get("task", "code") for row in rows]
    unknown = sorted({t for t in tasks if t not in FEEDBACK_TASKS}, key=str)
    if unknown:
        raise ValueError(f"task {unknown[0]!r} has no feedback verifier; RLEF supports {FEEDBACK_TASKS}")
    for task in FEEDBACK_TASKS:
        idx = [i for i, t in enumerate(tasks) if t == task]
        if not idx:
            continue
        sub_texts, sub_rows = [texts[i] for i in idx], [rows[i] for i in idx]
        if task == "code":
            verdicts = _code_verdicts(sub_texts, sub_rows)
        else:
            messages = (
                [pbe.feedback(t, r) for t, r in zip(sub_texts, sub_rows)]
                if task == "pbe"
                else kolmogorov.feedbacks(sub_texts, sub_rows)
            )
            verdicts = [
                Verdict(None) if m == kolmogorov.UNSCORABLE else Verdict(m is None, m or "") for m in messages
            ]
        for i, verdict in zip(idx, verdicts):
            out[i] = verdict
    return out


def check_feedback_rows(rows: Sequence[dict]) -> None:
    """Raise a one-line error, early, when a dataset cannot give execution feedback."""
    for i, row in enumerate(rows):
        task = row.get("task", "code")
        if task not in FEEDBACK_TASKS:
            raise ValueError(
                f"row {i} has task {task!r}, which has no feedback verifier; RLEF supports {FEEDBACK_TASKS}"
            )
        if task == "code" and not (as_list(row.get("private_tests")) or row.get("test_code")):
            raise ValueError(
                f"row {i} (code) has no private_tests and no test_code: RLEF's reward needs them"
            )


def final_answer_scores(texts: list[str], rows: list[dict]) -> list[float]:
    """1.0/0.0 per answer: code rows on their private tests (or HumanEval-style `test_code`), PBE and
    Kolmogorov rows with their verifier."""
    out = [0.0] * len(texts)
    tasks = [row.get("task", "code") for row in rows]
    for task in sorted(set(tasks)):
        idx = [i for i, t in enumerate(tasks) if t == task]
        sub_texts, sub_rows = [texts[i] for i in idx], [rows[i] for i in idx]
        if task == "code":
            scores = code.score(sub_texts, sub_rows, tests="private")
        else:
            scores = VERIFIERS[task].score(sub_texts, sub_rows)
        for i, s in zip(idx, scores):
            out[i] = s
    return out


def has_valid_answer(text: str, row: dict) -> bool:
    """Whether an answer holds something the verifier can judge: parseable Python for code and Kolmogorov rows,
    at least one rule for PBE rows."""
    task = row.get("task", "code")
    if task == "pbe":
        return bool(pbe.parse_rules(text))
    program = code.build_program(text, row) if task == "code" else extract_code(text)
    if program is None:
        return False
    try:  # deep nesting makes the parser raise RecursionError or MemoryError: not valid Python either
        ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def feedback_message(verdict: Verdict, settings: EpisodeSettings) -> str:
    """The user turn shown after a failed answer, at the configured granularity."""
    if settings.feedback_level == "binary":
        message = BINARY_MESSAGE
    else:
        message = _truncate(verdict.message or BINARY_MESSAGE, settings.feedback_max_chars)
        if settings.feedback_level == "trace" and verdict.trace.strip():
            message += "\nError:\n" + _truncate(
                verdict.trace.strip(), settings.feedback_max_chars, keep="tail"
            )
    return settings.feedback_template.format(message=message)


# ------------------------------------------------------------------------------------------- the episodes


class FeedbackTokenizer:
    """Token ids of a feedback user turn, to append after an answer that ended with EOS: the chat template's
    rendering of [user: feedback] plus the next assistant header, found as the suffix of a rendered dummy
    conversation (the same construction as TRL's `_get_tool_suffix_ids`)."""

    def __init__(self, tokenizer, chat_template: str | None = None, **template_kwargs):
        self.tokenizer, self.kwargs = tokenizer, {"chat_template": chat_template, **template_kwargs}
        dummy = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "dummy"}]
        prefix = self._render(dummy, add_generation_prompt=False)
        eos = [i for i, t in enumerate(prefix) if t == tokenizer.eos_token_id]
        self.dummy, self.prefix = dummy, prefix[: eos[-1] + 1] if eos else prefix

    def _render(self, messages, add_generation_prompt: bool) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=add_generation_prompt,
            tokenize=True,
            return_dict=False,
            **self.kwargs,
        )
        return list(ids[0] if ids and isinstance(ids[0], list) else ids)

    def __call__(self, text: str) -> list[int]:
        full = self._render(self.dummy + [{"role": "user", "content": text}], add_generation_prompt=True)
        if full[: len(self.prefix)] != self.prefix:
            raise ValueError("the chat template renders earlier turns differently once a user turn follows")
        return full[len(self.prefix) :]


def run_episodes(
    prompt_ids: list[list[int]],
    rows: list[dict],
    *,
    generate: Callable[[list[list[int]]], tuple[list[list[int]], list[list[float]] | None]],
    decode: Callable[[list[int]], str],
    feedback_ids: Callable[[str], list[int]],
    eos_token_ids: Sequence[int],
    settings: EpisodeSettings,
    verify: Callable[[list[str], list[dict]], list[Verdict | None]] = public_verdicts,
    any_active: Callable[[bool], bool] = bool,
) -> Episodes:
    """Run one episode per prompt (prompts already repeated per sample), all turns batched.

    `generate(list of token-id lists)` returns one answer's ids per input (and their sampling log-probs, or
    None); it is called once per turn with the still-active episodes (possibly none: the trainer's wrapper then
    runs a throwaway generation, so that backends which gather across processes stay in step). `any_active`
    tells whether an episode is still active on any process. End reasons: `passed` (public tests pass),
    `max_turns`, `truncated` (an answer cut at the length budget, as TRL counts it: no EOS), `context` (the
    feedback and `min_answer_tokens` more would not fit the completion budget or the context window),
    `no_public_tests`, `sandbox_error` (no sandbox could run the public tests: the answer is neither passed nor
    failed, so no feedback is shown and the episode ends; its `public_passed` entry is None).
    """
    n, eos = len(prompt_ids), set(eos_token_ids)
    if len(rows) != n:
        raise ValueError(f"got {n} prompts but {len(rows)} rows")
    completion: list[list[int]] = [[] for _ in range(n)]
    mask: list[list[int]] = [[] for _ in range(n)]
    logps: list[list[float]] = [[] for _ in range(n)]
    answers: list[list[str]] = [[] for _ in range(n)]
    passed: list[list[bool | None]] = [[] for _ in range(n)]
    shown: list[list[str]] = [[] for _ in range(n)]
    end: list[str | None] = [None] * n
    has_logprobs = True
    budget, window = settings.max_completion_length, settings.context_window
    for turn in range(1, settings.max_turns + 1):
        active = [i for i in range(n) if end[i] is None]
        if not any_active(bool(active)):
            break
        new_ids, new_logps = generate([prompt_ids[i] + completion[i] for i in active])
        has_logprobs = has_logprobs and new_logps is not None
        texts = []
        for j, i in enumerate(active):
            ids = list(new_ids[j])[: budget - len(completion[i])]
            completion[i] += ids
            mask[i] += [1] * len(ids)
            logps[i] += list(new_logps[j])[: len(ids)] if new_logps is not None else [0.0] * len(ids)
            texts.append(decode(ids))
            answers[i].append(texts[-1])
        verdicts = verify(texts, [rows[i] for i in active])
        for j, i in enumerate(active):
            verdict = verdicts[j]
            passed[i].append(None if verdict is None else verdict.passed)
            if verdict is None:
                end[i] = "no_public_tests"
            elif verdict.passed is None:
                end[i] = "sandbox_error"
            elif verdict.passed:
                end[i] = "passed"
            elif not completion[i] or completion[i][-1] not in eos:
                end[i] = "truncated"
            elif turn == settings.max_turns:
                end[i] = "max_turns"
            else:
                text = feedback_message(verdict, settings)
                suffix = feedback_ids(text)
                length = len(completion[i]) + len(suffix) + settings.min_answer_tokens
                if length > budget or (window is not None and len(prompt_ids[i]) + length > window):
                    end[i] = "context"
                    continue
                completion[i] += suffix
                mask[i] += [0] * len(suffix)
                logps[i] += [0.0] * len(suffix)
                shown[i].append(text)
    return Episodes(
        completion_ids=completion,
        env_mask=mask,
        logprobs=logps if has_logprobs else None,
        answers=answers,
        public_passed=passed,
        feedback=shown,
        end_reason=[e or "max_turns" for e in end],
    )


def episode_metrics(public_passed: list[list[bool | None]], end_reason: list[str], max_turns: int) -> dict:
    """Solve rate (public tests) after each turn, mean turns, feedback uptake = P(turn t+1 passes | turn t
    failed) pooled over t (absent when no episode had a next turn after a failure), and end-reason fractions.
    An episode that ended on an unscorable check (`sandbox_error`) at turn u is left out of the solve rates of turns
    t >= u (unknown, not unsolved: NaN when every episode is) and of the feedback uptake of its last retry."""
    n = len(public_passed)
    if n == 0:
        raise ValueError("no episodes")
    metrics = {}
    for t in range(1, max_turns + 1):
        known = [
            ps for ps, reason in zip(public_passed, end_reason) if reason != "sandbox_error" or len(ps) > t
        ]
        solved = sum(any(bool(p) for p in ps[:t]) for ps in known)
        metrics[f"solve_rate/turn{t}"] = solved / len(known) if known else float("nan")
    metrics["mean_turns"] = sum(len(ps) for ps in public_passed) / n
    retries = [
        (ps[t], ps[t + 1])
        for ps in public_passed
        for t in range(len(ps) - 1)
        if ps[t] is False and ps[t + 1] is not None
    ]
    if retries:
        metrics["feedback_uptake"] = sum(bool(after) for _, after in retries) / len(retries)
    for reason in END_REASONS:
        metrics[f"end/{reason}"] = sum(r == reason for r in end_reason) / n
    return metrics
