"""The generic training entry: any trl-ext trainer, from a recipe, on any trl-ext dataset.

    trl-ext train passk --config recipes/passk/cpu-tiny.yaml [--flag value ...]
    accelerate launch scripts/train_passk.py --config recipes/passk/qwen2.5-coder-7b-qlora-vllm.yaml

`TRAINERS` maps a name (= the recipe folder `recipes/<name>/` = the script `scripts/train_<name>.py`) to its
config and trainer classes; every trainer-specific option is a field of its config, so one parser
`TrlParser((TrainScriptArguments, Config, ModelConfig))` reads every recipe. The reward is
`trl_ext.rewards.task_reward`, which dispatches each row to the verifier its `task` column names. With
`--tiny_model_corpus_rows N` and a model path that does not exist yet, a tiny model is first built from the
dataset's own text (CPU demo). After training, the model and a model card declaring a `license:` (the Hub's
spelling, which our leaderboard requires) are always written to `output_dir`; `--push_to_hub` then uploads the
folder to `hub_model_id` (a Hub repo id or a local folder standing in for the Hub).
"""

from __future__ import annotations

import importlib
import string
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from trl_ext import schedules  # noqa: F401  (lr_scheduler_type rex and refined, before any parser is built)
from trl_ext.trainer_registry import TRAINERS

# Trainers whose reward is built in (RLEF: the private tests of the episode's final answer); the others get
# `trl_ext.rewards.task_reward`, which dispatches each row to its verifier.
OWN_REWARD = {"rlef"}


@dataclass
class TrainScriptArguments(ScriptArguments):
    """[`trl.ScriptArguments`] plus what the trl-ext scripts add."""

    tiny_model_corpus_rows: int = field(
        default=0,
        metadata={
            "help": "If > 0 and model_name_or_path does not exist: build a tiny model from this many rows' text."
        },
    )
    model_license: str | None = field(
        default=None,
        metadata={
            "help": "License written in the trained model's card (`license:`); default: the base model card's."
        },
    )


def _import(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def trainer_classes(name: str) -> tuple[type, type]:
    """The (config, trainer) classes registered under `name`."""
    if name not in TRAINERS:
        raise ValueError(f"unknown trainer {name!r}; registered: {', '.join(sorted(TRAINERS))}")
    config_path, trainer_path = TRAINERS[name]
    return _import(config_path), _import(trainer_path)


def make_parser(name: str) -> TrlParser:
    """The parser of `trl-ext train NAME` and `scripts/train_NAME.py` (also used to check every recipe)."""
    return TrlParser((TrainScriptArguments, trainer_classes(name)[0], ModelConfig))


def model_card_license(model: str, explicit: str | None) -> str:
    """The license for the trained model's card: `explicit`, else the one the base model's card declares."""
    if explicit:
        return explicit
    from trl_ext import hub

    try:
        card = hub.read_text(model, "README.md", repo_type="model")
    except hub.HubError:
        card = ""
    license_ = hub.split_card(card)[0].get("license")
    if not license_:
        raise ValueError(
            f"cannot tell the license of base model {model!r} (no `license:` in its model card): give --model_license"
        )
    return str(license_)


def push_target(training_args) -> str | None:
    """Where `--push_to_hub` uploads: `hub_model_id` (a Hub repo id `org/name` or a local folder), checked now."""
    from trl_ext import hub

    if not training_args.push_to_hub:
        return None
    target = training_args.hub_model_id
    if not target:
        raise ValueError("--push_to_hub needs --hub_model_id: a Hub repo id 'org/name' or a local folder")
    return target if hub.is_local(target) else hub.check_repo_id(target)


def write_model_card(
    trainer, output_dir: str, *, base_model: str, dataset_name: str | None, license_: str, push_to: str | None
) -> Path:
    """TRL's model card (trainer name, paper, citation, tags), with the Hub's `license:` field (TRL writes a
    `licence:` placeholder, which we drop). TRL links the base model and the dataset on the Hub; local ones are
    named by their folder's name instead (TRL would write "[None](https://huggingface.co/None)", and a local path
    under `datasets:` is a broken link), and the quick start names the repo the model is pushed to."""
    import re

    from trl_ext import hub

    hub_base = None if hub.is_local(base_model) or Path(base_model).exists() else base_model
    hub_dataset = dataset_name if dataset_name and not hub.is_local(dataset_name) else None
    trainer.create_model_card(model_name=Path(output_dir).name, dataset_name=hub_dataset)
    path = Path(output_dir) / "README.md"
    meta, body = hub.split_card(path.read_text())
    meta.pop("licence", None)
    meta["license"] = license_
    meta.pop("base_model", None)
    if hub_base:
        meta["base_model"] = hub_base
        origin = f"This model is a fine-tuned version of [{hub_base}](https://huggingface.co/{hub_base})"
    else:
        origin = f"This model was trained from a local base model (`{Path(base_model).name}`)"
    if hub_dataset:
        origin += f" on the [{hub_dataset}](https://huggingface.co/datasets/{hub_dataset}) dataset"
    elif dataset_name:
        origin += f" on a local dataset (`{hub.target_label(dataset_name)}`)"
    body = re.sub(
        r"^This model is a fine-tuned version of .*$", lambda _: origin + ".", body, count=1, flags=re.M
    )
    repo = push_to if push_to and not hub.is_local(push_to) else f"path/to/{Path(output_dir).name}"
    body = re.sub(r'(pipeline\("text-generation", model=)"[^"]*"', lambda m: f'{m[1]}"{repo}"', body)
    hub.atomic_write_bytes(path, hub.join_card(meta, body).encode())
    return path


def tiny_model_corpus(rows) -> list[str]:
    """The text a tiny character-level tokenizer is trained on: each row's prompt, reference answer and hint, and
    every printable character, so that text the trainers add (Guide's hint template, RLEF's feedback) has no <unk>."""
    texts = [r["prompt"][-1]["content"] + (r.get("answer") or "") + (r.get("hint") or "") for r in rows]
    return [*texts, string.printable]


def train(name: str, script_args: TrainScriptArguments, training_args, model_args: ModelConfig):
    """Build the dataset, (tiny) model and trainer `name`, train, save the model and its card, push if asked."""
    from trl_ext import hub
    from trl_ext.execution import backends
    from trl_ext.rewards import atask_reward, task_reward

    _, trainer_class = trainer_classes(name)
    # Pushing is ours (after the card is written; also to a local folder), not transformers' (which would create
    # the repo at start and push checkpoints without the license).
    push_to = push_target(training_args)
    dataset = hub.load_dataset(script_args.dataset_name, script_args.dataset_config)
    train_split = dataset[script_args.dataset_train_split]
    model = model_args.model_name_or_path
    if script_args.tiny_model_corpus_rows and not Path(model).exists():
        from trl_ext.models import build_tiny_model

        rows = train_split.select(range(min(len(train_split), script_args.tiny_model_corpus_rows)))
        build_tiny_model(model, tiny_model_corpus(rows), seed=training_args.seed)
    license_ = model_card_license(model, script_args.model_license)  # before training, not after
    training_args.push_to_hub = False
    training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}), "dtype": model_args.dtype}
    trainer = trainer_class(
        model=model,
        # Off this machine, judging goes through TRL's async reward path (it then waits in a thread, not the loop).
        reward_funcs=None
        if name in OWN_REWARD
        else task_reward
        if backends.current_spec().kind == "local"
        else atask_reward,
        args=training_args,
        train_dataset=train_split,
        eval_dataset=dataset[script_args.dataset_test_split] if training_args.eval_strategy != "no" else None,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    with warnings.catch_warnings():
        # TRL 1.16 reads transformers' deprecated `is_gradient_checkpointing` whenever it generates, whatever
        # the recipe sets (issue 23, item 12): that one message is silenced, nothing else.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the log history (grad_norm per step feeds scripts/refine_schedule.py)
    if trainer.is_world_process_zero():
        write_model_card(
            trainer,
            training_args.output_dir,
            base_model=model,
            dataset_name=script_args.dataset_name,
            license_=license_,
            push_to=push_to,
        )
        if push_to:
            hub.upload_folder(training_args.output_dir, push_to, repo_type="model", message=f"Train {name}")
            trainer.accelerator.print(f"pushed to {hub.describe(push_to)}")
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.print(f"saved to {training_args.output_dir}")
    return trainer


def main(name: str, argv: list[str] | None = None) -> None:
    """Parse `argv` (default: sys.argv[1:]; `--config recipe.yaml` and flags) and train trainer `name`."""
    train(name, *make_parser(name).parse_args_and_config(args=argv))
