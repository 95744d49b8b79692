"""Train a model with Soft Policy Optimization (SPOTrainer): fresh samples, a replay buffer and offline reference
solutions, one soft-Q terminal loss, no value model (arXiv 2503.05453).

    accelerate launch scripts/train_spo.py --config recipes/spo/cpu-tiny.yaml
    accelerate launch scripts/train_spo.py --config recipes/spo/qwen2.5-coder-7b-qlora-vllm.yaml

The dataset is any trl-ext dataset (a Hub repo id or a local folder, with a `task` column): the reward is
`trl_ext.rewards.task_reward`. `offline_completion_column: answer` (an SPOConfig field) turns the dataset's reference
solutions into offline (prompt, completion) pairs, scored by the same reward. With `--tiny_model_corpus_rows N` and a
model path that does not exist yet, a tiny model is first built from the dataset's own text (CPU demo).

The same as `trl-ext train spo --config ...`: see `trl_ext.train` (dataset, reward, tiny model, model card with
its license, `--push_to_hub`). Every option of the trainer is a field of its config.
"""

from trl_ext.train import main

if __name__ == "__main__":
    main("spo")
