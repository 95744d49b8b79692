"""Pieces the evidence script shares between its experiments (imported as `from experiments import ...`: the script
runs from scripts/): CPU training arguments, the SFT warm start of a tiny model, sampling held-out completions,
k-sample metrics, summary statistics and atomic writes."""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path


def cpu_args(output_dir: Path, seed: int) -> dict:
    """The TrainingArguments every small CPU run shares: no checkpoints, no reporting, seeded data order."""
    return dict(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=1))


def sft_train(
    base: str | Path,
    rows: list[dict],
    run_dir: Path,
    save_to: Path,
    *,
    max_steps: int,
    warmup_steps: int,
    seed: int = 0,
    batch_size: int = 16,
    max_length: int = 256,
    logging_steps: int = 50,
) -> None:
    """SFT of `base` on prompt-completion `rows`, whole-sequence loss (as the demo: completion-only did not learn
    at this size), cosine schedule at lr 3e-3; the model is saved to `save_to`."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(
        **cpu_args(run_dir, seed),
        per_device_train_batch_size=batch_size,
        learning_rate=3e-3,
        lr_scheduler_type="cosine",
        warmup_steps=warmup_steps,
        completion_only_loss=False,
        max_length=max_length,
        max_steps=max_steps,
        logging_steps=logging_steps,
    )
    trainer = SFTTrainer(model=str(base), args=config, train_dataset=Dataset.from_list(rows))
    trainer.train()
    trainer.save_model(str(save_to))


def sample_texts(
    model, tokenizer, prompts: list, samples: int, seed: int, max_new_tokens: int
) -> list[list[str]]:
    """`samples` completions per prompt (conversational prompts), sampled at temperature 1 with no top-k/top-p
    from the model itself, torch seeded with `seed`; the global RNG and the model's train/eval mode are restored."""
    import torch

    was_training, rng = model.training, torch.get_rng_state()
    model.eval()
    tokenizer.padding_side = "left"
    texts = tokenizer.apply_chat_template(prompts, add_generation_prompt=True, tokenize=False)
    torch.manual_seed(seed)
    out = []
    chunk = max(1, 512 // samples)
    for start in range(0, len(texts), chunk):
        batch = tokenizer(
            texts[start : start + chunk], return_tensors="pt", padding=True, add_special_tokens=False
        )
        with torch.no_grad():
            ids = model.generate(
                **batch.to(model.device),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=samples,
                pad_token_id=tokenizer.pad_token_id,
            )
        decoded = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        out += [decoded[i : i + samples] for i in range(0, len(decoded), samples)]
    model.train(was_training)
    torch.set_rng_state(rng)
    return out


def k_sample_metrics(answers: list[list[str]], targets: list[str], ks: tuple[int, ...]) -> dict:
    """pass@1, pass@k and maj@k (unbiased estimates from the n samples of each prompt), averaged over prompts; a
    sample is correct when its stripped text equals the prompt's target."""
    from trl_ext.objectives import majority_value, pass_at_k

    result = {}
    correct = [[float(a.strip() == t) for a in group] for group, t in zip(answers, targets)]
    n = len(answers[0])
    for k in ks:
        result[f"pass@{k}"] = statistics.mean(pass_at_k(n, round(sum(c)), k) for c in correct)
    for k in ks:
        if k > 1:
            result[f"maj@{k}"] = statistics.mean(
                majority_value([a.strip() or None for a in group], c, k) for group, c in zip(answers, correct)
            )
    return result


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def effect(arm: list[float], base: list[float]) -> tuple[float, float]:
    """Difference of means and its standard error (Welch: sqrt(sd_a²/n_a + sd_b²/n_b))."""
    (ma, sa), (mb, sb) = mean_sd(arm), mean_sd(base)
    return ma - mb, math.sqrt(sa**2 / len(arm) + sb**2 / len(base))


def verdict(delta: float, se: float, sign: int) -> str:
    """From the numbers: the predicted sign beyond 2 standard errors, the opposite beyond 2, or neither."""
    if se == 0:  # every seed gave the same value in both arms
        if delta == 0:
            return "no difference (no spread over seeds)"
        return (
            "as predicted (no spread over seeds)" if sign * delta > 0 else "opposite (no spread over seeds)"
        )
    z = sign * delta / se
    if z > 2:
        return f"as predicted ({z:.1f} SE)"
    if z < -2:
        return f"opposite of the prediction ({-z:.1f} SE)"
    return f"inconclusive ({z:+.1f} SE)"
