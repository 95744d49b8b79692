"""A shortened `trl-ext demo`: every stage leaves its artifact (dataset card, model cards, results JSON of
both models, leaderboard rows, plots), and bad flags are refused clearly."""

import json

import pytest

from trl_ext import hub
from trl_ext.cli import main
from trl_ext.demo import DemoSettings, run_demo
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.app import leaderboard_frame


@pytest.mark.slow
def test_short_demo_produces_every_artifact(tmp_path, capsys):
    out, root = tmp_path / "out", tmp_path / "hub"
    summary = run_demo(DemoSettings(minutes=1.2, n_train=200, n_test=24, output=str(out), hub_root=str(root)))
    printed = capsys.readouterr().out
    assert "pass@1" in printed and "open the leaderboard: trl-ext leaderboard --requests" in printed

    meta, body = hub.split_card((root / "datasets/pbe/README.md").read_text())
    assert meta["configs"][0]["config_name"] == "demo" and "## Generation" in body
    for model in ("pbe-sft-seed0-steps150", "pbe-passk-seed0"):
        card = (root / "models" / model / "README.md").read_text()
        assert hub.split_card(card)[0]["license"] == "apache-2.0" and "## Warm start" in card
    assert "## Reinforcement learning" in (root / "models/pbe-passk-seed0/README.md").read_text()
    for name in ("sft", "passk"):
        results = json.loads((out / f"results_{name}.json").read_text())
        metrics = results["results"]["pbe/demo"]
        assert {"pass@1", "pass@8", "maj@8"} <= set(metrics) and results["config"]["problems"] == 24
    assert 1 <= summary["rl_steps"] <= 54  # 45 RL steps per minute of budget, or fewer at the deadline
    frame = leaderboard_frame(settings_io.load(str(root / "leaderboard/requests")))
    assert sorted(frame["Model"]) == ["local/pbe-passk-seed0", "local/pbe-sft-seed0-steps150"]
    assert frame["pbe/demo pass@1"].notna().all()
    for plot in ("rl_curves.png", "before_after.png"):
        assert (out / plot).stat().st_size > 5_000

    assert main(["demo", "--trainer", "ppo", "--hub", str(root)]) == 2
    assert "--trainer must be one of passk, grpo" in capsys.readouterr().err
