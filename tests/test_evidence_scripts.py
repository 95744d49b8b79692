"""The evidence scripts (`scripts/evidence_*.py`) run end to end: each `--quick` smoke run trains, evaluates and
writes its table, its JSON and its plot (an unpacking bug in one of them once crashed only at that point)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# the top-level keys of each script's results.json
SCRIPTS = {
    "spo": {"settings", "summary", "runs"},
    "guide": {"config", "sft", "grpo", "guide"},
    "rlef": {"per_seed", "mean_std"},
    "cures": {"args", "before", "table", "runs"},
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_quick_run_writes_table_json_and_plot(name, tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / f"evidence_{name}.py"),
        "--quick",
        "--output",
        str(tmp_path),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert SCRIPTS[name] <= results.keys()
    assert (tmp_path / "results.md").read_text().count("|") > 10  # a table
    assert [p for p in tmp_path.glob("*.png") if p.stat().st_size > 0]
