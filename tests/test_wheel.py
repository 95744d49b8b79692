"""trl-ext is not on PyPI: users install it from a checkout or from a wheel built with `python -m build`. The wheel
is built here (offline: no build isolation, the setuptools of the test environment), installed into a fresh venv,
and used from outside the checkout: the CLI, the packaged files (sandbox worker, complexity harness, `evaluate`
metric modules), the checkout's scripts and recipes running on the installed package."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "trl_ext", "hub_datasets")  # what `python -m build` reads


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_checkout(tmp_path):
    source = tmp_path / "src"  # a copy: building in the checkout would leave build/ and *.egg-info there
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        kwargs = {"ignore": shutil.ignore_patterns("__pycache__")} if (ROOT / name).is_dir() else {}
        copy(ROOT / name, source / name, **kwargs)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist")],
        source,
        env,
    )
    (wheel,) = (tmp_path / "dist").glob("trl_ext-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    # The wheel alone (no dependencies: nothing is downloaded), into the fresh venv's own site-packages...
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        tmp_path,
        env,
    )
    # ...then the test environment's packages (torch, trl, datasets...) made visible behind it, as a plain path
    # (its .pth files, among them the checkout's editable install, are not processed).
    purelib = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env
        ).strip()
    )
    (purelib / "shared-env.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = tmp_path / "user"  # the user's folder: not the checkout
    work.mkdir()
    location = _run(
        [
            str(python),
            "-c",
            "import trl_ext, hub_datasets; print(trl_ext.__file__); print(hub_datasets.__file__)",
        ],
        work,
        env,
    )
    assert all(line.startswith(str(purelib)) for line in location.split()), location
    cli = str(venv / "bin" / "trl-ext")
    assert "build-dataset" in _run([cli, "--help"], work, env)
    _run(
        [
            cli,
            "build-dataset",
            "pbe",
            "--config",
            "demo",
            "--n",
            "4",
            "--n-test",
            "2",
            "--push-to-hub",
            "./pbe",
        ],
        work,
        env,
    )
    assert (work / "pbe" / "demo").is_dir() and (work / "pbe" / "README.md").is_file()
    # One process (torch loads once): the package data (the sandbox's worker, the complexity harness, the metric
    # modules); the checkout's CPU recipes parsed by the installed package's parsers (the GPU ones:
    # tests/test_recipes.py); a checkout script run on the installed package.
    check = """
import runpy, sys
from pathlib import Path
from trl_ext.complexity.infer import HARNESS
from trl_ext.eval import metric_module_path
from trl_ext.execution import run
from trl_ext.train import make_parser
assert run("print(6 * 7)").stdout.strip() == "42" and HARNESS.is_file()
assert all(Path(metric_module_path(m), m + ".py").is_file() for m in ("pass_at_k", "maj_at_k", "n_at_k"))
script, recipes = sys.argv[1], sys.argv[2:]
for path in recipes:
    make_parser(Path(path).parent.name).parse_args_and_config(args=["--config", path, "--output_dir", "o"])
print("parsed", len(recipes))
sys.argv = [script, "--help"]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as done:
    assert done.code in (None, 0)
"""
    recipes = sorted(str(p) for p in (ROOT / "recipes").glob("*/cpu-tiny.yaml"))
    out = _run([str(python), "-c", check, str(ROOT / "scripts/train_passk.py"), *recipes], work, env)
    assert f"parsed {len(recipes)}" in out and "--tiny_model_corpus_rows" in out and len(recipes) >= 5


def test_install_instructions_do_not_advertise_an_unpublished_package():
    """`pip install trl-ext` fails (not on PyPI): the README, the Space's README and its About tab say how to
    install from a checkout or a wheel instead."""
    import re

    from_pypi = re.compile(r"pip install +['\"]?trl-ext\b")
    for name in ("README.md", "spaces/leaderboard/README.md", "trl_ext/leaderboard/app.py"):
        text = (ROOT / name).read_text()
        assert not from_pypi.search(text), f"{name} advertises `pip install trl-ext`"
        assert "checkout" in text and "python -m build --wheel" in text, name
