"""Run by tests/test_spo_trainer.py under `torchrun --nproc_per_node 2` (gloo, CPU): trains 2 steps of half-online
SPO with a replay buffer and offline pairs, saves a checkpoint, and records per rank its fresh rows, the V̂₀ it used
for them, and its final SPO state (buffer, V̂₀ cache, offline rewards, generator), which must match across ranks."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import cpu_grpo_args  # noqa: E402
from test_spo_trainer import offline_pairs  # noqa: E402
from trainer_helpers import contains_a_reward, toy_dataset  # noqa: E402

from trl_ext import SPOConfig, SPOTrainer  # noqa: E402
from trl_ext.trainers.spo import prompt_key  # noqa: E402


class RecordingTrainer(SPOTrainer):
    fresh: list = []
    v0: list = []

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        fresh = out["spo_fresh"].bool()
        rows = []
        for i in range(len(inputs)):
            if fresh[i]:
                prompt = out["prompt_ids"][i][out["prompt_mask"][i].bool()].tolist()
                completion = out["completion_ids"][i][out["completion_mask"][i].bool()].tolist()
                rows.append(
                    [prompt_key(inputs[i]["prompt"]), prompt, completion, out["spo_rewards"][i].item()]
                )
        self.fresh.append(rows)
        self.v0 += [[prompt_key(x["prompt"]), v] for x, v in zip(inputs, out["spo_v0"].tolist())]
        return out


def main() -> None:
    model, out_dir = sys.argv[1], Path(sys.argv[2])
    args = SPOConfig(
        **cpu_grpo_args(
            out_dir / "run", per_device_train_batch_size=4, max_completion_length=6, save_strategy="steps"
        ),
        save_steps=2,
        value_samples=3,
        off_policy_ratio=0.5,
        replay_buffer_size=64,
    )
    trainer = RecordingTrainer(
        model=model,
        reward_funcs=contains_a_reward,
        args=args,
        train_dataset=toy_dataset(),
        offline_dataset=offline_pairs(),
    )
    trainer.train()
    rank = trainer.accelerator.process_index
    record = {
        "world": trainer.accelerator.num_processes,
        "fresh": RecordingTrainer.fresh,
        "v0": RecordingTrainer.v0,
        "state": json.loads(json.dumps(trainer._spo_state())),
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
