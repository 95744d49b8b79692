"""Run by tests/test_cures_trainer.py under `torchrun --nproc_per_node 2` (gloo, CPU): trains CurES 4 steps on 10 prompts and
records, per rank, the curriculum's draws, the dataset indices of the rows this rank scored, and the posterior
after each update."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import cpu_grpo_args  # noqa: E402
from trainer_helpers import contains_a_reward, toy_dataset  # noqa: E402

import trl_ext.trainers.cures as cures  # noqa: E402
from trl_ext import CurESConfig, CurESTrainer  # noqa: E402

DRAWS: list = []
_draw_groups = cures.draw_groups


def recording_draw_groups(*args, **kwargs):
    groups = _draw_groups(*args, **kwargs)
    DRAWS.append(groups.tolist())
    return groups


class RecordingTrainer(CurESTrainer):
    local: list = []
    posteriors: list = []

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self.local.append([x[cures.INDEX_COLUMN] for x in inputs])
        self.posteriors.append({k: v.tolist() for k, v in self.curriculum_posterior.state_dict().items()})
        return rewards


def main() -> None:
    model, out_dir = sys.argv[1], Path(sys.argv[2])
    cures.draw_groups = recording_draw_groups
    # 10 rows per rank and groups of 4: 5 groups per step, the third straddles the two processes.
    args = CurESConfig(
        **cpu_grpo_args(
            out_dir / "run",
            per_device_train_batch_size=10,
            num_generations=4,
            max_completion_length=6,
            max_steps=4,
        ),
        curriculum_tau=0.05,
    )
    trainer = RecordingTrainer(
        model=model, reward_funcs=contains_a_reward, args=args, train_dataset=toy_dataset(10)
    )
    trainer.train()
    rank = trainer.accelerator.process_index
    record = {
        "world": trainer.accelerator.num_processes,
        "draws": DRAWS,
        "local": RecordingTrainer.local,
        "posteriors": RecordingTrainer.posteriors,
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
