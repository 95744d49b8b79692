"""Train with Guide (GRPO with hinted regeneration of all-fail groups, arXiv 2506.13923) with GuideTrainer.

    accelerate launch scripts/train_guide.py --config recipes/guide/cpu-tiny.yaml
    accelerate launch scripts/train_guide.py --config recipes/guide/qwen2.5-coder-7b-qlora-vllm.yaml

The dataset is any trl-ext dataset (a Hub repo id or a local folder, with a `task` column and a `hint` column):
the reward is `trl_ext.rewards.task_reward`, which dispatches each row to its verifier. Rows without a hint train
as in GRPO. With `--tiny_model_corpus_rows N` and a model path that does not exist yet, a tiny model is first built
from the dataset's own text, hinted prompts included (CPU demo).

The same as `trl-ext train guide --config ...`: see `trl_ext.train` (dataset, reward, tiny model, model card with
its license, `--push_to_hub`). Every option of the trainer is a field of its config.
"""

from trl_ext.train import main

if __name__ == "__main__":
    main("guide")
