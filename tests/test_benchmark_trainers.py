"""scripts/benchmark_trainers.py: a --quick run of one task/variant/seed writes its table, JSON, plot and run
cache, and a second run resumes from the cache without training again; scripts/bench_overhead.py measures."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_trainers.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(SCRIPT.parent))  # as when run from scripts/: `from experiments import ...`
    spec = importlib.util.spec_from_file_location("benchmark_trainers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_outputs_and_resumes(bench, tmp_path, monkeypatch):
    argv = ["--quick", "--tasks", "pbe", "--variants", "grpo", "--seeds", "0", "--budget", "16"]
    argv += ["--n-train", "64", "--sft-steps", "4", "--eval-problems", "4", "--output", str(tmp_path)]
    results = bench.main(argv)

    entry = results["summary"]["pbe/grpo"]
    assert entry["seeds"] == [0]
    assert entry["samples_used"]["values"][0] >= 16  # the budget was spent, then training stopped
    assert 0.0 <= entry["pass@1"]["mean_sd"][0] <= entry["pass@4"]["mean_sd"][0] <= 1.0
    runs = list((tmp_path / "runs").glob("pbe__grpo__seed0__*.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["status"] == "ok"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"]["pbe/grpo"]["pass@1"] == entry["pass@1"]
    assert "| pbe | grpo |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "benchmark_pbe.png").stat().st_size > 0

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(bench, "train_run", no_training)
    again = bench.main(argv)
    assert again["summary"]["pbe/grpo"] == entry


def test_bad_variant_is_a_clear_error(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--variants", "grpo,nope"])
    assert "unknown or no variant(s) nope" in capsys.readouterr().err


def test_bench_overhead_measures_two_trainers(tmp_path):
    """scripts/bench_overhead.py end to end on a small shape: one measured step of GRPO and PassAtK each."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_overhead.py"
    cmd = [sys.executable, str(script), "--trainers", "grpo,passk", "--steps", "1", "--warmup", "0"]
    cmd += ["--batch", "4", "--generations", "4", "--prompts", "16", "--hidden-size", "32", "--layers", "1"]
    env = {**os.environ, "PYTHONPATH": str(script.parent.parent)}
    subprocess.run([*cmd, "--output", str(tmp_path)], check=True, env=env, capture_output=True, timeout=600)
    rows = json.loads((tmp_path / "overhead.json").read_text())
    assert [r["trainer"] for r in rows] == ["grpo", "passk"] and all(r["wall_s"] > 0 for r in rows)
    assert all(r["completion_tokens"] > 0 for r in rows)
    assert (tmp_path / "model-h32-l1" / "config.json").exists()
    table = (tmp_path / "overhead.md").read_text()
    assert "| passk |" in table and "M parameters" in table
