"""Dataset builders: generated benchmarks and converters, one module per dataset, one entry point.

from hub_datasets import build
built = build("pbe", "lite", n=1000, n_test=200, seed=0)
trl_ext.hub.push_dataset(built.dataset, target, "lite", card_meta=built.card_meta, card_body=built.card_body)
"""

from __future__ import annotations

from hub_datasets import code_contests, complexity, humaneval, kolmogorov, pbe, puzzles
from hub_datasets.base import Built, with_overrides

GENERATORS = {"pbe": pbe, "kolmogorov": kolmogorov, "puzzles": puzzles}
GENERATORS["complexity"] = complexity
CONVERTERS = ("code-contests", "humaneval", "p3")
NAMES = (*GENERATORS, *CONVERTERS)


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
) -> Built:
    """Build dataset `name`. Generators take a config (preset of knobs, changed by `overrides`), sizes and a
    seed; converters take a `source` (file or Hub dataset) and name their single split `split`."""
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
    if overrides:
        raise ValueError(f"{name} is a converter: it has no knobs (got {', '.join(overrides)})")
    if name == "humaneval":
        return humaneval.build(source, split)
    if not source:
        raise ValueError(f"{name} converts an upstream dataset: give --source PATH_OR_REPO")
    if name == "p3":
        return puzzles.build_p3(source, split)
    return code_contests.build(source, split, name)


__all__ = ["CONVERTERS", "GENERATORS", "NAMES", "Built", "build"]
