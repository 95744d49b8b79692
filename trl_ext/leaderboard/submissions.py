"""Submissions: validation (shared by the app and the CLI) and the request files of the queue.

One request file per submission (`{org}/{name}_{precision}_{id}.json`), written atomically, so concurrent
submissions never overwrite each other. Status: PENDING → RUNNING → FINISHED | FAILED (with a reason).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from trl_ext import hub
from trl_ext.leaderboard.settings import MODEL_TYPES, PRECISIONS, Settings

STATUSES = ("PENDING", "RUNNING", "FINISHED", "FAILED")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_SUBMITTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\- ]{0,63}$")


class SubmissionError(ValueError):
    """A submission was refused; the message says why."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Request:
    model: str
    revision: str
    precision: str
    model_type: str
    benchmarks: list[str]
    submitter: str
    license: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    submitted_time: str = field(default_factory=now)
    status: str = "PENDING"
    started_time: str | None = None
    finished_time: str | None = None
    failure_reason: str | None = None
    attempts: int = 0
    worker: str | None = None

    @property
    def org(self) -> str:
        return self.model.split("/")[0]

    @property
    def path(self) -> str:
        name = self.model.split("/")[1]
        return f"{self.org}/{name}_{self.precision}_{self.id}.json"


def list_requests(requests: str) -> list[Request]:
    out = []
    for path in hub.list_files(requests, repo_type="dataset"):
        if path.count("/") == 1 and path.endswith(".json"):
            out.append(Request(**hub.read_json(requests, path)))
    return sorted(out, key=lambda r: r.submitted_time)


def save_request(requests: str, request: Request) -> None:
    hub.write_json(requests, request.path, asdict(request), message=f"{request.status} {request.model}")


def _model_license(settings: Settings, model_id: str, revision: str) -> str:
    """The model exists with a transformers config (`model_type`), and its card declares a license; returns
    the license. Reads the two files only (no transformers: the Space's front end runs this)."""
    target = settings.resolve_model(model_id)
    revision = None if hub.is_local(target) else revision
    try:
        hub.check_model(target, revision)
        config = json.loads(hub.read_text(target, "config.json", repo_type="model", revision=revision))
    except hub.HubError as err:
        raise SubmissionError(str(err).replace(repr(target), repr(model_id))) from None
    except ValueError as err:
        raise SubmissionError(
            f"the config.json of {model_id} (revision {revision}) is not JSON: {err}"
        ) from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise SubmissionError(
            f"the config.json of {model_id} has no `model_type`: transformers cannot load it"
        )
    try:
        card = hub.read_text(target, "README.md", repo_type="model", revision=revision)
    except hub.HubError:
        card = ""
    license_ = hub.split_card(card)[0].get("license")
    if not license_:
        raise SubmissionError(
            f"{model_id} declares no license in its model card (README.md front matter `license:`)"
        )
    return str(license_)


def validate(
    settings: Settings,
    model: str,
    revision: str,
    precision: str,
    model_type: str,
    benchmarks: list[str],
    submitter: str,
) -> Request:
    """Check a submission and return its request; raise SubmissionError with the reason otherwise."""
    model, revision = (model or "").strip(), (revision or "main").strip()
    try:
        hub.check_repo_id(model)
    except hub.HubError as err:
        raise SubmissionError(f"malformed model id: {err}") from None
    if not _REVISION.match(revision) or ".." in revision:
        raise SubmissionError(f"malformed revision {revision!r}: letters, digits, '.', '_' and '-' only")
    if precision not in PRECISIONS:
        raise SubmissionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if model_type not in MODEL_TYPES:
        raise SubmissionError(f"model type must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    if not benchmarks:
        raise SubmissionError("choose at least one benchmark")
    known = [b.name for b in settings.benchmarks]
    unknown = [b for b in benchmarks if b not in known]
    if unknown:
        raise SubmissionError(f"unknown benchmark {unknown[0]!r}; benchmarks: {', '.join(known)}")
    submitter = (submitter or "anonymous").strip()
    if not _SUBMITTER.match(submitter):
        raise SubmissionError(f"malformed submitter name {submitter!r}")
    license_ = _model_license(settings, model, revision)
    return Request(model, revision, precision, model_type, list(benchmarks), submitter, license_)


@contextlib.contextmanager
def _queue_lock(requests: str):
    """Serialise check-and-write for local queues (on the Hub each submission is its own commit)."""
    if not hub.is_local(requests):
        yield
        return
    root = hub.local_path(requests)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def submit(
    settings: Settings,
    model: str,
    revision: str = "main",
    precision: str = "float32",
    model_type: str = "fine-tuned",
    benchmarks: list[str] | None = None,
    submitter: str = "anonymous",
    account: str | None = None,
) -> Request:
    """Validate and enqueue a submission: `benchmarks=None` means all of the leaderboard's, an empty list is
    refused. The daily limit counts the signed-in `account`'s submissions (on a Space), else the model's
    organisation's."""
    benchmarks = [b.name for b in settings.benchmarks] if benchmarks is None else list(benchmarks)
    request = validate(settings, model, revision, precision, model_type, benchmarks, submitter)
    with _queue_lock(settings.requests):
        existing = list_requests(settings.requests)
        for other in existing:
            same = (other.model, other.revision, other.precision) == (
                request.model,
                request.revision,
                request.precision,
            )
            overlap = set(other.benchmarks) & set(request.benchmarks)
            if same and overlap and other.status != "FAILED":
                raise SubmissionError(
                    f"{request.model} ({request.revision}, {request.precision}) was already submitted for "
                    f"{sorted(overlap)[0]} (status {other.status})"
                )
        day_ago = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
        mine = (lambda r: r.submitter == account) if account else (lambda r: r.org == request.org)
        recent = [r for r in existing if mine(r) and r.submitted_time >= day_ago]
        if len(recent) >= settings.daily_limit:
            who = f"account {account!r}" if account else f"organisation {request.org!r}"
            raise SubmissionError(f"{who} reached its limit of {settings.daily_limit} submissions per day")
        save_request(settings.requests, request)
    return request


def submitted_message(request: Request) -> str:
    return (
        f"✅ Submitted {request.model} ({request.revision}, {request.precision}) for "
        f"{', '.join(request.benchmarks)}: request {request.id} is PENDING."
    )


def describe(request: Request) -> str:
    return json.dumps(asdict(request), indent=2)
