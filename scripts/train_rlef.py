"""Train a model with RLEF (multi-turn RL from execution feedback) with RLEFTrainer.

    accelerate launch scripts/train_rlef.py --config recipes/rlef/cpu-tiny.yaml
    accelerate launch scripts/train_rlef.py --config recipes/rlef/qwen2.5-coder-7b-qlora-vllm.yaml

The dataset is a trl-ext dataset (a Hub repo id or a local folder) whose verifier can give feedback: the
code-problem schema (`trl-ext build-dataset code-contests|humaneval ...`; rows need public tests for feedback,
HumanEval rows have none and stay single-turn), PBE or Kolmogorov. The reward is RLEF's private-test reward on
the final answer. With `--tiny_model_corpus_rows N` and a model path that does not exist yet, a tiny model is
first built from the dataset's own text (CPU demo).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from trl_ext import RLEFConfig, RLEFTrainer, hub


@dataclass
class RLEFScriptArguments(ScriptArguments):
    tiny_model_corpus_rows: int = field(
        default=0,
        metadata={
            "help": "If > 0 and model_name_or_path does not exist: build a tiny model from this many rows' text."
        },
    )


def main(script_args: RLEFScriptArguments, training_args: RLEFConfig, model_args: ModelConfig) -> None:
    dataset = hub.load_dataset(script_args.dataset_name, script_args.dataset_config)
    train = dataset[script_args.dataset_train_split]
    model = model_args.model_name_or_path
    if script_args.tiny_model_corpus_rows and not Path(model).exists():
        from trl_ext.models import build_tiny_model

        rows = train.select(range(min(len(train), script_args.tiny_model_corpus_rows)))
        corpus = [r["prompt"][-1]["content"] + (r.get("answer") or "") for r in rows]
        # every printable character, so that feedback messages tokenise without <unk>
        build_tiny_model(model, [*corpus, string.printable], seed=training_args.seed)
    training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}), "dtype": model_args.dtype}
    trainer = RLEFTrainer(
        model=model,
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
    parser = TrlParser((RLEFScriptArguments, RLEFConfig, ModelConfig))
    main(*parser.parse_args_and_config())
