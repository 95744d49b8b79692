"""Leaderboard settings, stored as `leaderboard.json` in the requests dataset."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from trl_ext import hub

SETTINGS_FILE = "leaderboard.json"
MODEL_TYPES = ("pretrained", "fine-tuned", "rl-tuned", "merged", "other")


@dataclass
class Benchmark:
    """One benchmark the backend evaluates: a trl-ext dataset (target, config, split) and the sampling budget."""

    dataset: str
    config: str | None = None
    split: str = "test"
    samples: int = 8
    ks: list[int] = field(default_factory=lambda: [1, 4, 8])
    max_new_tokens: int = 256
    limit: int | None = None

    @property
    def name(self) -> str:
        from trl_ext.eval.harness import dataset_label

        return f"{dataset_label(self.dataset)}/{self.config or 'default'}"


@dataclass
class Settings:
    requests: str
    results: str
    benchmarks: list[Benchmark]
    title: str = "trl-ext leaderboard"
    daily_limit: int = 5  # submissions per organisation per 24 h
    running_timeout_s: float = 6 * 3600  # a RUNNING request older than this was abandoned: requeue it
    max_attempts: int = 3
    local_models: str | None = None  # local leaderboards: model ids `local/NAME` resolve to this folder

    def benchmark(self, name: str) -> Benchmark:
        for b in self.benchmarks:
            if b.name == name:
                return b
        raise ValueError(
            f"unknown benchmark {name!r}; benchmarks: {', '.join(b.name for b in self.benchmarks)}"
        )

    def resolve_model(self, model_id: str) -> str:
        """A submitted model id → what from_pretrained loads: a Hub id, or a folder for `local/NAME`."""
        org, _, name = model_id.partition("/")
        if org == "local" and self.local_models:
            return str(hub.local_path(self.local_models) / name)
        return model_id

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("requests")
        return json.dumps(data, indent=2) + "\n"


def save(settings: Settings) -> None:
    hub.create(settings.requests, repo_type="dataset")
    hub.write_text(settings.requests, SETTINGS_FILE, settings.to_json(), message="Leaderboard settings")


def load(requests: str) -> Settings:
    """The settings stored in a requests dataset (HubError when there are none)."""
    data = json.loads(hub.read_text(requests, SETTINGS_FILE))
    data["benchmarks"] = [Benchmark(**b) for b in data["benchmarks"]]
    return Settings(requests=requests, **data)
