"""trl_ext.hub against local folders and against the loopback Hub-protocol server with the real clients."""

import os
import threading

import pytest
from datasets import Dataset, DatasetDict

from trl_ext import hub
from trl_ext.hub import HubError

SIZES = {"one": 5, "two": 1200}  # the second config takes the dataset past 1K rows


def _dataset_dict(offset: int, n: int = 5) -> DatasetDict:
    return DatasetDict(
        train=Dataset.from_dict({"x": list(range(offset, offset + n)), "s": [f"t{i}" for i in range(n)]}),
        test=Dataset.from_dict({"x": list(range(offset, offset + 3)), "s": ["a", "b", "c"]}),
    )


LICENSES = {"one": "mit", "two": "apache-2.0"}


def _check_two_configs(target):
    """Two configs pushed one after the other: both load, the card (huggingface_hub's DatasetCard) keeps
    the first config's section, lists both configs' licenses (each section names its own), `size_categories`
    counts both, and a metadata-only push keeps the text."""
    from huggingface_hub import DatasetCard

    for name, offset in (("one", 0), ("two", 100)):
        hub.push_dataset(
            _dataset_dict(offset, SIZES[name]),
            target,
            name,
            card_meta={
                "license": LICENSES[name],
                "pretty_name": "Toy",
                "size_categories": ["n<1K"],
                "source_datasets": ["org/upstream"] if name == "one" else ["original"],
            },
            card_body=f"# Toy\n\nThe {name} config.\n\n## Fields\n\n`x` of {name}\n",
        )
    for name, offset in (("one", 0), ("two", 100)):
        loaded = hub.load_dataset(target, name)
        assert set(loaded) == {"train", "test"}
        for split, expected in _dataset_dict(offset, SIZES[name]).items():
            assert loaded[split].to_dict() == expected.to_dict()
    card = DatasetCard(hub.read_text(target, "README.md"))
    assert card.data.license == ["apache-2.0", "mit"] and card.data.size_categories == ["1K<n<10K"]
    assert [c["config_name"] for c in card.data.configs] == ["one", "two"]
    assert card.text.lstrip().startswith("# Toy")
    for name in ("one", "two"):
        assert (
            f"## Config `{name}`\n\nLicense: `{LICENSES[name]}` · Source datasets: "
            f"`{'org/upstream' if name == 'one' else 'original'}`\n\nThe {name} config.\n\n### Fields\n\n`x` of {name}"
            in card.text
        )
    hub.push_dataset(_dataset_dict(0, SIZES["one"]), target, "one", card_meta={"tags": ["toy"]})
    again = DatasetCard(hub.read_text(target, "README.md"))
    assert again.data.tags == ["toy"] and again.text == card.text
    assert again.data.license == ["apache-2.0", "mit"]
    assert again.data.source_datasets == ["org/upstream", "original"]
    # Re-licensing one config by metadata alone updates its section and the card's list.
    hub.push_dataset(_dataset_dict(0, SIZES["one"]), target, "one", card_meta={"license": "apache-2.0"})
    relicensed = DatasetCard(hub.read_text(target, "README.md"))
    assert relicensed.data.license == "apache-2.0" and "License: `mit`" not in relicensed.text
    assert relicensed.data.source_datasets == ["org/upstream", "original"]  # each config's sources kept


def test_derived_datasets_name_their_sources_and_no_foreign_urls():
    import hub_datasets

    built = hub_datasets.build("humaneval")
    assert built.card_meta["source_datasets"] == ["openai/openai_humaneval"]
    assert hub_datasets.build("pbe", "demo", n=3, n_test=2).card_meta["source_datasets"] == ["original"]
    assert "github.com" not in built.card_body and "http" not in built.card_body


def test_target_kinds():
    assert (
        hub.is_local("./hub/x")
        and hub.is_local("/tmp/x")
        and hub.is_local("~/x")
        and hub.is_local("file:///x")
    )
    assert not hub.is_local("org/name")
    for bad in ["noslash", "a/b/c", "../etc", "org/..", "org/na me", "", "/abs"[1:] + "/"]:
        with pytest.raises(HubError, match="not a valid target"):
            hub.check_repo_id(bad)
    for bad in ["../x", "/etc/passwd", "a/../b", "a//b", "a b"]:
        with pytest.raises(HubError, match="not a safe path"):
            hub.check_path_in_repo(bad)


def test_local_dataset_round_trip(tmp_path):
    target = str(tmp_path / "ds")
    _check_two_configs(target)
    # The folder holds exactly what the Hub repo would: the card and one folder of parquet shards per config.
    assert sorted(hub.list_files(target)) == [
        "README.md",
        "one/test-00000-of-00001.parquet",
        "one/train-00000-of-00001.parquet",
        "two/test-00000-of-00001.parquet",
        "two/train-00000-of-00001.parquet",
    ]
    import datasets

    assert datasets.load_dataset(target, "two", split="test")["x"] == [100, 101, 102]
    with pytest.raises(HubError, match="no config 'three'"):
        hub.load_dataset(target, "three")
    with pytest.raises(HubError, match="does not exist"):
        hub.load_dataset(str(tmp_path / "missing"))


def test_local_json_files_atomic_and_concurrent(tmp_path):
    target = str(tmp_path / "requests")

    def write(i):
        hub.write_json(target, f"org/req-{i}.json", {"i": i})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = hub.list_files(target, "org/")
    assert len(files) == 20
    assert sorted(hub.read_json(target, f)["i"] for f in files) == list(range(20))
    assert not [p for p in os.listdir(tmp_path / "requests" / "org") if p.endswith(".tmp")]
    with pytest.raises(HubError, match="has no file"):
        hub.read_json(target, "org/none.json")


def test_unwritable_local_target(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(HubError, match="cannot create local target"):
        hub.write_json(str(blocker / "sub"), "a.json", {})
    with pytest.raises(HubError, match="cannot create local target"):
        hub.push_dataset(_dataset_dict(0), str(blocker / "ds"), "one")


def test_hub_write_without_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_TOKEN_PATH", "/nonexistent-hf-home/token")
    monkeypatch.setattr(c, "HF_STORED_TOKENS_PATH", "/nonexistent-hf-home/stored_tokens")
    with pytest.raises(HubError, match="needs a token"):
        hub.write_json("org/requests", "a.json", {})


@pytest.mark.hub
def test_loopback_dataset_round_trip(loopback_hub):
    _check_two_configs("tester/toy")
    assert ("dataset", "tester/toy") in loopback_hub.state.repos


@pytest.mark.hub
def test_loopback_json_files(loopback_hub):
    hub.create("tester/requests", repo_type="dataset")
    hub.write_json("tester/requests", "org/a.json", {"status": "PENDING"})
    hub.write_json("tester/requests", "org/b.json", {"status": "RUNNING"})
    assert hub.list_files("tester/requests", "org/") == ["org/a.json", "org/b.json"]
    assert hub.read_json("tester/requests", "org/b.json") == {"status": "RUNNING"}
    hub.write_json("tester/requests", "org/b.json", {"status": "FINISHED"})
    assert hub.read_json("tester/requests", "org/b.json") == {"status": "FINISHED"}


@pytest.mark.hub
def test_loopback_model_upload_and_load(loopback_hub, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_ext.models import build_tiny_model

    # hidden 512 x vocab: a multi-MiB safetensors file, which must travel through the LFS batch API.
    path = build_tiny_model(
        tmp_path / "m", ["hello world\n"], hidden_size=512, num_hidden_layers=2, intermediate_size=1024
    )
    size = (path / "model.safetensors").stat().st_size
    assert size > 4 * 2**20
    hub.upload_folder(path, "tester/tiny", repo_type="model")
    assert any("lfs/objects/batch" in r for r in loopback_hub.state.requests)
    local = hub.download("tester/tiny")
    assert (local / "model.safetensors").stat().st_size == size
    assert "license: apache-2.0" in (local / "README.md").read_text()
    model = AutoModelForCausalLM.from_pretrained(local)
    original = AutoModelForCausalLM.from_pretrained(path)
    for a, b in zip(model.parameters(), original.parameters()):
        assert torch.equal(a, b)
    assert AutoTokenizer.from_pretrained(local).decode([5, 6]) == AutoTokenizer.from_pretrained(path).decode(
        [5, 6]
    )
    assert hub.exists("tester/tiny") and not hub.exists("tester/other")


@pytest.mark.hub
def test_loopback_missing_repo(loopback_hub):
    with pytest.raises(HubError, match="does not exist"):
        hub.load_dataset("tester/missing", "x")
    with pytest.raises(HubError, match="does not exist"):
        hub.download("tester/missing")
    with pytest.raises(HubError, match="does not exist"):
        hub.read_json("tester/missing", "a.json")


def test_local_datasets_with_the_same_name_do_not_share_a_cache(tmp_path):
    # datasets caches `load_dataset(folder)` by the folder's name: trl_ext.hub must not serve stale rows.
    for n in (3, 5):
        hub.push_dataset(
            DatasetDict(train=Dataset.from_dict({"x": list(range(n))})), str(tmp_path / "a" / "pbe"), "demo"
        )
        assert hub.load_dataset(str(tmp_path / "a" / "pbe"), "demo", split="train").num_rows == n
    hub.push_dataset(
        DatasetDict(train=Dataset.from_dict({"x": list(range(7))})), str(tmp_path / "b" / "pbe"), "demo"
    )
    assert hub.load_dataset(str(tmp_path / "b" / "pbe"), "demo")["train"].num_rows == 7
    assert hub.load_dataset(str(tmp_path / "a" / "pbe"))["train"].num_rows == 5
    with pytest.raises(HubError, match="has no split 'valid'"):
        hub.load_dataset(str(tmp_path / "a" / "pbe"), "demo", split="valid")
