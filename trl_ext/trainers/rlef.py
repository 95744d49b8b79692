"""RLEFTrainer: multi-turn RL from execution feedback, on TRL's GRPO.

Paper: "RLEF: Grounding Code LLMs in Execution Feedback with Reinforcement Learning" (Gehring et al. 2024,
arXiv 2410.02089); prompt and feedback variants after "What Makes Large Language Models Reason in (Multi-Turn)
Code Generation?" (Zheng et al. 2024, arXiv 2410.08105).

Each sample is a whole episode (`trl_ext.episodes`): answer, feedback from the *public* tests as
a user turn when they fail, another answer, ... up to `max_turns`; the reward scores the *final* answer on the
*private* tests (+1 / -1, minus a penalty when it holds no valid code). Only the model's tokens are trained:
the feedback turns are masked out of the loss through TRL's `env_mask`.

Why `rollout_func` and not `environment_factory`: an environment acts only when the model emits a tool call
(the tiny and most code models have no tool-call format, and RLEF's feedback is a user turn that follows
every failed answer whatever the model writes), and its result is a `tool` message. A `rollout_func` runs the
episode loop itself and generates every turn with the trainer's own `_generate_single_turn`, so transformers
generation on CPU and vLLM (colocate or server, weights synced by TRL before the rollout) on GPU are both
kept, and `env_mask` masks the feedback exactly.

Implemented variant and deviations (documented, not verified against the paper's code, which is not public):
- Advantages: GRPO's group baseline over whole-episode rewards instead of the paper's PPO with a turn-level
  value function (TRL no longer has PPO with a critic). The reward and the baseline are per episode.
- The reward values (+1 / -1 / -0.2 for no valid code) follow ALGORITHMS.md §5 and are config.
- TRL's token-level loss normalisation (`loss_type`) counts only the model's tokens of the episode.
- PBE and Kolmogorov rows have no hidden tests: their public check and their reward use the same examples.

Unscorable (no sandbox could run the tests, `sandbox_error`): a public check ends the episode without feedback
(end reason `sandbox_error`, left out of the per-turn solve rates); a final answer's private-test reward is None,
which TRL 1.16 leaves out of its group's mean and std and gives advantage 0 (its model tokens still count in the
`loss_type` normalisation and, with `beta > 0`, in the KL term); `rlef/private_solve_rate` counts
scorable episodes only, `rlef/frac_unscorable` is the share of episodes whose private reward was None.
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field

from accelerate.utils import gather_object
from trl import GRPOConfig, GRPOTrainer

from trl_ext.episodes import (
    DEFAULT_FEEDBACK_TEMPLATE,
    FEEDBACK_LEVELS,
    PROMPT_VARIANTS,
    Episodes,
    EpisodeSettings,
    FeedbackTokenizer,
    check_feedback_rows,
    episode_metrics,
    final_answer_scores,
    has_valid_answer,
    run_episodes,
)
from trl_ext.execution.backends import ExecutionArguments
from trl_ext.rewards.common import completion_text, rows_from_columns
from trl_ext.trainers.cures import CurriculumArguments, CurriculumMixin

logger = logging.getLogger(__name__)


def make_private_tests_reward(
    pass_reward: float = 1.0, fail_reward: float = -1.0, invalid_penalty: float = 0.2
):
    """RLEF's reward, a TRL reward function: `pass_reward` when the answer passes the private tests, else
    `fail_reward`, minus `invalid_penalty` when it holds no valid code. In `RLEFTrainer` the completion it
    receives is the episode's final answer."""

    def private_tests_reward(prompts, completions, **columns) -> list[float]:
        texts = [completion_text(c) for c in completions]
        rows = rows_from_columns(len(texts), columns)
        return [
            None  # no sandbox could judge it: unscorable, not failed
            if ok is None
            else (pass_reward if ok else fail_reward) - (0.0 if has_valid_answer(t, r) else invalid_penalty)
            for t, r, ok in zip(texts, rows, final_answer_scores(texts, rows))
        ]

    return private_tests_reward


@dataclass
class RLEFConfig(ExecutionArguments, CurriculumArguments, GRPOConfig):
    r"""
    Configuration for [`RLEFTrainer`]. Inherits every [`trl.GRPOConfig`] parameter; `max_completion_length`
    bounds a whole episode (every answer and feedback turn), as TRL's tool loop counts it.

    Parameters:
        max_turns (`int`, defaults to `3`):
            Answers per episode at most: after a failed answer the public-test feedback is shown and the model
            answers again, until the public tests pass or `max_turns` answers were given.
        feedback_level (`str`, defaults to `"test"`):
            Feedback granularity (Zheng et al.): `"binary"` (pass/fail only), `"test"` (the first failing public
            test: input, expected, got) or `"trace"` (that, plus the error output).
        feedback_template (`str`, defaults to `"{message}\nWrite a corrected solution."`):
            The feedback user turn; `{message}` is replaced by the message of `feedback_level`.
        feedback_max_chars (`int`, defaults to `512`):
            The test message and the error trace are each truncated to this many characters (the trace keeps its
            end, where the error is).
        prompt_variant (`str`, defaults to `"none"`):
            Text appended to the problem before the first answer: `"none"`, `"reasoning"` (reason before
            coding) or `"instruction"` (how to write the code), after Zheng et al.'s prompt families.
        prompt_suffix (`str`, *optional*):
            Custom text appended to the problem instead of the `prompt_variant` text.
        reward_pass (`float`, defaults to `1.0`):
            Reward of a final answer that passes the private tests.
        reward_fail (`float`, defaults to `-1.0`):
            Reward of a final answer that fails them.
        invalid_answer_penalty (`float`, defaults to `0.2`):
            Subtracted when the final answer holds no valid code (no code, or code that does not parse).
        min_answer_tokens (`int`, defaults to `32`):
            A feedback turn is added only when at least this many tokens remain for the next answer (in
            `max_completion_length` and in the context window); otherwise the episode ends (reason `context`)
            rather than end on an answer cut after a few tokens.
        context_window (`int`, *optional*):
            Prompt plus episode tokens at most; an episode whose next feedback turn would not fit ends (reason
            `context`). Defaults to vLLM's `max_model_len` (colocate) or the model's `max_position_embeddings`.
    """

    max_turns: int = field(default=3, metadata={"help": "Answers per episode at most."})
    feedback_level: str = field(
        default="test", metadata={"help": "binary, test or trace.", "choices": FEEDBACK_LEVELS}
    )
    feedback_template: str = field(
        default=DEFAULT_FEEDBACK_TEMPLATE, metadata={"help": "Feedback user turn; {message} is filled in."}
    )
    feedback_max_chars: int = field(
        default=512, metadata={"help": "Truncate test message and trace to this."}
    )
    prompt_variant: str = field(
        default="none",
        metadata={"help": "none, reasoning or instruction.", "choices": tuple(PROMPT_VARIANTS)},
    )
    prompt_suffix: str | None = field(default=None, metadata={"help": "Custom text appended to the problem."})
    reward_pass: float = field(default=1.0, metadata={"help": "Reward when the final answer passes."})
    reward_fail: float = field(default=-1.0, metadata={"help": "Reward when the final answer fails."})
    invalid_answer_penalty: float = field(default=0.2, metadata={"help": "Penalty for no valid code."})
    min_answer_tokens: int = field(
        default=32, metadata={"help": "Room left for the next answer needed to add a feedback turn."}
    )
    context_window: int | None = field(default=None, metadata={"help": "Prompt + episode tokens at most."})

    def __post_init__(self):
        super().__post_init__()
        if self.prompt_variant not in PROMPT_VARIANTS:
            raise ValueError(
                f"prompt_variant must be one of {tuple(PROMPT_VARIANTS)}, got {self.prompt_variant!r}"
            )
        if self.reward_pass <= self.reward_fail:
            raise ValueError(f"reward_pass ({self.reward_pass}) must exceed reward_fail ({self.reward_fail})")
        if self.invalid_answer_penalty < 0:
            raise ValueError(f"invalid_answer_penalty must be >= 0, got {self.invalid_answer_penalty}")
        if self.context_window is not None and self.context_window < 2:
            raise ValueError(f"context_window must be at least 2, got {self.context_window}")
        self.episode_settings()  # validates the episode fields

    def episode_settings(self, context_window: int | None = None) -> EpisodeSettings:
        return EpisodeSettings(
            max_turns=self.max_turns,
            feedback_level=self.feedback_level,
            feedback_template=self.feedback_template,
            feedback_max_chars=self.feedback_max_chars,
            max_completion_length=self.max_completion_length,
            context_window=context_window,
            min_answer_tokens=self.min_answer_tokens,
        )

    @property
    def problem_suffix(self) -> str:
        return self.prompt_suffix if self.prompt_suffix is not None else PROMPT_VARIANTS[self.prompt_variant]


def _check_dataset(dataset, name: str) -> None:
    if dataset is None or not hasattr(dataset, "column_names"):
        return  # iterable datasets are checked row by row as they come
    datasets = dataset.values() if isinstance(dataset, dict) else [dataset]
    for ds in datasets:
        columns = [c for c in ("task", "private_tests", "test_code") if c in ds.column_names]
        if "prompt" not in ds.column_names or not ds[0]["prompt"] or isinstance(ds[0]["prompt"], str):
            raise ValueError(f"{name} needs a conversational `prompt` column: feedback is a user turn")
        try:
            check_feedback_rows(ds.select_columns(columns) if columns else [{}] * len(ds))
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None


class RLEFTrainer(CurriculumMixin, GRPOTrainer):
    """[`trl.GRPOTrainer`] on multi-turn episodes with execution feedback (module docstring; `RLEFConfig`).

    `RLEFTrainer(model=..., args=RLEFConfig(...), train_dataset=ds)` on the code-problem schema (or PBE /
    Kolmogorov rows). The private-test reward is always the first reward function; `reward_funcs` adds more,
    and every reward function receives the episode's final answer as its completion (plus the columns
    `rlef_final_answer`, `rlef_turns`, `rlef_end_reason`).
    """

    _tag_names = ["trl", "trl-ext", "rlef"]
    _name = "RLEF"
    _paper = {
        "title": "RLEF: Grounding Code LLMs in Execution Feedback with Reinforcement Learning",
        "id": "2410.02089",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{gehring2024rlef,
                title        = {{RLEF: Grounding Code LLMs in Execution Feedback with Reinforcement Learning}},
                author       = {Jonas Gehring and Kunhao Zheng and Jade Copet and Vegard Mella and Quentin Carbonneaux and Taco Cohen and Gabriel Synnaeve},
                year         = 2024,
                eprint       = {arXiv:2410.02089},
            }"""),
    }

    def __init__(
        self, model, reward_funcs=None, args: RLEFConfig | None = None, train_dataset=None, **kwargs
    ):
        if not isinstance(args, RLEFConfig):
            raise ValueError("RLEFTrainer needs args=RLEFConfig(...)")
        taken = [k for k in ("rollout_func", "environment_factory", "tools") if kwargs.get(k) is not None]
        if taken:
            raise ValueError(f"RLEFTrainer runs its own episodes: {taken[0]} cannot be given")
        _check_dataset(train_dataset, "train_dataset")
        _check_dataset(kwargs.get("eval_dataset"), "eval_dataset")
        extra = (
            [] if reward_funcs is None else reward_funcs if isinstance(reward_funcs, list) else [reward_funcs]
        )
        private = make_private_tests_reward(args.reward_pass, args.reward_fail, args.invalid_answer_penalty)
        super().__init__(
            model=model,
            reward_funcs=[private, *extra],
            args=args,
            train_dataset=train_dataset,
            rollout_func=self._rollout,
            **kwargs,
        )
        self._rows: list[dict] = []
        self.last_episodes: Episodes | None = (
            None  # the latest batch's episodes on this process, for inspection
        )
        self._feedback_ids = FeedbackTokenizer(
            self.processing_class, chat_template=self.chat_template, **self.chat_template_kwargs
        )

    def _context_window(self) -> int | None:
        if self.args.context_window is not None:
            return self.args.context_window
        if self.use_vllm and self.vllm_mode == "colocate":
            return self.vllm_generation.llm.llm_engine.model_config.max_model_len
        return getattr(self.model.config, "max_position_embeddings", None)

    def _any_active(self, local: bool) -> bool:
        return any(gather_object([local]))

    def _generate_turn(self, prompt_ids: list[list[int]]):
        if prompt_ids:
            return self._generate_single_turn(prompt_ids, None, {}, num_generations=1)
        if self.accelerator.num_processes > 1:
            # Nothing left here but episodes elsewhere: a throwaway generation keeps backends that gather across
            # processes (vLLM server mode, tensor parallelism, sharded weights) in step.
            self._generate_single_turn(self._prompt_ids[:1], None, {}, num_generations=1)
        return [], None

    def _rollout(self, prompts: list, trainer: GRPOTrainer) -> dict:
        if isinstance(prompts[0], str):
            raise ValueError("RLEF needs conversational prompts: the feedback is a user turn")
        suffix = self.args.problem_suffix
        if suffix:
            prompts = [p[:-1] + [{**p[-1], "content": p[-1]["content"] + suffix}] for p in prompts]
        self._prompt_ids = [list(ids) for ids in self._tokenize_prompts(prompts)[0]]
        check_feedback_rows(self._rows)
        episodes = run_episodes(
            self._prompt_ids,
            self._rows,
            generate=self._generate_turn,
            decode=lambda ids: self.processing_class.decode(ids, skip_special_tokens=True),
            feedback_ids=self._feedback_ids,
            eos_token_ids=self.eos_token_ids,
            settings=self.args.episode_settings(self._context_window()),
            any_active=self._any_active,
        )
        self.last_episodes = episodes
        self._log_episodes(episodes)
        return {
            "prompt_ids": self._prompt_ids,
            "completion_ids": episodes.completion_ids,
            "logprobs": episodes.logprobs,
            "env_mask": episodes.env_mask,
            "rlef_final_answer": [a[-1] for a in episodes.answers],
            "rlef_turns": [len(a) for a in episodes.answers],
            "rlef_end_reason": episodes.end_reason,
        }

    def _log_episodes(self, episodes: Episodes) -> None:
        mode = "train" if self.model.training else "eval"
        records = gather_object(list(zip(episodes.public_passed, episodes.end_reason)))
        metrics = episode_metrics([p for p, _ in records], [r for _, r in records], self.args.max_turns)
        for name, value in metrics.items():
            self._metrics[mode][f"rlef/{name}"].append(value)
        if metrics["end/context"] > 0:
            logger.warning(
                "%.0f%% of the episodes ended early (reason `context`): the next feedback turn would not fit "
                "max_completion_length=%d or the context window (%s tokens)",
                100 * metrics["end/context"],
                self.args.max_completion_length,
                self._context_window(),
            )

    def _generate_and_score_completions(self, inputs):
        self._rows = inputs  # the rollout needs the rows (public tests), TRL passes it only the prompts
        return super()._generate_and_score_completions(inputs)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        finals = [[{"role": "assistant", "content": x["rlef_final_answer"]}] for x in inputs]
        rewards_per_func = super()._calculate_rewards(inputs, prompts, finals, completion_ids_list)
        mode = "train" if self.model.training else "eval"
        private = rewards_per_func[:, 0]
        scorable = private[~private.isnan()]  # None: no sandbox could judge it, neither solved nor failed
        solved = (scorable - self.args.reward_pass).abs() < 1e-6
        self._metrics[mode]["rlef/private_solve_rate"].append(solved.float().mean().item())
        self._metrics[mode]["rlef/frac_unscorable"].append(private.isnan().float().mean().item())
        return rewards_per_func
