"""Every dataset builder, in every config (converters' `default` among them, beside `apps`/`taco` in one repo),
pushed with `trl-ext build-dataset ... --push-to-hub` to the loopback Hub and to a local folder, and loaded back
with the real `datasets` the ways a user does. Cards are checked by the Hub's validation (`/api/validate-yaml`)."""

import logging
import os
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

from trl_ext import hub
from trl_ext.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = ["--n", "4", "--n-test", "2"]
# name -> [(config, extra CLI args)]; config None = the CLI's default (`lite` for generators, `default` else).
BUILDS = {
    "pbe": [("demo", SMALL), ("lite", SMALL), ("hard", SMALL)],
    "kolmogorov": [("lite", SMALL), ("hard", SMALL)],
    "puzzles": [("lite", SMALL), ("hard", SMALL)],
    # confirm=false: the complexity measurements are tested in test_complexity_dataset; here, the push path.
    "complexity": [(None, ["--n", "1", "--n-test", "1", "--set", "confirm=false"])],
    "humaneval": [(None, [])],
    "p3": [(None, ["--source", str(FIXTURES / "p3_puzzles.json")])],
    "code-contests": [
        (None, ["--source", str(FIXTURES / "codecontests.jsonl")]),
        ("apps", ["--source", str(FIXTURES / "apps.json")]),
        ("taco", ["--source", str(FIXTURES / "taco.jsonl")]),
    ],
}
DEFAULT_CONFIG = {"complexity": "lite"}  # the config the CLI names when --config is left out


@pytest.fixture
def datasets_log():
    """The messages `datasets` logs (its loggers do not propagate to pytest's handlers)."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("datasets")
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def _build(name: str, config: str | None, args: list[str], target: str) -> None:
    argv = ["build-dataset", name, *(["--config", config] if config else []), *args, "--push-to-hub", target]
    assert main(argv) == 0


def _rows(dataset_dict) -> dict:
    return {split: ds.to_list() for split, ds in dataset_dict.items()}


@pytest.mark.hub
@pytest.mark.slow
def test_every_dataset_every_config_loads_from_the_hub_and_local_folders(
    loopback_hub, tmp_path, datasets_log
):
    for name, builds in BUILDS.items():
        for config, args in builds:
            for target in (f"tester/{name}", str(tmp_path / name)):
                _build(name, config, args, target)

    for name, builds in BUILDS.items():
        repo, folder = f"tester/{name}", str(tmp_path / name)
        # A local folder has exactly the files of the Hub repo (`data/` for `default`, `{config}/` otherwise).
        assert hub.list_files(folder) == hub.list_files(repo)
        configs = [config or DEFAULT_CONFIG.get(name, "default") for config, _ in builds]
        assert {f.split("/")[0] for f in hub.list_files(repo)} == {
            "README.md",
            *("data" if c == "default" else c for c in configs),
        }
        for config in configs:
            expected = _rows(datasets.load_dataset(folder, config))
            assert _rows(datasets.load_dataset(repo, config)) == expected, (name, config)
            assert _rows(hub.load_dataset(repo, config)) == expected
            for split, rows in expected.items():
                assert datasets.load_dataset(repo, config, split=split).to_list() == rows
                assert hub.load_dataset(folder, config, split=split).to_list() == rows
        if len(configs) == 1 or "default" in configs:  # `load_dataset(repo)` picks that one, as datasets does
            chosen = configs[0] if len(configs) == 1 else "default"
            expected = _rows(datasets.load_dataset(folder, chosen))
            assert _rows(datasets.load_dataset(repo)) == expected == _rows(hub.load_dataset(repo))
            assert _rows(hub.load_dataset(folder)) == expected == _rows(datasets.load_dataset(folder))
        else:
            with pytest.raises(ValueError, match="Config name is missing"):
                datasets.load_dataset(repo)
            with pytest.raises(hub.HubError, match="several configs: name one of"):
                hub.load_dataset(folder)
        _check_cards(name, repo, folder, configs, tmp_path)
    # `trl-ext train --dataset_name <repo>` loads its dataset through hub.load_dataset with no config name.
    assert hub.load_dataset("tester/humaneval", None)["test"].num_rows == 164
    assert loopback_hub.state.validated and not any(errors for _, errors in loopback_hub.state.validated)
    # No console noise from datasets on a push or a load (issue 23 item 12).
    for message in ("Setting num_proc from 1 back to 1", "Ignoring part of dataset_info"):
        assert not [m for m in datasets_log if message in m]


LICENSES = {"code-contests": ["apache-2.0", "cc-by-4.0", "mit"], "humaneval": "mit", "p3": "mit"}
SOURCES = {
    "code-contests": ["BAAI/TACO", "codeparrot/apps", "deepmind/code_contests"],
    "humaneval": ["openai/openai_humaneval"],
    "p3": ["microsoft/PythonProgrammingPuzzles"],
}


def _check_cards(name: str, repo: str, folder: str, configs: list[str], tmp_path: Path) -> None:
    hub_card = DatasetCard(hub.read_text(repo, "README.md"))
    local_card = DatasetCard(hub.read_text(folder, "README.md"))
    for card in (hub_card, local_card):
        card.validate(repo_type="dataset")  # the loopback Hub's /api/validate-yaml: a 400 raises ValueError
        assert [c["config_name"] for c in card.data.configs] == sorted(configs)
        assert card.data.license == LICENSES.get(name, "apache-2.0")
        assert card.data.source_datasets == SOURCES.get(name, ["original"])
        for config in configs:
            assert f"## Config `{config}`\n\nLicense: `" in card.text
        text = str(card)
        for local in (str(tmp_path), str(FIXTURES), os.path.expanduser("~") + "/", str(Path.cwd())):
            assert local not in text, f"{name}: the card embeds the local path {local}"
    assert local_card.data.to_dict().keys() == hub_card.data.to_dict().keys()
    assert local_card.text == hub_card.text


@pytest.mark.hub
def test_hub_validation_refuses_bad_cards(loopback_hub):
    """The loopback Hub's card validation is strict where the Hub is: these cards are refused."""
    from huggingface_hub import ModelCard

    bad = [
        (DatasetCard("---\nlicense: not-a-license\n---\n"), "license identifiers"),
        (DatasetCard("---\nsize_categories:\n- n>1M\n---\n"), "size_categories"),
        (ModelCard("---\nlicense:\n- mit\n- apache-2.0\n---\n"), '"license" must be a string'),
        (ModelCard("---\nlicense: mit\nbase_model: /tmp/base\n---\n"), "valid model ids"),
        (ModelCard("---\nlicense: mit\ndatasets:\n- ./hub/datasets/pbe\n---\n"), "valid dataset ids"),
    ]
    for card, message in bad:
        with pytest.raises(ValueError, match=message):
            card.validate()
    DatasetCard("---\nlicense:\n- mit\n- apache-2.0\nsize_categories:\n- n<1K\n---\n").validate()
    ModelCard("---\nlicense: mit\nbase_model: org/base\ndatasets:\n- org/pbe\n---\n").validate()
    # As on the Hub, a commit of a README.md with such metadata is refused.
    hub.create("tester/model", repo_type="model")
    with pytest.raises(hub.HubError, match="Invalid metadata in README.md"):
        hub.write_text("tester/model", "README.md", str(bad[-1][0]), repo_type="model")
    hub.write_text("tester/model", "README.md", "---\nlicense: mit\n---\n# ok\n", repo_type="model")


@pytest.mark.hub
def test_converter_reads_its_source_from_the_hub(loopback_hub, tmp_path):
    """The README's `build-dataset code-contests --source <Hub dataset> --push-to-hub <repo>`: the upstream rows
    are read from the Hub (its default config), converted, pushed, and load back with `load_dataset(repo)`."""
    upstream = datasets.load_dataset("json", data_files=str(FIXTURES / "codecontests.jsonl"), split="train")
    upstream.push_to_hub("tester/code_contests_upstream", split="test")
    _build("code-contests", None, ["--source", "tester/code_contests_upstream"], "tester/code-contests")
    loaded = datasets.load_dataset("tester/code-contests")
    assert loaded["test"].num_rows == 2 and loaded["test"][0]["task"] == "code"
    card = DatasetCard(hub.read_text("tester/code-contests", "README.md"))
    assert card.data.source_datasets == ["deepmind/code_contests", "tester/code_contests_upstream"]
    assert card.data.license == "cc-by-4.0"
