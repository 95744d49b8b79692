"""Train with the CurES curriculum (GRPO whose prompts and rollouts follow a Beta posterior of each prompt's
success rate; arXiv 2510.01037) with CurESTrainer.

    accelerate launch scripts/train_cures.py --config recipes/cures/cpu-tiny.yaml
    accelerate launch scripts/train_cures.py --config recipes/cures/qwen2.5-coder-7b-qlora-vllm.yaml

Every curriculum option is a field of `CurESConfig` (`curriculum_tau`, `curriculum_floor`, ...; `--curriculum
false` runs plain GRPO as a control). The dataset is any trl-ext dataset (a Hub repo id or a local folder, with a
`task` column): the reward is `trl_ext.rewards.task_reward`. With `--tiny_model_corpus_rows N` and a model path
that does not exist yet, a tiny model is first built from the dataset's own text (CPU demo).

The same as `trl-ext train cures --config ...`: see `trl_ext.train` (dataset, reward, tiny model, model card with
its license, `--push_to_hub`). Every option of the trainer is a field of its config.
"""

from trl_ext.train import main

if __name__ == "__main__":
    main("cures")
