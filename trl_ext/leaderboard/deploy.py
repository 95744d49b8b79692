"""One-command deploy of the leaderboard: the Space, its requests and results datasets, and a wheel of
this package that the Space installs (its requirements.txt points at the uploaded wheel)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from trl_ext import hub
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.settings import Benchmark, Settings

SPACE_TEMPLATE = Path(__file__).resolve().parents[2] / "spaces" / "leaderboard"


def build_wheel(out_dir: Path) -> Path:
    """A wheel of this checkout (no dependencies), built without network access."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise RuntimeError("deploy builds a wheel of trl-ext and must run from a source checkout")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out_dir),
        str(root),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the trl-ext wheel failed:\n{done.stderr[-2000:]}")
    return next(out_dir.glob("trl_ext-*.whl"))


def deploy(space_id: str, benchmarks: list[Benchmark], title: str = "trl-ext leaderboard") -> Settings:
    """Create (or update) the Space `space_id` with datasets `{space_id}-requests` and `{space_id}-results`."""
    hub.check_repo_id(space_id)
    import gradio

    settings = Settings(
        requests=f"{space_id}-requests", results=f"{space_id}-results", benchmarks=benchmarks, title=title
    )
    hub.create(settings.results, repo_type="dataset")
    settings_io.save(settings)  # creates the requests dataset too
    hub.create(space_id, repo_type="space", space_sdk="gradio")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "space"
        folder.mkdir()
        wheel = build_wheel(Path(tmp) / "dist")
        shutil.copy(wheel, folder / wheel.name)
        shutil.copy(SPACE_TEMPLATE / "app.py", folder / "app.py")
        fill = {
            "title": title,
            "gradio_version": gradio.__version__,
            "requests": settings.requests,
            "results": settings.results,
            "wheel": wheel.name,
        }
        for name in ("README.md", "requirements.txt"):
            (folder / name).write_text((SPACE_TEMPLATE / name).read_text().format(**fill))
        (folder / "space.json").write_text(f'{{"requests": "{settings.requests}"}}\n')
        hub.upload_folder(folder, space_id, repo_type="space", message="Deploy the trl-ext leaderboard")
    return settings
