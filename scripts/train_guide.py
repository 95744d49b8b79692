"""Train with Guide (GRPO with hinted regeneration of all-fail groups, arXiv 2506.13923) with GuideTrainer.

    accelerate launch scripts/train_guide.py --config recipes/guide/cpu-tiny.yaml
    accelerate launch scripts/train_guide.py --config recipes/guide/qwen2.5-coder-7b-qlora-vllm.yaml

The dataset is any trl-ext dataset (a Hub repo id or a local folder, with a `task` column and a `hint` column):
the reward is `trl_ext.rewards.task_reward`, which dispatches each row to its verifier. Rows without a hint train
as in GRPO. With `--tiny_model_corpus_rows N` and a model path that does not exist yet, a tiny model is first built
from the dataset's own text, hinted prompts included (CPU demo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from trl_ext import GuideConfig, GuideTrainer, hub
from trl_ext.rewards import task_reward


@dataclass
class GuideScriptArguments(ScriptArguments):
    tiny_model_corpus_rows: int = field(
        default=0,
        metadata={
            "help": "If > 0 and model_name_or_path does not exist: build a tiny model from this many rows' text."
        },
    )


def tiny_corpus(rows, args: GuideConfig) -> list[str]:
    """Each row's prompt, reference answer and hinted prompt: the tiny tokenizer must know the hint's characters."""
    corpus = []
    for row in rows:
        text = row["prompt"][-1]["content"]
        hint = row.get(args.hint_column)
        corpus.append(text + (row.get("answer") or ""))
        if hint:
            corpus.append(args.hint_template.format(prompt=text, hint=hint))
    return corpus


def main(script_args: GuideScriptArguments, training_args: GuideConfig, model_args: ModelConfig) -> None:
    dataset = hub.load_dataset(script_args.dataset_name, script_args.dataset_config)
    train = dataset[script_args.dataset_train_split]
    model = model_args.model_name_or_path
    if script_args.tiny_model_corpus_rows and not Path(model).exists():
        from trl_ext.models import build_tiny_model

        rows = train.select(range(min(len(train), script_args.tiny_model_corpus_rows)))
        build_tiny_model(model, tiny_corpus(rows, training_args), seed=training_args.seed)
    training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}), "dtype": model_args.dtype}
    trainer = GuideTrainer(
        model=model,
        reward_funcs=task_reward,
        args=training_args,
        train_dataset=train,
        eval_dataset=dataset[script_args.dataset_test_split] if training_args.eval_strategy != "no" else None,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.create_model_card(model_name=Path(training_args.output_dir).name)  # cites the paper (`_paper`)
    trainer.accelerator.print(f"saved to {training_args.output_dir}")


def parser() -> TrlParser:
    return TrlParser((GuideScriptArguments, GuideConfig, ModelConfig))


if __name__ == "__main__":
    main(*parser().parse_args_and_config())
