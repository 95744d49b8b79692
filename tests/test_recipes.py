"""Every recipe parses: each YAML under recipes/<name>/ with the parser of the trainer registered as <name> in
trl_ext.train.TRAINERS (the parser `trl-ext train <name>` and scripts/train_<name>.py use), and every accelerate
config under recipes/accelerate/ with accelerate's own loader. New recipe folders are picked up automatically."""

import warnings
from pathlib import Path

import pytest
import torch
import yaml

from trl_ext.train import TRAINERS, make_parser

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TRAINING = sorted(p for p in RECIPES.glob("*/*.y*ml") if p.parent.name != "accelerate")
ACCELERATE = sorted(RECIPES.glob("accelerate/*.y*ml"))


def test_recipes_exist():
    assert TRAINING, f"no recipes under {RECIPES}"


@pytest.mark.parametrize("recipe", TRAINING, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_parses_with_its_trainers_parser(recipe):
    name = recipe.parent.name
    if name not in TRAINERS:
        pytest.skip(f"recipes/{name}/ has no trainer registered as {name!r} in trl_ext.train.TRAINERS")
    argv = ["--config", str(recipe)]
    values = yaml.safe_load(recipe.read_text())
    if values.get("bf16") and not torch.cuda.is_available():  # transformers refuses bf16 without a GPU
        argv += ["--bf16", "false", "--use_cpu", "true"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        script_args, training_args, model_args = make_parser(name).parse_args_and_config(args=argv)
    future = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not future, (
        future
    )  # e.g. transformers' `gradient_checkpointing` is deprecated: `activation_checkpointing`
    assert script_args.dataset_name and model_args.model_name_or_path and training_args.output_dir
    assert type(training_args).__name__ == TRAINERS[name][0].rpartition(":")[2]


@pytest.mark.parametrize("config", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_config_loads(config):
    from accelerate.commands.config.config_args import load_config_from_file

    assert load_config_from_file(str(config)).compute_environment is not None
