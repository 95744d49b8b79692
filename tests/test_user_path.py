"""The user's path end to end: a model trained by our own script and recipe (scripts/train_passk.py with
recipes/passk/cpu-tiny.yaml, pushed with --push_to_hub to a local folder standing in for the Hub) is accepted by
our own leaderboard (`trl-ext submit` to a local queue), evaluated by its backend, and shown as a results row."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_server import card_errors

from trl_ext import hub
from trl_ext.cli import main
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.app import leaderboard_frame
from trl_ext.leaderboard.backend import process_once
from trl_ext.leaderboard.settings import Benchmark, Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_trained_model_is_accepted_by_our_leaderboard(tmp_path, capsys):
    root = tmp_path / "hub"
    dataset = str(root / "datasets/pbe")
    build = [
        "build-dataset",
        "pbe",
        "--config",
        "demo",
        "--n",
        "64",
        "--n-test",
        "8",
        "--push-to-hub",
        dataset,
    ]
    assert main(build) == 0
    cmd = [
        sys.executable,
        str(ROOT / "scripts/train_passk.py"),
        "--config",
        str(ROOT / "recipes/passk/cpu-tiny.yaml"),
    ]
    cmd += ["--model_name_or_path", str(root / "models/tiny-pbe"), "--dataset_name", dataset]
    cmd += ["--max_steps", "2", "--output_dir", str(tmp_path / "out")]  # the recipe's save_strategy is "no"
    cmd += ["--push_to_hub", "true", "--hub_model_id", str(root / "models/passk-tiny")]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "TQDM_DISABLE": "1"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'passk/objective'" in done.stdout + done.stderr
    assert "FutureWarning" not in done.stderr, done.stderr[-3000:]  # issue 23, item 12: no deprecation noise

    pushed = root / "models/passk-tiny"
    meta, body = hub.split_card((pushed / "README.md").read_text())
    assert meta["license"] == "apache-2.0" and "licence" not in meta  # the tiny base model's license
    assert "pass-at-k" in meta["tags"] and "2503.19595" in body and "2505.15201" in body
    # A local base model and a local dataset: named, never linked on the Hub, no local paths (issue 23 item 8).
    card_text = (pushed / "README.md").read_text()
    assert "base_model" not in meta and "datasets" not in meta
    assert (
        "huggingface.co/None" not in card_text
        and "[None]" not in card_text
        and 'model="None"' not in card_text
    )
    assert "trained from a local base model (`tiny-pbe`) on a local dataset (`pbe`)" in body
    assert str(tmp_path) not in card_text and 'model="path/to/out"' in body
    assert (
        card_errors("model", card_text) == []
    )  # what the Hub's /api/validate-yaml checks (tests/hub_server.py)
    assert (pushed / "model.safetensors").exists()

    settings = Settings(
        requests=str(root / "leaderboard/requests"),
        results=str(root / "leaderboard/results"),
        benchmarks=[
            Benchmark(dataset=dataset, config="demo", samples=4, ks=[1, 4], max_new_tokens=8, limit=4)
        ],
        local_models=str(root / "models"),
    )
    settings_io.save(settings)
    # the training output folder itself (`--model ./out/passk` in the README) is accepted, by its weights' hash
    assert main(["submit", "--leaderboard", settings.requests, "--model", str(tmp_path / "out")]) == 0
    assert "✅ Submitted local/out-" in capsys.readouterr().out
    # the same weights pushed under another name are the same model
    assert main(["submit", "--leaderboard", settings.requests, "--model", "local/passk-tiny"]) == 2
    assert "already submitted" in capsys.readouterr().err
    done = process_once(settings)
    assert done.status == "FINISHED", done.failure_reason
    frame = leaderboard_frame(settings)
    assert list(frame["Model"]) == [done.model] and "pbe/demo pass@4" in frame.columns


def test_train_verb_names_unknown_trainers(capsys):
    assert main(["train", "no-such-trainer", "--config", "x.yaml"]) == 2
    assert (
        "unknown trainer 'no-such-trainer'; registered: cures, guide, passk, rlef, spo"
        in capsys.readouterr().err
    )


def test_card_license_and_push_target_are_checked_before_training(tmp_path):
    from types import SimpleNamespace

    from trl_ext.train import model_card_license, push_target

    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: mit\n---\n# base\n")
    assert (
        model_card_license(str(base), None) == "mit"
        and model_card_license(str(base), "apache-2.0") == "apache-2.0"
    )
    (base / "README.md").write_text("# no front matter\n")
    with pytest.raises(ValueError, match="give --model_license"):
        model_card_license(str(base), None)
    assert push_target(SimpleNamespace(push_to_hub=False, hub_model_id=None)) is None
    assert push_target(SimpleNamespace(push_to_hub=True, hub_model_id="me/model")) == "me/model"
    with pytest.raises(ValueError, match="needs --hub_model_id"):
        push_target(SimpleNamespace(push_to_hub=True, hub_model_id=None))
    with pytest.raises(hub.HubError, match="not a valid target"):
        push_target(SimpleNamespace(push_to_hub=True, hub_model_id="no spaces/allowed here"))
