"""One-command deploy of the leaderboard: the Space (the front end: table, submissions, plots) and its
requests and results datasets. The evaluation backend runs where the GPU is (`trl-ext backend`), as in the
Hub's leaderboard template.

The Space gets light, installable requirements (gradio with OAuth, huggingface_hub, pandas, matplotlib,
pyyaml) and the few pure-Python modules of trl-ext its front end imports (no torch, transformers or TRL).
Benchmarks are Hub datasets chosen at deploy time and checked to exist (with the named config).

Deploying again keeps the deployed settings: only the flags given change them (the benchmark list, samples, k,
max new tokens), and deploy prints what changed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from trl_ext import hub
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.settings import Benchmark, Settings

PACKAGE = Path(__file__).resolve().parents[1]  # trl_ext/
SPACE_TEMPLATE = PACKAGE.parent / "spaces" / "leaderboard"  # app.py and README.md of the Space
# The front end's modules: none of them imports torch, transformers, TRL or datasets.
FRONT_END = ("__init__.py", "hub.py", "leaderboard/__init__.py", "leaderboard/app.py", "leaderboard/settings.py",
             "leaderboard/submissions.py")  # fmt: skip
REQUIREMENTS = (
    "gradio[oauth]>={gradio}",
    "huggingface_hub>={hub}",
    "pandas>=2",
    "matplotlib>=3.8",
    "pyyaml>=6",
)
SECRET = "HF_TOKEN"
FIRST_DEPLOY = {"samples": 8, "ks": [1, 4, 8], "max_new_tokens": 512}  # a new leaderboard's sampling budget


def parse_benchmark(spec: str, **budget) -> Benchmark:
    """`DATASET[:CONFIG]` → a Benchmark with the sampling `budget` (samples, ks, max_new_tokens; default: a
    first deploy's); the dataset must be a Hub id (a Space cannot read local folders)."""
    dataset, _, config = spec.partition(":")
    if hub.is_local(dataset):
        raise ValueError(
            f"--benchmark {spec}: a Space reads Hub datasets, not local folders; push it first with "
            "`trl-ext build-dataset ... --push-to-hub ORG/NAME`"
        )
    try:
        hub.check_repo_id(dataset)
    except hub.HubError as err:
        raise ValueError(f"--benchmark {spec}: {err}") from None
    budget = {**FIRST_DEPLOY, **budget}
    return Benchmark(
        dataset=dataset,
        config=config or None,
        samples=budget["samples"],
        ks=list(budget["ks"]),
        max_new_tokens=budget["max_new_tokens"],
    )


def check_benchmark(bench: Benchmark) -> Benchmark:
    """The dataset exists on the Hub and has the config (the only one when none is named); returns the
    benchmark with its config filled in."""
    if not hub.exists(bench.dataset, repo_type="dataset"):
        raise hub.HubError(f"benchmark dataset {bench.dataset!r} does not exist on the Hub (or is private)")
    try:
        meta, _ = hub.split_card(hub.read_text(bench.dataset, "README.md"))
    except hub.HubError:
        meta = {}
    configs = [c["config_name"] for c in meta.get("configs") or []]
    if bench.config is None and len(configs) > 1:
        raise hub.HubError(
            f"benchmark {bench.dataset}: name a config (DATASET:CONFIG), one of {', '.join(configs)}"
        )
    if bench.config and configs and bench.config not in configs:
        raise hub.HubError(
            f"benchmark {bench.dataset} has no config {bench.config!r}; configs: {', '.join(configs)}"
        )
    return Benchmark(**{**bench.__dict__, "config": bench.config or (configs[0] if configs else None)})


def space_folder(folder: Path, settings: Settings) -> Path:
    """Write the Space's files into `folder`: app.py, README.md, requirements.txt, space.json, trl_ext/."""
    import gradio
    import huggingface_hub

    if not (SPACE_TEMPLATE / "app.py").is_file():
        raise RuntimeError(
            f"deploy needs the Space template {SPACE_TEMPLATE}: run it from a trl-ext checkout"
        )
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SPACE_TEMPLATE / "app.py", folder / "app.py")
    fill = {
        "title": settings.title,
        "gradio_version": gradio.__version__,
        "requests": settings.requests,
        "results": settings.results,
        "benchmarks": ", ".join(f"`{b.name}`" for b in settings.benchmarks),
    }
    (folder / "README.md").write_text((SPACE_TEMPLATE / "README.md").read_text().format(**fill))
    pins = {"gradio": gradio.__version__, "hub": huggingface_hub.__version__}
    (folder / "requirements.txt").write_text("\n".join(r.format(**pins) for r in REQUIREMENTS) + "\n")
    (folder / "space.json").write_text(json.dumps({"requests": settings.requests}) + "\n")
    for module in FRONT_END:
        (folder / "trl_ext" / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE / module, folder / "trl_ext" / module)
    return folder


def merge_settings(
    deployed: Settings | None, space_id: str, specs: list[str] | None, changes: dict
) -> Settings:
    """The settings to deploy: the deployed ones (if any) with only what the flags change. `specs` (the
    --benchmark flags) replace the benchmark list, a benchmark already deployed keeping its settings; `changes`
    (samples, ks, max_new_tokens given on the command line) apply to every benchmark."""
    if deployed is None and not specs:
        raise ValueError("a first deploy needs at least one --benchmark DATASET[:CONFIG] (a Hub dataset id)")
    benchmarks = list(deployed.benchmarks) if deployed else []
    if specs:
        kept = {(b.dataset, b.config): b for b in benchmarks}
        benchmarks = []
        for spec in specs:
            bench = check_benchmark(parse_benchmark(spec))
            benchmarks.append(kept.get((bench.dataset, bench.config), bench))
    benchmarks = [Benchmark(**{**b.__dict__, **changes}) for b in benchmarks]
    if deployed is not None:
        return Settings(**{**deployed.__dict__, "benchmarks": benchmarks})
    return Settings(requests=f"{space_id}-requests", results=f"{space_id}-results", benchmarks=benchmarks)


def settings_difference(before: Settings | None, after: Settings) -> str:
    """What a deploy changes, one benchmark setting per line ('' when nothing)."""
    if before is None:
        return "new leaderboard: " + "; ".join(
            f"{b.name} (samples {b.samples}, k {','.join(map(str, b.ks))}, max_new_tokens {b.max_new_tokens})"
            for b in after.benchmarks
        )
    old = {b.name: b for b in before.benchmarks}
    new = {b.name: b for b in after.benchmarks}
    lines = [f"  - {name}: removed" for name in old if name not in new]
    for name, bench in new.items():
        if name not in old:
            lines.append(f"  + {name}: added (samples {bench.samples}, k {','.join(map(str, bench.ks))})")
            continue
        for key, value in bench.__dict__.items():
            if getattr(old[name], key) != value:
                lines.append(f"  ~ {name} {key}: {getattr(old[name], key)} -> {value}")
    if not lines:
        return "settings unchanged (flags such as --samples change them)"
    return "settings changed (results of the earlier settings stay listed, unranked):\n" + "\n".join(lines)


def deploy(
    space_id: str, specs: list[str] | None, changes: dict | None = None, set_token: bool = False
) -> tuple[Settings, str, str]:
    """Create (or update) the Space `space_id` with datasets `{space_id}-requests` and `{space_id}-results`.
    A redeploy keeps the deployed settings but for `specs` (--benchmark) and `changes` (samples, ks,
    max_new_tokens). Returns the settings, what to do about the Space's write token (or that it was set),
    and the difference to the deployed settings."""
    hub.check_repo_id(space_id)
    requests = f"{space_id}-requests"
    try:
        deployed = settings_io.load(requests) if hub.exists(requests, repo_type="dataset") else None
    except hub.HubError:
        deployed = None  # the requests dataset holds no settings yet
    settings = merge_settings(deployed, space_id, specs, changes or {})
    difference = settings_difference(deployed, settings)
    hub.create(settings.results, repo_type="dataset")
    settings_io.save(settings)  # creates the requests dataset too
    hub.create(space_id, repo_type="space", space_sdk="gradio")
    with tempfile.TemporaryDirectory() as tmp:
        folder = space_folder(Path(tmp) / "space", settings)
        hub.upload_folder(folder, space_id, repo_type="space", message="Deploy the trl-ext leaderboard")
    if set_token:
        hub.set_space_secret(space_id, SECRET)
        note = f"set the Space secret {SECRET} to your current token (it must write to {settings.requests})"
        return settings, note, difference
    return (
        settings,
        (
            f"!!! the Space writes submissions with the secret {SECRET}: add it (a token with write access to "
            f"{settings.requests}) at https://huggingface.co/spaces/{space_id}/settings, or deploy again with "
            "--set-token to store your current token"
        ),
        difference,
    )
