"""GuideTrainer: GRPO that regenerates all-fail groups with a hint and trains the hint-free policy on them.

Paper: "Adaptive Guidance Accelerates Reinforcement Learning of Reasoning Models" (Nath et al. 2025,
arXiv 2506.13923); the variant implemented is the one of the authors' verl fork as recorded in
ALGORITHMS.md §3:

1. Generate a group of `num_generations` samples per prompt as GRPO does and score them.
2. A group none of whose samples beats `success_threshold` and whose row has a hint is *guided*: the trainer's
   own generation path (`GRPOTrainer._generate`: transformers, vLLM colocate or server) samples a new group from
   the hinted prompt `q ⊕ h` (`hint_template`), and its samples replace `guided_share` of the failed group.
3. The batch keeps the hint-free `prompt_ids`; rewards and group advantages are computed by GRPO after the
   replacement. The behaviour log-probs of a guided sample are its log-probs under the hinted prompt, so its
   token ratio is ρ = π_θ(o_t | q, o_<t) / π_old(o_t | q ⊕ h, o_<t).
4. Off-policy ratios are shaped, not clipped (`off_policy_shaping="shape"`): the guided token's objective is
   A·ρ/(ρ+γ); on-policy tokens keep GRPO's clipped surrogate. `"clip"` gives guided tokens the plain clipped
   surrogate instead.

γ, exactly: the `shaping_percentile` (90th) of ρ over the completion tokens of the guided rows of one micro-batch
(`per_device_train_batch_size` rows) on this process, padding excluded, recomputed at every loss call from the
current log-probs and detached; no clamp. The authors' code (ALGORITHMS.md §3, §7) takes it over all positions of
the off-policy rows of a micro-batch of one sequence per GPU — so in effect per guided sequence — padding included,
clamped at ≥ 1e-4. The differences: here γ pools the guided tokens of several sequences (a sequence's tokens are
shaped relative to its micro-batch neighbours, not only to itself), and padding positions (ratio exp(0) = 1 there)
do not pull γ towards 1. With `per_device_train_batch_size: 1` the scope matches theirs except for the padding.

Unverified: the hint template text. The authors re-roll a guided group in full (`guided_share=1`, the default) and
filter groups DAPO-style, which is not done here (a guided group that fails again keeps zero advantages, as in
GRPO).

Unscorable samples (every reward function returned None, e.g. a verifier's `sandbox_error`) are neither successes
nor failures: a group is guided only when it has a scorable sample and none of its scorable samples succeeds (a group
whose samples are all unscorable is unknown: not guided, not counted as failed or solved), and
`guide/guided_success_rate` counts scorable guided samples only (`guide/frac_unscorable`,
`guide/unknown_group_share`). Their advantages are TRL 1.16's: GRPO leaves an unscorable sample out of its group's
mean and std and gives it advantage 0 (it still counts in the `loss_type` normalisation and, with `beta > 0`, in the
KL term: a smaller step, not a bias; changing that would mean replacing GRPO's loss, which is not done).

How it differs from TRL's `trl/experimental/sdpo` (self-distillation with a privileged context): SDPO never
samples from the privileged context; its teacher is the model itself conditioned on a successful rollout of the
same group (or on environment feedback), so it needs at least one success or feedback, and the student is
trained to match the teacher's token distribution on the student's own samples (a distillation loss). Guide acts
exactly where a group has no success, takes its context from a dataset hint, *samples* from the hinted context
and trains those samples with GRPO's policy gradient and an importance ratio back to the hint-free prompt.

Cost: a step with no guided group costs what GRPO's does (its rewards are computed once). A step with one costs a
second generation of the guided groups (whole groups; under several processes, padded to the same count on each),
a forward pass for their hinted log-probs and a second scoring of the batch. With vLLM, guided rows get no
vLLM-vs-trainer importance correction (their sampling log-probs are masked): their ratio is Guide's.

Implementation: `_generate` regenerates (every process joins each collective generation call, padding with
discarded samples where processes have fewer guided rows), `_calculate_rewards` reuses the first scoring when
nothing was replaced, `_generate_and_score_completions` stores the hinted behaviour log-probs, and the guided
tokens' objective is applied through `_compute_loss` by rewriting (old log-probs, advantages) from the current
log-probs so that GRPO's own surrogate has the shaped objective's exact gradient (see `guided_loss_inputs`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import string
import textwrap
from dataclasses import dataclass, field

import torch
from accelerate.utils import gather_object
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import logging
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import pad

from trl_ext.execution.backends import ExecutionArguments
from trl_ext.objectives import group_outcomes, total_rewards
from trl_ext.trainers.cures import CurriculumArguments, CurriculumMixin, not_counted

SHAPINGS = ("shape", "clip")
SHAPED_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
STATE_FILE = "guide_state.json"

logger = logging.get_logger(__name__)


def shape_ratio(ratio: torch.Tensor, gamma: float | torch.Tensor) -> torch.Tensor:
    """The authors' off-policy ratio shaping ρ ↦ ρ / (ρ + γ)."""
    return ratio / (ratio + gamma)


def shaping_gamma(ratios: torch.Tensor, percentile: float) -> torch.Tensor:
    """γ: the `percentile` (0-100] of the off-policy ratios (a 1-D tensor, at least one value)."""
    return torch.quantile(ratios.double(), percentile / 100.0).to(ratios.dtype)


def guided_loss_inputs(
    per_token_logps: torch.Tensor,
    old_per_token_logps: torch.Tensor,
    advantages: torch.Tensor,
    guided: torch.Tensor,
    mask: torch.Tensor,
    shaping: str,
    percentile: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (old log-probs, advantages) to hand to GRPO's surrogate for a micro-batch with guided rows.

    `per_token_logps` (B, T): current log-probs under the hint-free prompt; `old_per_token_logps` (B, T): the
    behaviour log-probs (under the hint for guided rows), NaN on rows where GRPO keeps none (it then uses the
    current ones, as here); `advantages` (B,) or (B, T); `guided` (B,) bool; `mask` (B, T) the loss mask.
    Returns (old (B, T), advantages (B, T), the guided tokens' ratios ρ = exp(logp - old) as a 1-D tensor).

    With `shaping="shape"` a guided token's objective is A·f(ρ), f(ρ) = ρ/(ρ+γ), unclipped. GRPO's surrogate gives
    a token with old = logp.detach() the value A' (ratio 1, inside the clip range) and the gradient A'·∇logp, so
    A' = A·f'(ρ)·ρ = A·γρ/(ρ+γ)² gives exactly ∇(A·f(ρ)) — at any θ, because ρ is recomputed from the current
    log-probs at every loss call. γ is detached (a batch statistic). With `"clip"`, rows keep their old log-probs.
    """
    current = per_token_logps.detach()
    old = torch.where(torch.isnan(old_per_token_logps), current, old_per_token_logps)
    advantages = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    advantages = advantages.expand_as(current)
    rows = guided.view(-1, 1).expand_as(current)
    ratio = torch.exp(current - old)
    ratios = ratio[rows & mask.bool()]
    if shaping == "shape" and ratios.numel() > 0:
        gamma = shaping_gamma(ratios, percentile)
        # γρ/(ρ+γ)² in log space: finite for any finite log-ratio (padding tokens included).
        log_ratio, log_gamma = current - old, torch.log(gamma)
        weight = torch.exp(log_gamma + log_ratio - 2 * torch.logaddexp(log_ratio, log_gamma))
        advantages = torch.where(rows, advantages * weight, advantages)
        old = torch.where(rows, current, old)
    return old, advantages, ratios


def hinted_prompt(prompt, hint: str, template: str):
    """The guided context q ⊕ h: `template` formatted with the prompt text (the last message's content for a
    conversational prompt) and the hint."""
    if isinstance(prompt, str):
        return template.format(prompt=prompt, hint=hint)
    last = prompt[-1]
    if not isinstance(last.get("content"), str):
        raise ValueError("Guide hints need a prompt whose last message has text content")
    return [*prompt[:-1], {**last, "content": template.format(prompt=last["content"], hint=hint)}]


def check_hints(hints: list, answers: dict[str, list]) -> None:
    """Refuse a hint that contains its row's reference answer verbatim (as a whole token): `answers` maps a column
    name to its values (str, list of str or None), row-aligned with `hints`."""
    for row, hint in enumerate(hints):
        if not hint:
            continue
        for column, values in answers.items():
            value = values[row]
            for answer in value if isinstance(value, list) else [value]:
                text = str(answer).strip() if answer is not None else ""
                if text and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", hint):
                    raise ValueError(
                        f"row {row}: its hint contains the reference answer (column {column!r}) verbatim: "
                        f"{hint!r}. A hint must not give the answer away"
                    )


def prompt_key(prompt) -> str:
    """A stable identity of a prompt across steps and processes."""
    return hashlib.sha1(json.dumps(prompt, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class GuideConfig(ExecutionArguments, CurriculumArguments, GRPOConfig):
    r"""
    Configuration for [`GuideTrainer`]. Inherits every [`trl.GRPOConfig`] parameter.

    Parameters:
        success_threshold (`float`, defaults to `0.5`):
            A sample succeeds when its total reward exceeds this; a group with scorable samples and no success is
            guided (if its row has a hint). Unscorable samples are neither successes nor failures.
        hint_column (`str`, defaults to `"hint"`):
            Dataset column holding each row's hint; rows whose hint is missing or empty are trained as in GRPO. A train
            dataset without this column is refused (the run would be GRPO's), one whose hints are all empty warned.
        hint_template (`str`, defaults to `"{prompt}\n\nHint: {hint}"`):
            The guided prompt, from `{prompt}` (the last message's text) and `{hint}`.
        guided_share (`float`, defaults to `1.0`):
            Share of a guided group's samples replaced by hinted samples (the first `round(share · G)`, at least
            one). A whole hinted group is always generated (vLLM server mode needs groups of identical prompts).
        off_policy_shaping (`str`, defaults to `"shape"`):
            `"shape"`: guided tokens get the unclipped objective A·ρ/(ρ+γ) (the authors'); `"clip"`: GRPO's clipped
            surrogate with the hinted behaviour log-probs.
        shaping_percentile (`float`, defaults to `90.0`):
            γ is this percentile of ρ over the guided rows' completion tokens (padding excluded) of the micro-batch on
            this process, at every loss call (module docstring: how this differs from the authors' per-sequence γ).
        answer_columns (`list[str]`, defaults to `["answer", "program", "solutions"]`):
            Columns holding a row's reference answer(s); a hint containing one verbatim is refused at start.
    """

    success_threshold: float = field(
        default=0.5, metadata={"help": "Reward above which a sample counts as a success."}
    )
    hint_column: str = field(default="hint", metadata={"help": "Dataset column holding the hints."})
    hint_template: str = field(
        default="{prompt}\n\nHint: {hint}",
        metadata={"help": "Guided prompt from {prompt} (last message text) and {hint}."},
    )
    guided_share: float = field(
        default=1.0, metadata={"help": "Share of a failed group's samples replaced by hinted samples."}
    )
    off_policy_shaping: str = field(
        default="shape", metadata={"help": "shape (ρ/(ρ+γ), unclipped) or clip.", "choices": SHAPINGS}
    )
    shaping_percentile: float = field(
        default=90.0, metadata={"help": "γ = this percentile of the off-policy ratios."}
    )
    answer_columns: list[str] = field(
        default_factory=lambda: ["answer", "program", "solutions"],
        metadata={"help": "Columns with reference answers that a hint must not contain."},
    )

    def __post_init__(self):
        super().__post_init__()
        fields = {name for _, name, _, _ in string.Formatter().parse(self.hint_template) if name is not None}
        if fields != {"prompt", "hint"}:
            raise ValueError(
                f"hint_template must use exactly the fields {{prompt}} and {{hint}}, got {self.hint_template!r}"
            )
        if not 0.0 < self.guided_share <= 1.0:
            raise ValueError(f"guided_share must be in (0, 1], got {self.guided_share}")
        if self.off_policy_shaping not in SHAPINGS:
            raise ValueError(f"off_policy_shaping must be one of {SHAPINGS}, got {self.off_policy_shaping!r}")
        if not 0.0 < self.shaping_percentile <= 100.0:
            raise ValueError(f"shaping_percentile must be in (0, 100], got {self.shaping_percentile}")
        if self.off_policy_shaping == "shape" and (
            self.loss_type not in SHAPED_LOSS_TYPES or self.importance_sampling_level != "token"
        ):
            raise ValueError(
                f"off_policy_shaping='shape' needs loss_type in {SHAPED_LOSS_TYPES} and importance_sampling_level="
                f"'token' (got {self.loss_type!r}, {self.importance_sampling_level!r}); use off_policy_shaping='clip'"
            )


@dataclass
class _GuidedStep:
    """What one generation step guided: this process's rows, and the hinted prompt ids of those rows."""

    local_guided: torch.Tensor  # (local B,) bool
    hinted_prompt_ids: dict[int, list[int]]  # local row -> hinted prompt token ids
    global_guided: torch.Tensor  # (global B,) bool, for the success rate of guided samples


class GuideTrainer(CurriculumMixin, GRPOTrainer):
    """[`trl.GRPOTrainer`] with hinted regeneration of all-fail groups (module docstring; `GuideConfig`)."""

    _tag_names = ["trl", "trl-ext", "guide"]
    _name = "Guide"
    _paper = {
        "title": "Adaptive Guidance Accelerates Reinforcement Learning of Reasoning Models",
        "id": "2506.13923",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @article{nath2025guide,
                title        = {{Adaptive Guidance Accelerates Reinforcement Learning of Reasoning Models}},
                author       = {Vaskar Nath and Elaine Lau and Anisha Gunjal and Manasi Sharma and Nikhil Baharte and Sean Hendryx},
                year         = 2025,
                eprint       = {arXiv:2506.13923},
            }"""),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        columns = getattr(self.train_dataset, "column_names", None)
        if columns is not None and self.args.hint_column not in columns:
            raise ValueError(
                f"GuideTrainer: the train dataset has no `{self.args.hint_column}` column (columns: {columns}), so no "
                "group could be guided and the run would be GRPOTrainer's. Add hints, set `hint_column`, or use "
                "GRPOTrainer"
            )
        if columns is not None:
            hints = list(self.train_dataset[self.args.hint_column])
            if not any(hints):
                logger.warning(
                    f"GuideTrainer: every `{self.args.hint_column}` of the train dataset is empty: no group can be "
                    "guided, this run trains exactly as GRPOTrainer"
                )
            answers = {c: list(self.train_dataset[c]) for c in self.args.answer_columns if c in columns}
            check_hints(hints, answers)
        self._guide_batch = None  # the rows of the generation batch, for the first `_generate` call
        self._guide_step: _GuidedStep | None = None
        self._guide_cached_rewards = None
        self._guide_loss_inputs = None
        # prompt key -> solved without the hint after it was first guided; prompt keys ever solved without hint
        self.guided_prompts: dict[str, bool] = {}
        self.solved_unhinted: set[str] = set()

    # ---- generation ------------------------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        self._guide_batch = inputs if self.model.training else None
        self._guide_step = None
        out = super()._generate_and_score_completions(inputs)
        step, self._guide_step = self._guide_step, None
        if step is None:
            return out
        device = out["completion_ids"].device
        guided = step.local_guided.to(device)
        behaviour = torch.full(out["completion_ids"].shape, float("nan"), device=device)
        rows = guided.nonzero().flatten().tolist()
        # DDP's forward broadcasts buffers: every process runs it, one (discarded) row where it has no guided row.
        logps = self._hinted_logps(out, step.hinted_prompt_ids, rows or [0])
        if rows:
            behaviour[rows] = logps
        old = out.get("old_per_token_logps")
        out["old_per_token_logps"] = (
            behaviour if old is None else torch.where(guided.view(-1, 1), behaviour, old)
        )
        out["guided"] = guided
        return out

    def _hinted_logps(self, out, hinted_prompt_ids: dict[int, list[int]], rows: list[int]) -> torch.Tensor:
        """Per-token log-probs of the completions of `rows` under their hinted prompts (the current policy)."""
        device = out["completion_ids"].device
        prompts = [torch.tensor(hinted_prompt_ids.get(i, out["prompt_ids"][i].tolist())) for i in rows]
        prompt_mask = [torch.ones_like(p) for p in prompts]
        if rows and rows[0] not in hinted_prompt_ids:  # the discarded row: keep only its real tokens
            prompt_mask[0] = out["prompt_mask"][rows[0]].cpu()
        prompt_ids = pad(prompts, padding_value=self._tokenizer.pad_token_id, padding_side="left").to(device)
        prompt_mask = pad(prompt_mask, padding_value=0, padding_side="left").to(device)
        completion_ids, completion_mask = out["completion_ids"][rows], out["completion_mask"][rows]
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(
                self.model,
                torch.cat([prompt_ids, completion_ids], dim=1),
                torch.cat([prompt_mask, completion_mask], dim=1),
                completion_ids.size(1),
                batch_size=self.args.per_device_train_batch_size,
            )
        return logps

    def _generate(self, prompts: list):
        result = super()._generate(prompts)
        inputs, self._guide_batch = self._guide_batch, None
        if inputs is None:  # evaluation, or the hinted regeneration itself
            return result
        prompt_ids, completion_ids, tool_mask, completions, logprobs, extra_fields, images, tool_images = (
            result
        )
        pending = copy.deepcopy(self._pending_extra_logs), copy.deepcopy(self._pending_metrics)
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids)
        weights = self.reward_weights.to(rewards_per_func.device)
        rewards = total_rewards(rewards_per_func, weights).cpu()  # NaN: unscorable
        group_size, local = self.num_generations, len(prompts)
        start = self.accelerator.process_index * local
        hints = [x.get(self.args.hint_column) or "" for x in inputs]
        has_hint = self.accelerator.gather(
            torch.tensor([int(bool(h)) for h in hints], device=self.accelerator.device)
        )
        keys = gather_object([prompt_key(p) for p in prompts])[::group_size]
        solved, known = group_outcomes(rewards.view(-1, group_size), self.args.success_threshold)
        # A group with no scorable sample is unknown, not failed: it is neither guided nor counted.
        guided_groups = known & ~solved & has_hint.cpu().view(-1, group_size)[:, 0].bool()
        self._update_solved(keys, solved, guided_groups)

        mode_metrics = self._metrics["train"]
        mode_metrics["guide/frac_unscorable"].append(rewards.isnan().float().mean().item())
        mode_metrics["guide/unknown_group_share"].append((~known).float().mean().item())
        failed_share = (~solved[known]).float().mean().item() if known.any() else math.nan
        mode_metrics["guide/all_fail_group_share"].append(failed_share)
        mode_metrics["guide/guided_group_share"].append(guided_groups.float().mean().item())
        if self.guided_prompts:
            share = sum(self.guided_prompts.values()) / len(self.guided_prompts)
            mode_metrics["guide/guided_later_solved_unhinted"].append(share)
        mode_metrics["guide/prompts_solved_unhinted"].append(float(len(self.solved_unhinted)))
        if not guided_groups.any():
            self._guide_cached_rewards = rewards_per_func
            return result

        self._pending_extra_logs.clear()  # the rewards are recomputed after the replacement: log them once
        self._pending_extra_logs.update(pending[0])
        self._pending_metrics.clear()
        self._pending_metrics.update(pending[1])
        replaced = max(1, round(self.args.guided_share * group_size))
        in_guided_group = guided_groups.repeat_interleave(group_size)
        global_guided = in_guided_group & (torch.arange(len(in_guided_group)) % group_size < replaced)
        local_group = in_guided_group[start : start + local]
        local_guided = global_guided[start : start + local]
        regen_rows = self._regeneration_rows(local_group.nonzero().flatten().tolist(), local, group_size)
        regen_prompts = [
            hinted_prompt(prompts[i], hints[i], self.args.hint_template) if local_group[i] else prompts[i]
            for i in regen_rows
        ]
        new = super()._generate(regen_prompts)
        hinted_ids = {}
        completion_ids, completions = list(completion_ids), list(completions)
        for k, i in enumerate(regen_rows):
            if not local_guided[i] or i in hinted_ids:
                continue
            hinted_ids[i] = list(new[0][k])
            completion_ids[i], completions[i] = new[1][k], new[3][k]
            if tool_mask is not None:
                tool_mask[i] = new[2][k]
            if logprobs is not None:  # no vLLM-mismatch correction for guided rows: their ratio is Guide's
                logprobs[i] = [None] * len(new[1][k])
            for key, values in extra_fields.items():
                if isinstance(values, list):
                    values[i] = new[5][key][k]
            if tool_images:
                tool_images[i] = new[7][k]
        self._guide_step = _GuidedStep(local_guided, hinted_ids, global_guided)
        return prompt_ids, completion_ids, tool_mask, completions, logprobs, extra_fields, images, tool_images

    def _regeneration_rows(self, guided_rows: list[int], local: int, group_size: int) -> list[int]:
        """Local rows to regenerate, the same count on every process (generation gathers across processes).
        Whole groups on each process: this process's guided groups, padded with repeats of a whole group. Groups
        that straddle processes: the whole local batch (hinted where guided), so vLLM server mode sees whole groups."""
        if local % group_size:
            return list(range(local))
        most = int(
            self.accelerator.gather(torch.tensor([len(guided_rows)], device=self.accelerator.device)).max()
        )
        filler = guided_rows[:group_size] or list(range(group_size))
        return guided_rows + (filler * math.ceil(most / group_size))[: most - len(guided_rows)]

    def _update_solved(self, keys: list[str], solved: torch.Tensor, guided_groups: torch.Tensor) -> None:
        """Track, from the hint-free samples, which prompts were ever solved and which guided ones later were."""
        for key, is_solved, is_guided in zip(keys, solved.tolist(), guided_groups.tolist()):
            if is_solved:
                self.solved_unhinted.add(key)
                if key in self.guided_prompts:
                    self.guided_prompts[key] = True
            if is_guided:
                self.guided_prompts.setdefault(key, False)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        cached, self._guide_cached_rewards = self._guide_cached_rewards, None
        if cached is None and self._guide_step is not None:
            # The hint-free samples were scored (and counted by the CurES curriculum, if on) in `_generate`; this
            # second scoring, after the hinted replacement, must not count toward the prompts' success rates.
            inputs = not_counted(inputs)
        rewards_per_func = (
            cached
            if cached is not None
            else super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        )
        step = self._guide_step
        if step is not None:
            weights = self.reward_weights.to(rewards_per_func.device)
            guided = total_rewards(rewards_per_func, weights).cpu()[step.global_guided]
            guided = guided[~guided.isnan()]  # unscorable guided samples are neither successes nor failures
            success = (
                (guided > self.args.success_threshold).float().mean().item() if len(guided) else math.nan
            )
            self._metrics["train"]["guide/guided_success_rate"].append(success)
        return rewards_per_func

    # ---- loss ------------------------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs):
        if "guided" not in inputs:
            return super()._compute_loss(model, inputs)
        saved = {key: inputs[key] for key in ("old_per_token_logps", "advantages")}
        self._guide_loss_inputs = inputs
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._guide_loss_inputs = None
            inputs.update(saved)  # the buffered batch is reused when num_iterations > 1

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        out = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        inputs, self._guide_loss_inputs = self._guide_loss_inputs, None
        if inputs is None:
            return out
        # The first call inside `_compute_loss`: the current log-probs under the hint-free prompt. GRPO reads the
        # old log-probs and advantages from `inputs` after this call.
        mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)
        old, advantages, ratios = guided_loss_inputs(
            out[0],
            inputs["old_per_token_logps"],
            inputs["advantages"],
            inputs["guided"],
            mask,
            self.args.off_policy_shaping,
            self.args.shaping_percentile,
        )
        inputs["old_per_token_logps"], inputs["advantages"] = old, advantages
        device = ratios.device
        stats = torch.stack(
            [
                ratios.sum(),
                torch.tensor(float(ratios.numel()), device=device),
                ratios.min() if ratios.numel() else torch.tensor(float("inf"), device=device),
            ]
        ).float()
        stats = self.accelerator.gather(stats.view(1, 3)).view(-1, 3)
        if stats[:, 1].sum() > 0:
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["guide/importance_ratio_mean"].append(
                (stats[:, 0].sum() / stats[:, 1].sum()).item()
            )
            self._metrics[mode]["guide/importance_ratio_min"].append(stats[:, 2].min().item())
        return out

    # ---- state -----------------------------------------------------------------------------------------------
    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            state = {"guided_prompts": self.guided_prompts, "solved_unhinted": sorted(self.solved_unhinted)}
            tmp = os.path.join(folder, STATE_FILE + ".tmp")
            with open(tmp, "w") as f:
                json.dump(state, f)
            os.replace(tmp, os.path.join(folder, STATE_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        path = os.path.join(checkpoint, STATE_FILE) if checkpoint is not None else None
        if path and os.path.exists(path):
            with open(path) as f:
                state = json.load(f)
            self.guided_prompts = dict(state["guided_prompts"])
            self.solved_unhinted = set(state["solved_unhinted"])
