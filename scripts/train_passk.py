"""Train a model for a k-sample objective (pass@k, max@k, maj@k) with PassAtKTrainer.

    accelerate launch scripts/train_passk.py --config recipes/passk/cpu-tiny.yaml
    accelerate launch scripts/train_passk.py --config recipes/passk/qwen2.5-coder-7b-qlora-vllm.yaml

The same as `trl-ext train passk --config ...`: see `trl_ext.train` (dataset, reward, tiny model, model card with
its license, `--push_to_hub`). Every PassAtK option is a field of `PassAtKConfig`.
"""

from trl_ext.train import main

if __name__ == "__main__":
    main("passk")
