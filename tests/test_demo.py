"""A shortened `trl-ext demo`: every stage leaves its artifact (dataset card, model cards, results JSON of
both models, leaderboard rows, plots, the log file); the terminal shows progress bars, not metric dicts; fixed
step counts decide the run, and a time cap that stops a stage says so and marks the results."""

import json
from types import SimpleNamespace

import pytest
from transformers import TrainerControl

from trl_ext import hub
from trl_ext.cli import main
from trl_ext.demo import DemoSettings, StageProgress, _train, run_demo
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.app import leaderboard_frame


@pytest.mark.slow
def test_short_demo_produces_every_artifact(tmp_path, capsys):
    out, root = tmp_path / "out", tmp_path / "hub"
    settings = DemoSettings(
        sft_steps=20, rl_steps=2, n_train=100, n_test=16, output=str(out), hub_root=str(root)
    )
    summary = run_demo(settings)
    printed = capsys.readouterr()
    assert "pass@1" in printed.out and "open the leaderboard: trl-ext leaderboard --requests" in printed.out
    assert "{'loss'" not in printed.out + printed.err and "'train_runtime'" not in printed.out + printed.err
    assert "SFT warm start: 100%" in printed.err and "RL: PassAtKTrainer pass@4: 100%" in printed.err
    logged = [
        json.loads(line) for line in (out / "demo.log").read_text().splitlines() if line.startswith("{")
    ]
    assert {e["stage"] for e in logged} == {"SFT warm start", "RL: PassAtKTrainer pass@4"}
    assert any("loss" in e for e in logged) and any("reward" in e for e in logged)

    meta, body = hub.split_card((root / "datasets/pbe/README.md").read_text())
    assert meta["configs"][0]["config_name"] == "demo" and "### Generation" in body
    for model in ("pbe-sft-seed0-steps20", "pbe-passk-seed0"):
        card = (root / "models" / model / "README.md").read_text()
        assert hub.split_card(card)[0]["license"] == "apache-2.0" and "## Warm start" in card
    assert "2 steps" in (root / "models/pbe-passk-seed0/README.md").read_text()
    for name in ("sft", "passk"):
        results = json.loads((out / f"results_{name}.json").read_text())
        metrics = results["results"]["pbe/demo"]
        assert {"pass@1", "pass@8", "maj@8"} <= set(metrics) and results["config"]["problems"] == 16
        assert "truncated" not in results["config"]
    assert summary["rl_steps"] == 2 and summary["truncated"] == []  # the step count, whatever the time
    assert set(summary["seconds_per_stage"]) and summary["settings"]["sft_steps"] == 20
    frame = leaderboard_frame(settings_io.load(str(root / "leaderboard/requests")))
    assert sorted(frame["Model"]) == ["local/pbe-passk-seed0", "local/pbe-sft-seed0-steps20"]
    assert frame["pbe/demo pass@1"].notna().all()
    for plot in ("rl_curves.png", "before_after.png"):
        assert (out / plot).stat().st_size > 5_000

    assert main(["demo", "--trainer", "ppo", "--hub", str(root)]) == 2
    assert "invalid choice: 'ppo'" in capsys.readouterr().err


def test_a_time_cap_stops_a_stage_loudly_and_marks_it(tmp_path, capsys):
    """With --max-minutes passed, the stage's callback stops training and the demo marks the stage."""
    settings = DemoSettings(output=str(tmp_path), max_minutes=1)
    settings.log_file.write_text("")
    state = SimpleNamespace(global_step=3, max_steps=10)

    class FakeTrainer:  # the Trainer surface _train uses: callbacks, train(), state
        def __init__(self):
            self.callbacks, self.state = [], state

        def remove_callback(self, callback):
            pass

        def add_callback(self, callback):
            self.callbacks.append(callback)

        def train(self):
            progress = self.callbacks[0]
            progress.on_train_begin(None, state, TrainerControl())
            control = progress.on_step_end(None, state, TrainerControl())
            assert control.should_training_stop
            progress.on_log(None, state, control, logs={"loss": 1.5, "reward": 0.25})
            progress.on_train_end(None, state, control)

    _train(settings, FakeTrainer(), "RL stage", deadline=0.0)
    assert settings.truncated == ["RL stage"]
    printed = capsys.readouterr()
    assert "!!! --max-minutes 1 stopped RL stage at step 3 of 10" in printed.out and "NOT" in printed.out
    assert "loss=1.5" in printed.err  # the bar's numbers
    assert json.loads(settings.log_file.read_text()) == {
        "stage": "RL stage",
        "step": 3,
        "loss": 1.5,
        "reward": 0.25,
    }

    never = StageProgress("SFT", settings.log_file, deadline=None)
    never.on_train_begin(None, state, TrainerControl())
    assert (
        not never.on_step_end(None, state, TrainerControl()).should_training_stop and never.stopped_at is None
    )


@pytest.mark.slow
def test_a_time_cap_that_truncates_sft_still_gives_a_complete_run(tmp_path, capsys):
    """`trl-ext demo --max-minutes` with a cap that stops the SFT warm start (and RL) at their first step: the run
    completes (both models evaluated and on the local leaderboard, summary.json, plots), marked `truncated`."""
    out, root = tmp_path / "out", tmp_path / "hub"
    argv = ["demo", "--output", str(out), "--hub", str(root), "--sft-steps", "20", "--rl-steps", "2"]
    assert main([*argv, "--n-train", "40", "--n-test", "6", "--max-minutes", "0.0001"]) == 0
    printed = capsys.readouterr().out
    assert "!!! --max-minutes 0.0001 stopped SFT warm start at step 1 of 20" in printed
    assert "!!! TRUNCATED by --max-minutes: SFT warm start" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["truncated"][0] == "SFT warm start" and len(summary["truncated"]) == 2
    assert (root / "models/pbe-sft-seed0-steps20-truncated-at1/model.safetensors").is_file()
    assert not (root / "models/pbe-sft-seed0-steps20").exists()  # never cached under the full run's name
    for name in ("sft", "passk"):
        assert json.loads((out / f"results_{name}.json").read_text())["config"]["truncated"]
    frame = leaderboard_frame(settings_io.load(str(root / "leaderboard/requests")))
    assert sorted(frame["Model"]) == ["local/pbe-passk-seed0", "local/pbe-sft-seed0-steps20-truncated-at1"]
    for plot in ("rl_curves.png", "before_after.png"):
        assert (out / plot).stat().st_size > 5_000
