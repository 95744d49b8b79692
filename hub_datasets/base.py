"""What every dataset builder shares: knob parsing with clear errors, unique train/test splits, the card."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from trl_ext.hub import size_category


@dataclass
class Built:
    """A built dataset: its splits (a DatasetDict), the card's front matter and the card's body."""

    dataset: Any
    card_meta: dict
    card_body: str


def with_overrides(config, overrides: dict[str, str] | None, config_name: str):
    """Return `config` (a dataclass) with knob values parsed from strings; clear errors for unknown knobs
    and bad values. Ranges are written `lo-hi` (or a single number)."""
    if not overrides:
        return config
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    changes = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ValueError(f"unknown knob {key!r} for config {config_name!r}; knobs: {', '.join(fields)}")
        current = fields[key]
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value: Any = text.lower() in ("true", "1")
            elif isinstance(current, tuple):
                parts = (
                    text.replace(",", "-").split("-")
                    if "-" in text.lstrip("-") or "," in text
                    else [text, text]
                )
                value = (int(parts[0]), int(parts[1]))
            else:
                value = type(current)(text)
        except ValueError:
            raise ValueError(f"bad value {text!r} for knob {key!r}: expected {_describe(current)}") from None
        changes[key] = value
    new = dataclasses.replace(config, **changes)
    new.validate()
    return new


def _describe(value) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, tuple):
        return "a range lo-hi of integers, e.g. 2-5"
    return f"a {type(value).__name__}, e.g. {value!r}"


def check_range(name: str, value: tuple[int, int], lowest: int, highest: int | None = None) -> None:
    lo, hi = value
    if lo < lowest or hi < lo or (highest is not None and hi > highest):
        bound = f"{lowest} <= lo <= hi" + (f" <= {highest}" if highest is not None else "")
        raise ValueError(f"knob {name!r} must be a range with {bound}, got {lo}-{hi}")


def unique_splits(
    make: Callable[[random.Random, int], dict | None],
    key: Callable[[dict], Any],
    n_train: int,
    n_test: int,
    seed: int,
    desc: str,
    max_attempts_per_row: int = 200,
) -> tuple[list[dict], list[dict]]:
    """Draw rows with `make(rng, index)` (None = rejected) until n_train + n_test distinct keys; the test split
    shares no key with train. Deterministic given the seed."""
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(
            f"need n >= 0 and n_test >= 0 with at least one row, got n={n_train}, n_test={n_test}"
        )
    rng = random.Random(seed)
    seen, rows = set(), []
    attempts = 0
    total = n_train + n_test
    with tqdm(total=total, desc=desc, leave=False) as bar:
        while len(rows) < total:
            attempts += 1
            if attempts > max_attempts_per_row * total:
                raise ValueError(
                    f"{desc}: only {len(rows)} distinct instances after {attempts} attempts; the knobs leave too few "
                    "distinct instances for the requested size"
                )
            row = make(rng, len(rows))
            if row is None or key(row) in seen:
                continue
            seen.add(key(row))
            rows.append(row)
            bar.update(1)
    return rows[:n_train], rows[n_train:]


def batched(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def card(
    *,
    pretty_name: str,
    n_rows: int,
    summary: str,
    sections: dict[str, str],
    license: str = "apache-2.0",
    tags: tuple[str, ...] = (),
    source_datasets: tuple[str, ...] = (),
) -> tuple[dict, str]:
    """The front matter (configs are added by trl_ext.hub when pushing) and the body of a dataset card.
    `source_datasets`: what a converted dataset derives from (Hub ids, or `original` for generated data)."""
    meta = {
        "license": license,
        "language": ["en"],
        "pretty_name": pretty_name,
        "size_categories": [size_category(n_rows)],
        "task_categories": ["text-generation"],
        "tags": ["trl-ext", "code", "reasoning", *tags],
        "source_datasets": list(source_datasets) or ["original"],
    }
    body = f"# {pretty_name}\n\n{summary}\n\n" + "\n\n".join(
        f"## {title}\n\n{text.strip()}" for title, text in sections.items()
    )
    return meta, body + "\n\nBuilt with `trl-ext build-dataset`.\n"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
