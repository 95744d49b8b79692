"""SPOTrainer: Soft Policy Optimization, GRPO's machinery with a soft-Q terminal regression that learns from any
sequence — fresh, replayed or offline (e.g. a dataset's reference solutions) — with no value model.

Paper: "Soft Policy Optimization: Online Off-Policy RL for Sequence Models" (Cohen et al. 2025, arXiv 2503.05453).
No official code is public; this follows ALGORITHMS.md §2. Implemented variant: the cumulative Q-parameterisation
Q_T = V̂₀(x) + spo_beta·Σ_t [log π_θ − log π_ref] with the squared terminal loss ½(Q_T − r)² (`trl_ext.objectives`),
V̂₀ a Monte Carlo soft value from reference samples. Unverified: the paper's β, K and exact numbers; its
cross-entropy terminal loss is not implemented; pooling reference samples on refresh is this module's choice.

What it changes in GRPO (`_generate_and_score_completions` after `super()`, `_compute_loss` replaced, a
pass-through `_calculate_rewards` that keeps the gathered rewards, and checkpoint hooks that call `super()`):
- `_generate_and_score_completions`: after GRPO generates and scores the fresh samples, it looks up V̂₀ of every
  prompt, appends off-policy rows (replay buffer and/or offline pairs, `off_policy_ratio`), and computes π_ref's
  per-token log-probs of every row. Off-policy rows need π_θ and π_ref log-probs only: no behaviour log-probs, no
  importance weights. GRPO's advantages, `loss_type`, clipping (`epsilon`), `scale_rewards` and vLLM importance
  sampling do not enter the loss.
- `_compute_loss`: the terminal regression, and the logs `spo/kl_ref` (mean Σ log π_θ/π_ref on fresh samples, a
  Monte Carlo KL(π_θ‖π_ref)), `spo/calibration_gap` (mean Q_T − r on fresh samples, which estimates
  E[V̂₀ − V*] + β·KL(π_θ‖π*): ≈ 0 only at π* with a correct V̂₀; see tests/test_spo_objectives.py), `spo/v0`,
  `spo/off_policy_share`, `entropy`, and `spo/reference_reward` (the mean reward of the reference samples behind the
  batch's V̂₀: V̂₀ far above it means the log-mean-exp is dominated by rare successes, small β with 0/1 rewards).
  The loss is the mean over a micro-batch's sequences of the per-sequence (summed, float32) log-ratio regression, not
  GRPO's token normalisation; π_θ and π_ref log-probs are both of the `temperature`-scaled distributions.

π_ref is always present: GRPO builds it (a frozen copy; with PEFT the adapter-disabled base, no second copy) only for a
non-zero KL coefficient `beta`, so the trainer is built with one and then sets `self.beta = 0`: SPO regularises
towards π_ref through `spo_beta`, and TRL's KL term never enters.

V̂₀ versus TRL's `trl/experimental/a2po` (A*-PO, arXiv 2505.20686), which estimates the same V*(x) from reference
samples (`num_value_samples`, `beta1`): A*-PO estimates every train and eval prompt once, before training, and then
regresses β₂·log π/π_ref onto r − V* on one fresh on-policy sample per prompt with a separate β₂. Here V̂₀ is
estimated lazily for the prompts a batch meets (`value_samples` reference samples, sharded over the processes and
shared), cached, and refreshed every `value_refresh_steps` by pooling more samples (π_ref is fixed, so pooling lowers
both the variance and the Jensen bias of the log-mean-exp); one β; and any sequence is a training sample. Reference
samples are drawn with transformers' `generate` at the training temperature with every other sampling field neutral
(no top-p/top-k/min-p/typical-p, no repetition penalty or n-gram ban, nothing filled in from the checkpoint's
`generation_config.json`): the distribution the log-probs score, also when vLLM generates the fresh samples.

Unscorable samples (every reward function returned None, e.g. a verifier's `sandbox_error`) are neither successes
nor failures. A fresh one is left out of the loss, the replay buffer and the calibration logs; an unscorable
reference sample is left out of V̂₀ (a prompt none of whose reference samples was scorable has no V̂₀ yet: its rows
are left out of the loss and it is estimated again when met again); an unscorable offline pair is left out of the
loss and scored again when drawn again. Logged: `spo/frac_unscorable` (fresh samples),
`spo/reference_frac_unscorable`.

The replay buffer, the V̂₀ cache, the offline rewards and the sampling generator are identical on every process
(built from gathered data, drawn with one seeded generator, each process using its slice) and saved in
`spo_state.json` with each checkpoint, restored on resume.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import textwrap
from collections import deque
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from accelerate.utils import gather_object
from transformers import GenerationConfig
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOConfig, GRPOTrainer
from trl.data_utils import is_conversational
from trl.models import unwrap_model_for_generation
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import pad, use_adapter

from trl_ext.execution.backends import ExecutionArguments
from trl_ext.objectives import SPO_LOSSES, spo_loss, spo_soft_value, spo_terminal_q, total_rewards
from trl_ext.trainers.cures import CurriculumArguments, CurriculumMixin, not_counted

STATE_FILE = "spo_state.json"
# The keys GRPO's batch may hold for text completions; SPO drops the ones it has no use for (behaviour log-probs,
# importance ratios, advantages) and supports nothing else (tools, images).
_GRPO_KEYS = {"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "num_items_in_batch"}
_UNUSED_KEYS = {"advantages", "old_per_token_logps", "sampling_per_token_logps", "importance_sampling_ratio"}


@dataclass
class SPOConfig(ExecutionArguments, CurriculumArguments, GRPOConfig):
    r"""
    Configuration for [`SPOTrainer`]. Inherits every [`trl.GRPOConfig`] parameter; TRL's `beta` (a KL coefficient)
    must stay 0.

    Parameters:
        spo_beta (`float`, defaults to `0.2`):
            SPO's temperature β: Q_T = V̂₀ + β·log(π_θ/π_ref), optimum π* ∝ π_ref·exp(r/β). Smaller β trusts the reward
            more and π_ref less.
        spo_loss_type (`str`, defaults to `"mse"`):
            Terminal loss: `"mse"`, ½(Q_T − r)².
        value_samples (`int`, defaults to `8`):
            K, the reference samples per prompt for V̂₀ = β·log mean exp(r/β). What they buy depends on the rows trained
            on. On fresh samples (on-policy) E_π[∇log π] = 0, so V̂₀ only acts as a baseline: a wrong V̂₀ does not move
            the fixed point, and the K samples buy variance reduction only. On replayed or offline rows V̂₀ enters the
            fixed point (the optimum with V̂₀ ≠ V* is not π*): there the K samples buy correctness, and more of them
            (or `value_refresh_steps`) lower the log-mean-exp's downward (Jensen) bias. `0`: no reference samples,
            V̂₀ = 0 (a zero baseline); allowed only on-policy (`off_policy_ratio: 0`).
        value_refresh_steps (`int`, defaults to `0`):
            When > 0, a prompt met again at least this many steps after its last estimate gets K more reference
            samples, pooled with the earlier ones. 0: estimate once.
        off_policy_ratio (`float`, defaults to `0.0`):
            Share of off-policy rows in the loss. Per process, B·r/(1−r) rows (rounded to a multiple of
            `steps_per_generation`) are appended to the B fresh ones; 0.5 is "half-online". 1.0: B off-policy rows and
            the fresh samples only measured (logs), not trained on.
        replay_buffer_size (`int`, defaults to `0`):
            Capacity of the FIFO buffer of earlier fresh samples (prompt, completion ids, reward); 0: no replay.
        offline_share (`float`, defaults to `0.5`):
            Share of the off-policy rows drawn from the offline pairs when a replay buffer exists too.
        offline_completion_column (`str`, *optional*):
            Use this column of the training dataset (e.g. `"answer"`, the reference solutions; a list column such as
            `"solutions"` gives one pair per item) as offline completions, scored by the reward functions, when no
            `offline_dataset` is given to the trainer.
    """

    spo_beta: float = field(
        default=0.2, metadata={"help": "SPO temperature beta (not TRL's KL coefficient)."}
    )
    spo_loss_type: str = field(default="mse", metadata={"help": "Terminal loss.", "choices": SPO_LOSSES})
    value_samples: int = field(default=8, metadata={"help": "Reference samples per prompt for V0 (K)."})
    value_refresh_steps: int = field(
        default=0,
        metadata={"help": "Pool K more reference samples for a prompt after this many steps (0: never)."},
    )
    off_policy_ratio: float = field(
        default=0.0,
        metadata={"help": "Share of off-policy rows in the loss (0.5: half-online; 1: offline only)."},
    )
    replay_buffer_size: int = field(default=0, metadata={"help": "Replay buffer capacity (0: no replay)."})
    offline_share: float = field(
        default=0.5,
        metadata={"help": "Share of off-policy rows from the offline pairs when replay exists too."},
    )
    offline_completion_column: str | None = field(
        default=None, metadata={"help": "Training-set column used as offline completions (e.g. 'answer')."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.beta != 0.0:
            raise ValueError(
                f"SPO regularises towards the reference policy through spo_beta; TRL's KL coefficient beta must be "
                f"0, got {self.beta}"
            )
        if self.spo_beta <= 0:
            raise ValueError(f"spo_beta must be positive, got {self.spo_beta}")
        if self.spo_loss_type not in SPO_LOSSES:
            raise ValueError(f"spo_loss_type must be one of {SPO_LOSSES}, got {self.spo_loss_type!r}")
        if self.value_samples < 0:
            raise ValueError(f"value_samples must be >= 0, got {self.value_samples}")
        if self.value_samples == 0 and self.off_policy_ratio > 0:
            raise ValueError(
                "value_samples 0 (V̂₀ = 0) is supported on-policy only: on off-policy rows V̂₀ moves the fixed point, "
                f"so off_policy_ratio {self.off_policy_ratio} needs value_samples >= 1"
            )
        if self.value_refresh_steps < 0 or self.replay_buffer_size < 0:
            raise ValueError("value_refresh_steps and replay_buffer_size must be >= 0")
        if not 0.0 <= self.off_policy_ratio <= 1.0 or not 0.0 <= self.offline_share <= 1.0:
            raise ValueError(
                f"off_policy_ratio and offline_share must be in [0, 1], got {self.off_policy_ratio}, "
                f"{self.offline_share}"
            )


def reference_generation_config(
    max_new_tokens: int, temperature: float, pad_token_id: int, eos_token_id
) -> GenerationConfig:
    """Sampling from π_ref itself at `temperature`: every field that could reshape the distribution is set to its
    neutral value. (transformers fills each field left unset from the checkpoint's `generation_config.json`, e.g.
    Qwen2.5 instruct's `repetition_penalty: 1.05`; V̂₀ would then be estimated from a distribution π_ref's
    log-probs do not describe. `checkpoint_generation_defaults_ignored` covers the fields whose only neutral value
    is None (= unset), such as `min_p` and `min_new_tokens`.)"""
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        min_length=0,
        do_sample=True,
        num_beams=1,
        temperature=temperature,
        top_p=1.0,
        top_k=0,
        typical_p=1.0,
        epsilon_cutoff=0.0,
        eta_cutoff=0.0,
        repetition_penalty=1.0,
        encoder_repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        encoder_no_repeat_ngram_size=0,
        guidance_scale=1.0,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
    )


@contextlib.contextmanager
def checkpoint_generation_defaults_ignored(model):
    """While sampling π_ref: the model's own generation config (loaded from the checkpoint) replaced by a blank one,
    so that fields with no neutral value (`bad_words_ids`, `suppress_tokens`, `sequence_bias`, `forced_*_token_id`,
    `exponential_decay_length_penalty`, `top_h`, watermarking, ...) are not filled in from it either."""
    saved = model.generation_config
    model.generation_config = GenerationConfig()
    try:
        yield model
    finally:
        model.generation_config = saved


def prompt_key(prompt) -> str:
    """A stable text key of a prompt (conversational or plain) for the V̂₀ cache."""
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def _one_row_per_item(batch: dict, column: str) -> dict:
    """Batched map: a row whose `column` holds a list of completions becomes one row per completion."""
    out = {key: [] for key in batch}
    for i, items in enumerate(batch[column]):
        for item in items:
            for key in batch:
                out[key].append(item if key == column else batch[key][i])
    return out


def _cat_padded(a: torch.Tensor, b: torch.Tensor, side: str, value) -> torch.Tensor:
    """Stack two (N, L) tensors of different widths, padding on `side`."""
    width = max(a.shape[1], b.shape[1])

    def widen(t):
        extra = width - t.shape[1]
        return F.pad(t, (extra, 0) if side == "left" else (0, extra), value=value)

    return torch.cat([widen(a), widen(b.to(a.device, a.dtype))])


class SPOTrainer(CurriculumMixin, GRPOTrainer):
    """[`trl.GRPOTrainer`] trained with SPO's soft-Q terminal regression on fresh and off-policy sequences (module
    docstring; [`SPOConfig`]). `offline_dataset`: optional rows with `prompt`, `completion` and the reward
    functions' columns."""

    _tag_names = ["trl", "trl-ext", "spo"]
    _name = "SPO"
    _paper = {
        "title": "Soft Policy Optimization: Online Off-Policy RL for Sequence Models",
        "id": "2503.05453",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{cohen2025soft,
                title        = {{Soft Policy Optimization: Online Off-Policy RL for Sequence Models}},
                author       = {Taco Cohen and David W. Zhang and Kunhao Zheng and Yunhao Tang and Remi Munos and Gabriel Synnaeve},
                year         = 2025,
                eprint       = {arXiv:2503.05453},
            }"""),
    }

    def __init__(self, model, reward_funcs, args: SPOConfig, *rest, offline_dataset=None, **kwargs):
        if not isinstance(args, SPOConfig):
            raise ValueError(f"SPOTrainer needs args=SPOConfig(...), got {type(args).__name__}")
        args.beta = 1.0  # have GRPO build π_ref (module docstring); its KL term is switched off below
        try:
            super().__init__(model, reward_funcs, args, *rest, **kwargs)
        finally:
            args.beta = 0.0
        self.beta = 0.0
        if self.tools or self.environment_factories is not None:
            raise ValueError(
                "SPOTrainer trains on single-turn text completions: tools and environments unsupported"
            )
        self._values: dict[str, dict] = {}  # prompt key → {"rewards": [...], "step": last estimate}
        # (prompt key, prompt ids, completion ids, reward) of earlier fresh samples
        self._replay: deque = deque(maxlen=args.replay_buffer_size or None)
        self._offline = self._offline_pairs(offline_dataset)
        self._offline_rewards: dict[int, float] = {}
        self._draws = torch.Generator().manual_seed(args.seed)
        if args.off_policy_ratio > 0 and not (args.replay_buffer_size or self._offline is not None):
            raise ValueError(
                "off_policy_ratio > 0 needs a replay buffer (replay_buffer_size) or offline pairs"
            )
        self._reference_generation = reference_generation_config(
            self.max_completion_length, self.temperature, self._tokenizer.pad_token_id, self.eos_token_ids
        )
        self._rewards_per_func = None

    def _offline_pairs(self, offline_dataset):
        column = "completion"
        if offline_dataset is None and self.args.offline_completion_column:
            offline_dataset, column = self.train_dataset, self.args.offline_completion_column
        if offline_dataset is None:
            return None
        missing = {"prompt", column} - set(offline_dataset.column_names)
        if missing:
            raise ValueError(
                f"offline pairs need the columns {sorted(missing)}; found {offline_dataset.column_names}"
            )
        first = offline_dataset[0][column] if len(offline_dataset) else None
        # a list of completions per row (e.g. `solutions`): one pair per completion
        if isinstance(first, list) and all(isinstance(v, str) for v in first):
            offline_dataset = offline_dataset.map(
                _one_row_per_item, batched=True, fn_kwargs={"column": column}
            )
        if len(offline_dataset) == 0:
            raise ValueError("the offline dataset is empty")
        return (
            offline_dataset.rename_column(column, "completion") if column != "completion" else offline_dataset
        )

    # ------------------------------------------------------------------------------------------ π_ref

    @contextlib.contextmanager
    def _reference_model(self, for_generation: bool):
        """π_ref: the frozen copy, or (PEFT) the policy with its adapter disabled ("ref" adapter if one exists)."""
        if self.ref_model is not None:
            if for_generation:
                with unwrap_model_for_generation(self.ref_model, self.accelerator) as ref:
                    yield ref
            else:
                yield self.ref_model
            return
        unwrapped = self.accelerator.unwrap_model(self.model)
        with use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None):
            if for_generation:
                with unwrap_model_for_generation(self.model_wrapped, self.accelerator) as model:
                    yield model
            else:
                yield self.model

    def _sample_reference(self, prompt_ids: list[list[int]]) -> list[list[int]]:
        """Completions (token ids up to and including EOS) sampled from π_ref, in chunks of a generation batch."""
        device = self.accelerator.device
        chunk = self.args.per_device_train_batch_size * self.args.steps_per_generation
        completions = []
        for start in range(0, len(prompt_ids), chunk):
            prompts = [torch.tensor(ids) for ids in prompt_ids[start : start + chunk]]
            input_ids = pad(prompts, padding_value=self._tokenizer.pad_token_id, padding_side="left").to(
                device
            )
            attention_mask = pad([torch.ones_like(p) for p in prompts], padding_value=0, padding_side="left")
            with (
                self._reference_model(for_generation=True) as ref,
                checkpoint_generation_defaults_ignored(ref),
                torch.no_grad(),
            ):
                out = ref.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask.to(device),
                    generation_config=self._reference_generation,
                )
            for row in out[:, input_ids.shape[1] :].tolist():
                ends = [i for i, token in enumerate(row) if token in self.eos_token_ids]
                completions.append(row[: ends[0] + 1] if ends else row)
        return completions

    def _reference_logps(self, ids, attention_mask, logits_to_keep, batch_size) -> torch.Tensor:
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            self._reference_model(for_generation=False) as ref,
        ):
            logps, _, _ = self._get_per_token_logps_and_entropies(
                ref, ids, attention_mask, logits_to_keep, batch_size=batch_size
            )
        return logps

    # ---------------------------------------------------------------------------------- scoring, V̂₀

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards_per_func  # (global rows, n_funcs), gathered by GRPO
        return rewards_per_func

    def _total_rewards(self, rewards_per_func: torch.Tensor) -> torch.Tensor:
        """Weighted sum over the reward functions; NaN where every function abstained (GRPO's convention)."""
        return total_rewards(rewards_per_func, self.reward_weights).float().cpu()

    def _score_sharded(self, examples: list[dict], completions: list[list[int]]) -> list[float]:
        """Rewards of this process's (example, completion ids) pairs through GRPO's reward path, which gathers:
        every process must call it with the same number of pairs. Returns the rewards of all processes' pairs."""
        texts = self._tokenizer.batch_decode(completions, skip_special_tokens=True)
        prompts = [x["prompt"] for x in examples]
        if is_conversational(examples[0]):
            texts = [[{"role": "assistant", "content": t}] for t in texts]
        # Reference samples and offline pairs are not the policy's rollouts: the curriculum must not count them.
        rewards = self._total_rewards(
            self._calculate_rewards(not_counted(examples), prompts, texts, completions)
        )
        self._pending_extra_logs.clear()  # reward-function logs belong to the fresh samples' table only
        self._pending_metrics.clear()
        return rewards.tolist()

    @staticmethod
    def _shard_of(items: list, rank: int, world: int) -> list:
        """Process `rank`'s share of a list every process holds, padded (by cycling) to a multiple of `world`:
        every process gets the same number of items, as GRPO's gathering reward path requires."""
        padded = items + [items[i % len(items)] for i in range(-len(items) % world)]
        return padded[rank::world]

    def _shard(self, items: list) -> list:
        return self._shard_of(items, self.accelerator.process_index, self.accelerator.num_processes)

    def _ensure_values(self, examples: list[dict]) -> None:
        """Estimate V̂₀ for the prompts of `examples` (all processes' together) that have none or a stale one."""
        if self.args.value_samples == 0:  # on-policy with V̂₀ = 0: no reference samples
            return
        step, refresh = self.state.global_step, self.args.value_refresh_steps
        wanted = {}
        for example in gather_object([{**x} for x in examples]):
            key = prompt_key(example["prompt"])
            entry = self._values.get(key)
            if key not in wanted and (entry is None or (refresh and step - entry["step"] >= refresh)):
                wanted[key] = example
        if not wanted:
            return
        keys = list(wanted)
        mine = self._shard(keys)
        k = self.args.value_samples
        prompt_ids = self._tokenize_prompts([wanted[key]["prompt"] for key in mine])[0]
        completions = self._sample_reference([ids for ids in prompt_ids for _ in range(k)])
        rewards = self._score_sharded([wanted[key] for key in mine for _ in range(k)], completions)
        world = self.accelerator.num_processes
        shards = [self._shard_of(keys, rank, world) for rank in range(world)]
        per_process = len(mine) * k
        unscorable = 0
        for rank, shard in enumerate(shards):
            block = rewards[rank * per_process : (rank + 1) * per_process]
            for i, key in enumerate(shard):
                samples = block[i * k : (i + 1) * k]
                scorable = [r for r in samples if not math.isnan(r)]
                unscorable += len(samples) - len(scorable)
                # none scorable: V̂₀ stays unknown (or as it was), estimated again when the prompt is met again
                if not scorable:
                    continue
                entry = self._values.setdefault(key, {"rewards": [], "step": step})
                entry["rewards"] += scorable
                entry["step"] = step
        drawn = sum(len(shard) for shard in shards) * k
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["spo/reference_frac_unscorable"].append(unscorable / drawn)

    def soft_value(self, prompt) -> float:
        """The cached V̂₀ of a prompt (conversational or plain)."""
        return self._soft_value_of_key(prompt_key(prompt))

    def _soft_value_of_key(self, key: str) -> float:
        """V̂₀ of a prompt; NaN (unknown) when none of its reference samples was scorable."""
        if self.args.value_samples == 0:
            return 0.0
        if key not in self._values:
            return math.nan
        rewards = torch.tensor([self._values[key]["rewards"]], dtype=torch.float64)
        return spo_soft_value(rewards, self.args.spo_beta).item()

    # ------------------------------------------------------------------------------ off-policy rows

    def _off_policy_count(self, fresh: int) -> int:
        ratio, split = self.args.off_policy_ratio, self.args.steps_per_generation
        if ratio == 0:
            return 0
        wanted = fresh if ratio == 1 else fresh * ratio / (1 - ratio)
        # a multiple of steps_per_generation: GRPO splits the batch into that many equal parts
        return max(split, round(wanted / split) * split)

    def _draw_off_policy(self, count: int) -> list[tuple]:
        """This process's `count` off-policy rows (key, prompt ids, completion ids, reward), drawn (with
        replacement) by the shared generator: every process draws the same global list and takes its slice."""
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        total = count * world
        if total == 0:
            return []
        if self._offline is None:
            n_offline = 0
        elif not self._replay:
            n_offline = total
        else:
            n_offline = round(total * self.args.offline_share)
        if n_offline < total and not self._replay:
            return []  # replay only, and nothing replayed yet: the first batch is fresh only
        offline_idx = torch.randint(
            len(self._offline or ()) or 1, (n_offline,), generator=self._draws
        ).tolist()
        replay_idx = torch.randint(
            len(self._replay) or 1, (total - n_offline,), generator=self._draws
        ).tolist()
        drawn = [("offline", i) for i in offline_idx] + [("replay", i) for i in replay_idx]
        drawn = [drawn[i] for i in torch.randperm(total, generator=self._draws).tolist()]
        self._score_offline(sorted({i for source, i in drawn if source == "offline"}))
        mine = drawn[rank * count : (rank + 1) * count]
        offline = [self._offline[i] for source, i in mine if source == "offline"]
        self._ensure_values(offline)
        prompt_ids = iter(self._tokenize_prompts([x["prompt"] for x in offline])[0] if offline else [])
        rows = []
        for source, i in mine:
            if source == "replay":
                rows.append(self._replay[i])
            else:
                example = self._offline[i]
                completion = self._completion_ids(example["completion"])
                rows.append(
                    (prompt_key(example["prompt"]), next(prompt_ids), completion, self._offline_rewards[i])
                )
        return rows

    def _completion_ids(self, completion) -> list[int]:
        text = completion if isinstance(completion, str) else completion[-1]["content"]
        ids = self._tokenizer(text, add_special_tokens=False)["input_ids"] + [self.eos_token_ids[0]]
        return ids[: self.max_completion_length]

    def _score_offline(self, indices: list[int]) -> None:
        """Score the offline pairs not yet scored (the same list on every process), sharded over the processes."""
        # an unscorable pair (NaN) is scored again when drawn again
        todo = [i for i in indices if math.isnan(self._offline_rewards.get(i, math.nan))]
        if not todo:
            return
        world = self.accelerator.num_processes
        mine = self._shard(todo)
        examples = [self._offline[i] for i in mine]
        rewards = self._score_sharded(examples, [self._completion_ids(x["completion"]) for x in examples])
        for rank in range(world):
            for i, reward in zip(self._shard_of(todo, rank, world), rewards[rank * len(mine) :]):
                self._offline_rewards[i] = reward

    # --------------------------------------------------------------------------------------- the batch

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        unsupported = set(out) - _GRPO_KEYS - _UNUSED_KEYS
        if unsupported:
            raise ValueError(
                f"SPOTrainer supports text completions only; the batch has {sorted(unsupported)}"
            )
        for key in _UNUSED_KEYS:
            out.pop(key, None)
        mode = "train" if self.model.training else "eval"
        device, local = self.accelerator.device, len(inputs)
        rank = self.accelerator.process_index
        rewards = self._total_rewards(self._rewards_per_func)[rank * local : (rank + 1) * local]
        scored = ~torch.isnan(rewards)
        rewards = torch.nan_to_num(rewards, nan=0.0)
        keys = [prompt_key(x["prompt"]) for x in inputs]

        off = self._draw_off_policy(self._off_policy_count(local)) if mode == "train" else []
        self._ensure_values(inputs)
        if mode == "train" and self.args.replay_buffer_size:
            fresh_rows = [
                (key, ids[pm.bool()].tolist(), c[cm.bool()].tolist(), r.item())
                for key, ids, pm, c, cm, r, ok in zip(
                    keys,
                    out["prompt_ids"],
                    out["prompt_mask"],
                    out["completion_ids"],
                    out["completion_mask"],
                    rewards,
                    scored,
                )
                if ok and cm.any()
            ]
            self._replay.extend(tuple(row) for rows in gather_object([fresh_rows]) for row in rows)

        v0 = torch.tensor([self.soft_value(x["prompt"]) for x in inputs], dtype=torch.float64)
        # A row with an unscorable reward or an unknown V̂₀ (no scorable reference sample) is left out of the loss.
        fresh = (scored & ~v0.isnan()).float()
        # off_policy_ratio 1: the fresh rows are only measured
        in_loss = fresh * (0.0 if self.args.off_policy_ratio == 1 else 1.0)
        if off:
            pad_id = self._tokenizer.pad_token_id
            off_prompts = pad(
                [torch.tensor(row[1]) for row in off], padding_value=pad_id, padding_side="left"
            )
            off_completions = pad(
                [torch.tensor(row[2]) for row in off], padding_value=pad_id, padding_side="right"
            )
            off_prompt_mask = pad([torch.ones(len(row[1]), dtype=torch.long) for row in off], 0, "left")
            off_completion_mask = pad([torch.ones(len(row[2]), dtype=torch.long) for row in off], 0, "right")
            out["prompt_ids"] = _cat_padded(out["prompt_ids"], off_prompts, "left", pad_id)
            out["prompt_mask"] = _cat_padded(out["prompt_mask"], off_prompt_mask, "left", 0)
            out["completion_ids"] = _cat_padded(out["completion_ids"], off_completions, "right", pad_id)
            out["completion_mask"] = _cat_padded(out["completion_mask"], off_completion_mask, "right", 0)
            off_rewards = torch.tensor([row[3] for row in off])
            off_v0 = torch.tensor([self._soft_value_of_key(row[0]) for row in off], dtype=torch.float64)
            rewards = torch.cat([rewards, torch.nan_to_num(off_rewards, nan=0.0)])
            in_loss = torch.cat([in_loss, (~off_rewards.isnan() & ~off_v0.isnan()).float()])
            fresh = torch.cat([fresh, torch.zeros(len(off))])
            v0 = torch.cat([v0, off_v0])

        ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
        attention_mask = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
        batch_size = (
            self.args.per_device_train_batch_size if mode == "train" else self.args.per_device_eval_batch_size
        )
        out["ref_per_token_logps"] = self._reference_logps(
            ids, attention_mask, out["completion_ids"].shape[1], batch_size
        )
        out["spo_rewards"] = rewards.to(device)
        known_v0 = ~v0.isnan()
        out["spo_v0"] = torch.nan_to_num(v0, nan=0.0).to(device, torch.float32)
        out["spo_in_loss"] = in_loss.to(device)
        out["spo_fresh"] = fresh.to(device)

        metrics = self._metrics[mode]
        totals = self.accelerator.reduce(
            torch.tensor(
                [
                    in_loss[local:].sum().item(),
                    in_loss.sum().item(),
                    v0[known_v0].sum().item(),
                    known_v0.sum().item(),
                    (~scored).sum().item(),
                    local,
                ],
                device=device,
            ),
            reduction="sum",
        ).tolist()
        metrics["spo/off_policy_share"].append(totals[0] / max(totals[1], 1.0))
        metrics["spo/v0"].append(totals[2] / totals[3] if totals[3] else math.nan)
        metrics["spo/frac_unscorable"].append(totals[4] / totals[5])
        if self.args.value_samples:
            keys = set(gather_object(keys))
            reference = [r for key in keys if key in self._values for r in self._values[key]["rewards"]]
            metrics["spo/reference_reward"].append(sum(reference) / len(reference) if reference else math.nan)
        metrics["spo/value_cache_size"].append(float(len(self._values)))
        metrics["spo/replay_size"].append(float(len(self._replay)))
        return out

    # ---------------------------------------------------------------------------------------- the loss

    def _compute_loss(self, model, inputs):
        completion_ids, mask = inputs["completion_ids"], inputs["completion_mask"]
        ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], mask], dim=1)
        logps, entropies, _ = self._get_per_token_logps_and_entropies(
            model, ids, attention_mask, completion_ids.shape[1], compute_entropy=True
        )
        ref = inputs["ref_per_token_logps"]
        q = spo_terminal_q(logps, ref, mask, inputs["spo_v0"], self.args.spo_beta)
        rewards, in_loss = inputs["spo_rewards"], inputs["spo_in_loss"].bool()
        if in_loss.any():
            loss = spo_loss(q[in_loss], rewards[in_loss], self.args.spo_loss_type)
        else:  # a micro-batch of measured-only rows: zero, but through the graph (DDP expects every gradient)
            loss = 0.0 * q.sum()
        mode = "train" if self.model.training else "eval"
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps

        fresh = inputs["spo_fresh"].bool()
        log_ratio = ((logps.detach().float() - ref.float()) * mask).sum(dim=1)
        gap = q.detach() - rewards
        stats = torch.stack(
            [
                log_ratio[fresh].sum(),
                gap[fresh].sum(),
                fresh.sum().float(),
                (entropies.detach() * mask).sum(),
                mask.sum().float(),
            ]
        )
        stats = self.accelerator.reduce(stats, reduction="sum").tolist()
        metrics = self._metrics[mode]
        if stats[2]:
            metrics["spo/kl_ref"].append(stats[0] / stats[2])
            metrics["spo/calibration_gap"].append(stats[1] / stats[2])
        metrics["entropy"].append(stats[3] / max(stats[4], 1.0))
        return loss

    # ------------------------------------------------------------------------------------ checkpoints

    def _spo_state(self) -> dict:
        return {
            "values": self._values,
            "replay": [list(row) for row in self._replay],
            "offline_rewards": {str(i): r for i, r in self._offline_rewards.items()},
            "generator": self._draws.get_state().tolist(),
        }

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            tmp = os.path.join(folder, STATE_FILE + ".tmp")
            with open(tmp, "w") as f:
                json.dump(self._spo_state(), f)
            os.replace(tmp, os.path.join(folder, STATE_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        path = os.path.join(checkpoint, STATE_FILE) if checkpoint else None
        if path and os.path.exists(path):
            with open(path) as f:
                state = json.load(f)
            self._values = state["values"]
            self._replay = deque((tuple(row) for row in state["replay"]), maxlen=self._replay.maxlen)
            self._offline_rewards = {int(i): r for i, r in state["offline_rewards"].items()}
            self._draws.set_state(torch.tensor(state["generator"], dtype=torch.uint8))
