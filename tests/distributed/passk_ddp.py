"""Run by tests/test_passk_trainer.py under `torchrun --nproc_per_node 2` (gloo, CPU): trains 2 steps and
records, per rank and step, the gathered rewards/answers and the advantages this rank used."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import cpu_grpo_args  # noqa: E402
from trainer_helpers import contains_a_reward, toy_dataset  # noqa: E402

from trl_ext import PassAtKConfig, PassAtKTrainer  # noqa: E402


class RecordingTrainer(PassAtKTrainer):
    records: list = []

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        self.records.append(
            {
                "rank": self.accelerator.process_index,
                "world": self.accelerator.num_processes,
                "rewards": self._gathered_rewards.sum(dim=1).tolist(),
                "answers": self._gathered_answers,
                "local_advantages": out["advantages"].tolist(),
            }
        )
        return out


def main() -> None:
    model, out_dir, objective = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    extra = {"answer_fn": "trainer_helpers:first_char_answer"} if objective == "maj@k" else {}
    # 6 samples per rank and groups of 4: one group straddles the two processes.
    args = PassAtKConfig(
        **cpu_grpo_args(
            out_dir / "run", per_device_train_batch_size=6, num_generations=4, max_completion_length=6
        ),
        objective=objective,
        k=2,
        **extra,
    )
    trainer = RecordingTrainer(
        model=model, reward_funcs=contains_a_reward, args=args, train_dataset=toy_dataset()
    )
    trainer.train()
    rank = trainer.accelerator.process_index
    (out_dir / f"rank{rank}.json").write_text(json.dumps(RecordingTrainer.records))


if __name__ == "__main__":
    main()
