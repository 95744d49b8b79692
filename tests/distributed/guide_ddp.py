"""Run by tests/test_guide_trainer.py under `torchrun --nproc_per_node 2` (gloo, CPU): trains 2 steps with
GuideTrainer and records, per rank and step, the global and local guided rows and the decoded hinted prompts,
plus a parameter checksum before and after."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import cpu_grpo_args  # noqa: E402
from datasets import Dataset  # noqa: E402
from trainer_helpers import toy_dataset  # noqa: E402

from trl_ext import GuideConfig, GuideTrainer  # noqa: E402


def hard_even_prompts_reward(prompts, completions, **kwargs) -> list[float]:
    """Prompts with a number divisible by 4 succeed only with an 'a' in the completion (rare: their groups mostly
    fail); the others when the completion has an even length (mixed groups)."""
    rewards = []
    for p, c in zip(prompts, completions):
        number, text = int(p[-1]["content"].split()[1].rstrip(":")), c[0]["content"]
        rewards.append(float("a" in text) if number % 4 == 0 else float(len(text) % 2 == 0))
    return rewards


class RecordingTrainer(GuideTrainer):
    steps: list = []

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        step = {"global_guided": [], "local_guided": [], "hinted": []}
        if "guided" in out:
            guided = out["guided"].tolist()
            step["local_guided"] = guided
            step["global_guided"] = self._recorded_global
            step["hinted"] = [self.processing_class.decode(ids) for ids in self._recorded_hinted]
        else:
            step["local_guided"] = [False] * len(out["prompt_ids"])
            step["global_guided"] = [False] * (len(out["prompt_ids"]) * self.accelerator.num_processes)
        self.steps.append(step)
        return out

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if self._guide_step is not None:
            self._recorded_global = self._guide_step.global_guided.tolist()
            self._recorded_hinted = list(self._guide_step.hinted_prompt_ids.values())
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)


def checksum(model) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def main() -> None:
    model, out_dir, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    rows = toy_dataset(32).to_list()
    data = Dataset.from_list([{**r, "hint": "a"} for r in rows])
    args = GuideConfig(
        **cpu_grpo_args(
            out_dir / "run", per_device_train_batch_size=batch, num_generations=4, max_completion_length=6
        ),
        hint_template="{prompt} hint: {hint}",
    )
    trainer = RecordingTrainer(model=model, reward_funcs=hard_even_prompts_reward, args=args, train_dataset=data)
    before = checksum(trainer.model)
    trainer.train()
    rank = trainer.accelerator.process_index
    record = {
        "checksum_before": before,
        "checksum": checksum(trainer.model),
        "guided_prompts": trainer.guided_prompts,
        "steps": RecordingTrainer.steps,
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
