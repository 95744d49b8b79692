"""Toy rewards, answers and data shared by the trainer tests (importable by dotted path: `trainer_helpers:...`),
and the runners of their two-process and script tests."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from datasets import Dataset

ROOT = Path(__file__).resolve().parents[1]


def contains_a_reward(prompts, completions, **kwargs) -> list[float]:
    """1.0 when the completion contains an 'a': about one sample in five for an untrained tiny model."""
    return [float("a" in c[0]["content"]) for c in completions]


def length_reward(prompts, completions, **kwargs) -> list[float]:
    """A continuous reward, for max@k."""
    return [len(c[0]["content"]) / 8 for c in completions]


def first_char_answer(completions, **kwargs) -> list:
    """Canonical answer for maj@k: the completion's first character (None when empty)."""
    return [c[0]["content"][:1] or None for c in completions]


def toy_dataset(n: int = 64) -> Dataset:
    return Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": f"write {i % 7}: "}] for i in range(n)]}
    )


def free_port() -> int:
    """A free port on loopback (for torchrun's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(script: str, *args: str) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node 2` of tests/distributed/`script` on loopback, one thread per process, importing
    this checkout's trl_ext and the test helpers."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_addr", "127.0.0.1", "--master_port", str(free_port())]
    cmd += [str(ROOT / "tests/distributed" / script), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


def build_pbe_hub(tmp_path: Path) -> Path:
    """The PBE demo dataset (64 rows, 8 test) and its tiny models pushed to a local hub under `tmp_path`."""
    from trl_ext.cli import main

    hub = tmp_path / "hub"
    build = ["build-dataset", "pbe", "--config", "demo", "--n", "64", "--n-test", "8"]
    assert main([*build, "--push-to-hub", str(hub / "datasets/pbe")]) == 0
    return hub


def run_train_script(
    name: str, tmp_path: Path, *flags: str, model: str = "tiny-pbe", timeout: int = 300
) -> subprocess.CompletedProcess:
    """scripts/train_`name`.py with recipes/`name`/cpu-tiny.yaml on the PBE demo hub built under `tmp_path`
    (model `hub/models/<model>`), output to `tmp_path`/out, with the extra `flags`."""
    hub = build_pbe_hub(tmp_path)
    cmd = [sys.executable, str(ROOT / f"scripts/train_{name}.py")]
    cmd += ["--config", str(ROOT / f"recipes/{name}/cpu-tiny.yaml")]
    cmd += ["--model_name_or_path", str(hub / "models" / model), "--dataset_name", str(hub / "datasets/pbe")]
    cmd += [*flags, "--output_dir", str(tmp_path / "out")]
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
