"""Train a model with RLEF (multi-turn RL from execution feedback) with RLEFTrainer.

    accelerate launch scripts/train_rlef.py --config recipes/rlef/cpu-tiny.yaml
    accelerate launch scripts/train_rlef.py --config recipes/rlef/qwen2.5-coder-7b-qlora-vllm.yaml

The dataset is a trl-ext dataset (a Hub repo id or a local folder) whose verifier can give feedback: the
code-problem schema (`trl-ext build-dataset code-contests|humaneval ...`; rows need public tests for feedback,
HumanEval rows have none and stay single-turn), PBE or Kolmogorov. The reward is RLEF's private-test reward on
the final answer. With `--tiny_model_corpus_rows N` and a model path that does not exist yet, a tiny model is
first built from the dataset's own text (CPU demo).

The same as `trl-ext train rlef --config ...`: see `trl_ext.train` (dataset, reward, tiny model, model card with
its license, `--push_to_hub`). Every option of the trainer is a field of its config.
"""

from trl_ext.train import main

if __name__ == "__main__":
    main("rlef")
