"""Train with the CurES curriculum (GRPO whose prompts and rollouts follow a Beta posterior of each prompt's
success rate; arXiv 2510.01037) with CurESTrainer.

    accelerate launch scripts/train_cures.py --config recipes/cures/cpu-tiny.yaml
    accelerate launch scripts/train_cures.py --config recipes/cures/qwen2.5-coder-7b-qlora-vllm.yaml

Every curriculum option is a field of `CurESConfig` (`curriculum_tau`, `curriculum_floor`, ...; `--curriculum
false` runs plain GRPO as a control). The dataset is any trl-ext dataset (a Hub repo id or a local folder, with a
`task` column): the reward is `trl_ext.rewards.task_reward`. With `--tiny_model_corpus_rows N` and a model path
that does not exist yet, a tiny model is first built from the dataset's own text (CPU demo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from trl_ext import CurESConfig, CurESTrainer, hub
from trl_ext.rewards import task_reward


@dataclass
class CurESScriptArguments(ScriptArguments):
    tiny_model_corpus_rows: int = field(
        default=0,
        metadata={
            "help": "If > 0 and model_name_or_path does not exist: build a tiny model from this many rows' text."
        },
    )


def main(script_args: CurESScriptArguments, training_args: CurESConfig, model_args: ModelConfig) -> None:
    dataset = hub.load_dataset(script_args.dataset_name, script_args.dataset_config)
    train = dataset[script_args.dataset_train_split]
    model = model_args.model_name_or_path
    if script_args.tiny_model_corpus_rows and not Path(model).exists():
        from trl_ext.models import build_tiny_model

        rows = train.select(range(min(len(train), script_args.tiny_model_corpus_rows)))
        corpus = [r["prompt"][-1]["content"] + (r.get("answer") or "") for r in rows]
        build_tiny_model(model, corpus, seed=training_args.seed)
    training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}), "dtype": model_args.dtype}
    trainer = CurESTrainer(
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
    trainer.accelerator.print(f"saved to {training_args.output_dir}")


if __name__ == "__main__":
    parser = TrlParser((CurESScriptArguments, CurESConfig, ModelConfig))
    main(*parser.parse_args_and_config())
