"""Pieces shared by the evidence and benchmark scripts (imported as `from experiments import ...`: the scripts run
from scripts/): CPU training arguments, the SFT warm start of a tiny model, sampled held-out rewards and atomic
writes."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_args(output_dir: Path, seed: int) -> dict:
    """The TrainingArguments every small CPU run shares: no checkpoints, no reporting, seeded data order."""
    return dict(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def answer_rows(rows, hint_template: str | None = None) -> list[dict]:
    """Prompt-completion rows whose completion is each row's reference answer; with `hint_template`, each row
    also once with its hinted prompt (Guide's hint, same answer)."""
    pairs = []
    for r in rows:
        completion = [{"role": "assistant", "content": r["answer"]}]
        pairs.append({"prompt": r["prompt"], "completion": completion})
        if hint_template is not None:
            from trl_ext.trainers.guide import hinted_prompt

            pairs.append(
                {"prompt": hinted_prompt(r["prompt"], r["hint"], hint_template), "completion": completion}
            )
    return pairs


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


def pbe_warm_start(rows: list[dict], out: Path, save_to: Path, steps: int) -> str:
    """The PBE evidence warm start: a 4-layer tiny model on the rows' text, then `steps` of SFT on their answers."""
    from trl_ext.models import build_tiny_model

    pairs = answer_rows(rows)
    corpus = [r["prompt"][0]["content"] + r["completion"][0]["content"] for r in pairs]
    base = build_tiny_model(
        out / "tiny-init",
        corpus,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=256,
        seed=0,
    )
    sft_train(base, pairs, out / "sft", save_to, max_steps=steps, warmup_steps=20)
    return str(save_to)


def sampled_rewards(model, tokenizer, test: list[dict], samples: int, seed: int) -> list:
    """`task_reward` of `samples` completions per held-out row (sampled at temperature 1, 16 new tokens, torch
    seeded with `seed`), row-major; the model's train/eval mode is restored."""
    import torch

    from trl_ext.rewards import task_reward

    was_training = model.training
    model.eval()
    texts = tokenizer.apply_chat_template(
        [r["prompt"] for r in test], add_generation_prompt=True, tokenize=False
    )
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            **batch.to(model.device),
            do_sample=True,
            temperature=1.0,
            top_k=0,
            max_new_tokens=16,
            num_return_sequences=samples,
            pad_token_id=tokenizer.pad_token_id,
        )
    completions = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    rows = [r for r in test for _ in range(samples)]
    columns = {key: [r[key] for r in rows] for key in rows[0] if key != "prompt"}
    rewards = task_reward(
        [r["prompt"] for r in rows], [[{"role": "assistant", "content": c}] for c in completions], **columns
    )
    model.train(was_training)
    return rewards
