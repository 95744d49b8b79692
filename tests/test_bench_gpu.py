"""scripts/bench_gpu.py --tiny --device cpu: the GPU kit's code path (model build, every trainer at both
precisions, the table against GRPO) runs on CPU, so the kit does not rot while no GPU is lent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = ["grpo", "passk", "spo", "guide", "cures", "rlef"]


def bench(out: Path, *flags: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--tiny", "--device", "cpu"]
    argv += ["--steps", "1", "--warmup", "0", "--budget-s", "600", "--output", str(out), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "bench_gpu.json").read_text())


@pytest.mark.slow
def test_tiny_cpu_run_has_every_trainer(tmp_path):
    report = bench(tmp_path, "--precisions", "lora")
    rows = {r["trainer"]: r for r in report["rows"]}
    assert list(rows) == TRAINERS
    for name, row in rows.items():
        assert "error" not in row, (name, row)
        assert row["step_s"] > 0 and row["tokens_per_s"] > 0 and row["reward_s"] >= 0, row
    # Guide regenerates every all-fail group (a random model fails everything): extra generation is measured
    assert rows["guide"]["extra_generate_s"] > 0 and rows["grpo"]["extra_generate_s"] == 0
    table = (tmp_path / "bench_gpu.md").read_text()
    assert "Qwen2 tiny shape" in table
    for name in TRAINERS:
        assert f"| lora | {name} |" in table

    # 4-bit QLoRA through bitsandbytes' CPU kernels, on the model and data built above (reused, not rebuilt)
    report = bench(tmp_path, "--precisions", "qlora", "--only", "grpo")
    (row,) = report["rows"]
    assert row["precision"] == "qlora" and "error" not in row and row["step_s"] > 0, row


def test_bad_arguments_are_refused_early(tmp_path):
    argv = [sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--tiny", "--device", "cpu"]
    for flags, message in (
        (["--only", "grpo,nope"], "unknown trainer(s) nope"),
        (["--precisions", "fp8"], "--precisions takes"),
        (["--generation", "vllm"], "--generation vllm needs --device cuda"),
    ):
        done = subprocess.run(
            [*argv, *flags, "--output", str(tmp_path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr
