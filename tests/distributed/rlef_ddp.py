"""Run by tests/test_rlef_trainer.py under `torchrun --nproc_per_node 2` (gloo, CPU): trains 2 steps of RLEF with
the scripted policy (3 samples per rank, groups of 2: one group straddles the ranks, and the ranks' episodes end
after different numbers of turns) and records, per rank, the logged metrics and per step the gathered rewards
and the advantages this rank used."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_rlef_trainer import RecordingTrainer, ScriptedPolicy, code_problems, config  # noqa: E402


def main() -> None:
    model, out_dir = sys.argv[1], Path(sys.argv[2])
    args = config(out_dir / "run", per_device_train_batch_size=3, num_generations=2)
    trainer = RecordingTrainer(model=model, args=args, train_dataset=code_problems())
    trainer.records = []
    trainer._generate_single_turn = ScriptedPolicy(
        trainer.processing_class, offset=3 * trainer.accelerator.process_index
    )
    trainer.train()
    record = {
        "world": trainer.accelerator.num_processes,
        "logs": [e for e in trainer.state.log_history if "rlef/mean_turns" in e],
        "steps": [
            {"rewards": r["rewards"][:, 0].tolist(), "advantages": r["out"]["advantages"].tolist()}
            for r in trainer.records
        ],
    }
    (out_dir / f"rank{trainer.accelerator.process_index}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
