"""Leaderboard settings, stored as `leaderboard.json` in the requests dataset.

Local targets are stored as absolute paths, so the backend or the app started from another folder reads the
same datasets. This module (like `submissions` and `app`) imports no torch/transformers: the Space runs it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from trl_ext import hub
from trl_ext.hub import PRECISIONS  # noqa: F401  (its home: re-exported for app, submissions)

SETTINGS_FILE = "leaderboard.json"
MODEL_TYPES = ("pretrained", "fine-tuned", "rl-tuned", "merged", "other")
DEFAULT_PRECISION = "float32"  # the CLI's and the page's default: one model, one row


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
    temperature: float = 1.0

    @property
    def name(self) -> str:
        return f"{hub.target_label(self.dataset)}/{self.config or 'default'}"


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

    def absolute(self) -> Settings:
        """The same settings with every local target an absolute path (never relative to the cwd)."""

        def fix(target):
            return str(hub.local_path(target)) if target and hub.is_local(target) else target

        return replace(
            self,
            requests=fix(self.requests),
            results=fix(self.results),
            local_models=fix(self.local_models),
            benchmarks=[replace(b, dataset=fix(b.dataset)) for b in self.benchmarks],
        )


def save(settings: Settings) -> None:
    settings = settings.absolute()
    hub.create(settings.requests, repo_type="dataset")
    hub.write_text(settings.requests, SETTINGS_FILE, settings.to_json(), message="Leaderboard settings")


def load(requests: str) -> Settings:
    """The settings stored in a requests dataset (HubError when there are none)."""
    try:
        data = json.loads(hub.read_text(requests, SETTINGS_FILE))
    except hub.HubError as err:
        raise hub.HubError(
            f"no leaderboard settings in {hub.describe(requests)} ({err}): create them with "
            f"`trl-ext leaderboard --requests {requests}` (or --deploy) first"
        ) from err
    data["benchmarks"] = [Benchmark(**b) for b in data["benchmarks"]]
    return Settings(requests=requests, **data).absolute()
