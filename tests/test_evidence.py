"""scripts/evidence.py: the statistics its verdicts come from, the power estimate, the scheduler (parallel
subprocesses, resume, failures), and a `--quick` run of every experiment end to end (train, evaluate, table, JSON,
plot, then the power step and a run at its chosen seeds)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))  # as when run from scripts/

import evidence  # noqa: E402
from experiments import effect, k_sample_metrics, mean_sd, verdict  # noqa: E402


def test_statistics_by_hand():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    delta, se = effect([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert delta == 2.0 and se == pytest.approx((1 / 3 + 1 / 3) ** 0.5)
    assert verdict(2.0, 0.5, +1).startswith("as predicted (4.0 SE)")
    assert verdict(2.0, 0.5, -1).startswith("opposite of the prediction (4.0 SE)")
    assert verdict(0.5, 0.5, +1) == "inconclusive (+1.0 SE)"
    assert verdict(0.0, 0.0, +1) == "no difference (no spread over seeds)"
    # samples to target: the first evaluation after the warm start's (step 0) that reaches it, interpolated from the
    # one before when that was a trained policy below it; None when never reached
    curve = [{"samples": 0, "m": 0.1}, {"samples": 100, "m": 0.3}, {"samples": 200, "m": 0.5}]
    assert evidence.samples_to_target(curve, "m", 0.4) == pytest.approx(150.0)
    assert evidence.samples_to_target(curve, "m", 0.2) == 100.0
    assert evidence.samples_to_target(curve, "m", 0.6) is None
    dip = [{"samples": 0, "m": 0.5}, {"samples": 100, "m": 0.1}, {"samples": 200, "m": 0.3}]
    assert evidence.samples_to_target(dip, "m", 0.2) == pytest.approx(
        150.0
    )  # the warm start's 0.5 does not count


def test_seeds_needed_by_hand():
    # 2 SE < effect ⇔ 4 (sd_a² + sd_b²) / n < effect² ⇔ n > 4 (sd_a² + sd_b²) / effect²
    assert evidence.seeds_needed(0.1, 0.1, 0.1) == 8  # 2 SE at 8 seeds = 2·sqrt(0.02/8) = 0.1: just enough
    assert evidence.seeds_needed(0.1, 0.1, 0.099) == 9
    assert evidence.seeds_needed(0.3, 0.0, 0.3) == 4
    assert evidence.seeds_needed(0.05, 0.05, 0.1) == 3  # 2 would do: 3 is the minimum
    assert evidence.seeds_needed(0.0, 0.0, 0.1) == 3  # nothing varies
    assert evidence.seeds_needed(0.2, 0.2, None) == 3  # no effect is plausible: the minimum
    assert evidence.seeds_needed(3000.0, 2000.0, 2880.0) == 7  # samples, not points: 4·1.3e7/2880² = 6.3


def test_warm_start_folder_follows_its_data(tmp_path):
    settings = evidence.Settings(output=tmp_path, quick=True, seeds=[0], jobs=0)
    codes, hidden = evidence.warm_start_dir(settings, "codes"), evidence.warm_start_dir(settings, "hidden")
    assert codes.name.startswith("codes-") and hidden.name.startswith("hidden-")
    assert evidence.warm_start_dir(settings, "codes") == codes  # deterministic
    full = evidence.Settings(output=tmp_path, quick=False, seeds=[0], jobs=0)
    assert evidence.warm_start_dir(full, "codes") != codes  # other data: another model, never a stale one


def test_k_sample_metrics_by_hand():
    # prompt 1: 2 of 4 correct ("a", "a" vs "b", "c"): pass@1 ½, pass@2 = 1 − C(2,2)/C(4,2) = 5/6, and the vote of
    # 2 samples is "a" for the pair (a, a), a tie ½ for (a, b) ×2 and (a, c) ×2, wrong for (b, c): (1 + 2) / 6
    # prompt 2: nothing correct, empty completions abstain
    metrics = k_sample_metrics([["a", "a", "b", "c"], ["", "x", "x", ""]], ["a", "z"], (1, 2))
    assert metrics["pass@1"] == pytest.approx(0.25)
    assert metrics["pass@2"] == pytest.approx(5 / 12)
    assert metrics["maj@2"] == pytest.approx(0.25)


def test_scheduler_runs_in_parallel_skips_done_and_reports_failures(tmp_path):
    settings = evidence.Settings(output=tmp_path, quick=True, seeds=[0], jobs=2)

    def task(name: str, code: str) -> evidence.Task:
        done = tmp_path / f"{name}.json"
        argv = [sys.executable, "-c", code.replace("DONE", str(done))]
        return evidence.Task(name, argv, done, tmp_path / f"{name}.log", tmp_path / f"{name}.progress")

    ok = "import pathlib, time; time.sleep(0.5); pathlib.Path('DONE').write_text('1')"
    (tmp_path / "cached.json").write_text("0")
    tasks = [task("a", ok), task("b", ok), task("cached", "raise SystemExit(3)"), task("bad", "1/0")]
    assert evidence.run_parallel(tasks, settings, "test") == ["bad"]
    assert (tmp_path / "a.json").read_text() == "1" and (tmp_path / "b.json").read_text() == "1"
    assert (tmp_path / "cached.json").read_text() == "0"  # already done: not run again
    assert "ZeroDivisionError" in (tmp_path / "bad.log").read_text()


@pytest.mark.slow
def test_quick_run_of_every_experiment(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert evidence.main(["all", "--quick", "--jobs", "0", "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["experiments"]) == set(evidence.EXPERIMENTS)
    for name, summary in results["experiments"].items():
        experiment = evidence.EXPERIMENTS[name]
        assert set(summary["arms"]) == set(experiment.arms)
        for arm in summary["arms"].values():
            assert arm["generated"] >= summary["budget"]  # every arm spent its budget
            for metric in experiment.metrics:
                assert 0.0 <= arm[metric]["mean"] <= 1.0
        assert (tmp_path / f"{name}.png").stat().st_size > 0
        assert f"#### {name}:" in (tmp_path / "results.md").read_text()
    # resumable: a second call finds every run cached and only rewrites the report
    before = {p: p.stat().st_mtime for p in (tmp_path / "runs").rglob("*.json")}
    assert evidence.main(["all", "--quick", "--jobs", "0", "--output", str(tmp_path)]) == 0
    assert {p: p.stat().st_mtime for p in (tmp_path / "runs").rglob("*.json")} == before
    # the power step on the cached runs as its pilot (one seed: no spread, so the minimum, capped here at 1 seed),
    # then the runs at the chosen seeds: all cached, nothing reruns
    quick = ["--quick", "--jobs", "0", "--output", str(tmp_path)]
    assert evidence.main(["power", "all", "--max-seeds", "1", *quick]) == 0
    power = json.loads((tmp_path / "power.json").read_text())
    assert set(power["experiments"]) == set(evidence.EXPERIMENTS)
    for name, estimate in power["experiments"].items():
        assert estimate["seeds_needed"] == 3 and estimate["seeds"] == 1 and estimate["capped"]
        assert {(c["arm"], c["metric"]) for c in estimate["comparisons"]} == {
            (c.arm, c.metric) for c in evidence.EXPERIMENTS[name].comparisons
        }
    assert "| passk |" in (tmp_path / "power.md").read_text()
    assert evidence.main(["all", "--seeds-from-power", *quick]) == 0
    assert {p: p.stat().st_mtime for p in (tmp_path / "runs").rglob("*.json")} == before
