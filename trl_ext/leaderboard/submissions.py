"""Submissions: validation (shared by the app and the CLI) and the request files of the queue.

One request file per submission (`{org}/{name}_{precision}_{id}.json`), written atomically, so concurrent
submissions never overwrite each other. Status: PENDING → RUNNING → FINISHED | FAILED (with a reason).

Every read-then-write of the queue is one atomic step (`atomically`): the duplicate check and the daily limit
here, and the backend's claim, requeue and final write. A local queue takes a file lock; on the Hub the write is
committed with `parent_commit` = the commit the read saw, the Hub refuses it (412) when another write went in
first, and the step runs again on the new state.

A local model (a folder, or `local/NAME` in the leaderboard's models folder) has no revisions: its revision is
the hash of its weights, so the same weights are one model whatever they are called.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

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


def list_requests(requests: str, revision: str | None = None) -> list[Request]:
    """Every request of the queue (on the Hub: at commit `revision`, default the latest), oldest first."""
    out = []
    for path in hub.list_files(requests, repo_type="dataset", revision=revision):
        if path.count("/") == 1 and path.endswith(".json"):
            out.append(Request(**hub.read_json(requests, path, revision=revision)))
    return sorted(out, key=lambda r: r.submitted_time)


def save_request(requests: str, request: Request, parent_commit: str | None = None) -> None:
    hub.write_json(
        requests,
        request.path,
        asdict(request),
        message=f"{request.status} {request.model}",
        parent_commit=parent_commit,
    )


LOCAL_REVISION_PREFIX = "sha256-"


def local_revision(folder) -> str:
    """The revision of a local model: `sha256-` + the first 16 hex digits of its weights' hash."""
    return LOCAL_REVISION_PREFIX + hub.weights_sha256(folder)[:16]


def _model_license(settings: Settings, model_id: str, revision: str, folder: Path | None = None) -> str:
    """The model exists with a transformers config (`model_type`), and its card declares a license; returns
    the license. Reads the two files only (no transformers: the Space's front end runs this)."""
    target = str(folder) if folder is not None else settings.resolve_model(model_id)
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
    allow_folders: bool = False,
) -> Request:
    """Check a submission and return its request; raise SubmissionError with the reason otherwise. A model
    folder path is accepted with `allow_folders` only (the CLI on the same machine; never from the web app)."""
    model, revision = (model or "").strip(), (revision or "main").strip()
    folder = None
    if hub.is_local(model) and allow_folders:  # a model folder on this machine
        if not settings.local_models:
            raise SubmissionError(
                f"{model} is a local folder, and this leaderboard evaluates Hub models: push it first "
                "(e.g. --push_to_hub --hub_model_id ORG/NAME) and submit ORG/NAME"
            )
        folder = hub.local_path(model)
        if not (folder / "config.json").is_file():
            raise SubmissionError(f"model folder {model} does not exist (no config.json in {folder})")
    else:
        try:
            hub.check_repo_id(model)
        except hub.HubError as err:
            raise SubmissionError(f"malformed model id: {err}") from None
        if model.split("/")[0] == "local" and settings.local_models:
            folder = hub.local_path(settings.resolve_model(model))
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
    if folder is not None and (folder / "config.json").is_file():
        try:
            revision = local_revision(folder)  # whatever revision was typed: a folder has none
        except hub.HubError as err:
            raise SubmissionError(f"model {model}: {err}") from None
        if hub.is_local(model):  # stored in the models folder under a name its weights decide
            model = f"local/{_safe_name(folder.name)}-{revision.removeprefix(LOCAL_REVISION_PREFIX)[:8]}"
    license_ = _model_license(settings, model, revision, folder)
    return Request(model, revision, precision, model_type, list(benchmarks), submitter, license_)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.") or "model"


def _store_local_model(settings: Settings, folder, request: Request) -> None:
    """Copy a submitted model folder into the leaderboard's models folder (what the backend evaluates is
    what was submitted, even if the folder changes later)."""
    target = hub.local_path(settings.resolve_model(request.model))
    if target.exists():  # the name holds the weights' hash: the same model is already there
        return
    with tempfile.TemporaryDirectory() as tmp:
        for file in Path(folder).iterdir():  # the model's files, not training checkpoints or logs
            if file.is_file():
                shutil.copy2(file, Path(tmp) / file.name)
        hub.upload_folder(tmp, str(target), repo_type="model", message="Submitted model")


@contextlib.contextmanager
def _local_queue_lock(requests: str):
    """Serialise check-and-write for a local queue."""
    root = hub.local_path(requests)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _identity(request: Request) -> tuple:
    """What makes two requests the same model: local models by their weights' hash, whatever their name."""
    if request.org == "local" and request.revision.startswith(LOCAL_REVISION_PREFIX):
        return ("local", request.revision, request.precision)
    return (request.model, request.revision, request.precision)


def check_queue(settings: Settings, request: Request, existing: list[Request], account: str | None) -> None:
    """Refuse a duplicate (same model, revision, precision and a common benchmark, not FAILED) and a submitter
    over the daily limit (per `account` when signed in, else per the model's organisation)."""
    for other in existing:
        overlap = set(other.benchmarks) & set(request.benchmarks)
        if _identity(other) == _identity(request) and overlap and other.status != "FAILED":
            raise SubmissionError(
                f"{other.model} ({other.revision}, {other.precision}) was already submitted for "
                f"{sorted(overlap)[0]} (status {other.status})"
            )
    day_ago = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
    mine = (lambda r: r.submitter == account) if account else (lambda r: r.org == request.org)
    recent = [r for r in existing if mine(r) and r.submitted_time >= day_ago]
    if len(recent) >= settings.daily_limit:
        who = f"account {account!r}" if account else f"organisation {request.org!r}"
        raise SubmissionError(f"{who} reached its limit of {settings.daily_limit} submissions per day")


HUB_ATTEMPTS = 20  # optimistic commits before giving up (each lost race means another write went in)
T = TypeVar("T")


class QueueBusy(hub.HubError):
    """Every optimistic commit of one step to a Hub queue lost its race."""


def atomically(requests: str, step: Callable[[str | None], T]) -> T:
    """Run `step(head)` as one atomic read-then-write of the queue: `step` reads at commit `head` and writes with
    `parent_commit=head`. A local queue: under its file lock (`head` is None). On the Hub, a write refused because
    the queue moved on since `head` (HubConflict) runs `step` again on the new head, after a jittered backoff;
    QueueBusy after HUB_ATTEMPTS lost races."""
    if hub.is_local(requests):
        with _local_queue_lock(requests):
            return step(None)
    for attempt in range(HUB_ATTEMPTS):
        head = hub.head_commit(requests)
        try:
            return step(head)
        except hub.HubConflict:
            time.sleep(random.uniform(0, 0.05 * 2 ** min(attempt, 5)))
    raise QueueBusy(f"the queue {requests} is too busy right now: {HUB_ATTEMPTS} writes in a row lost a race")


def submit(
    settings: Settings,
    model: str,
    revision: str = "main",
    precision: str = "float32",
    model_type: str = "fine-tuned",
    benchmarks: list[str] | None = None,
    submitter: str = "anonymous",
    account: str | None = None,
    allow_folders: bool = False,
) -> Request:
    """Validate and enqueue a submission: `benchmarks=None` means all of the leaderboard's, an empty list is
    refused. The daily limit counts the signed-in `account`'s submissions (on a Space), else the model's
    organisation's. A local model folder (`./out/model`) is copied into the leaderboard's models folder."""
    benchmarks = [b.name for b in settings.benchmarks] if benchmarks is None else list(benchmarks)
    request = validate(
        settings, model, revision, precision, model_type, benchmarks, submitter, allow_folders=allow_folders
    )

    def enqueue(head: str | None) -> None:
        check_queue(settings, request, list_requests(settings.requests, revision=head), account)
        if allow_folders and hub.is_local(model.strip()) and hub.is_local(settings.requests):
            _store_local_model(settings, hub.local_path(model.strip()), request)
        save_request(settings.requests, request, parent_commit=head)

    try:
        atomically(settings.requests, enqueue)
    except QueueBusy:
        raise SubmissionError(
            f"the queue {settings.requests} is too busy right now: submit again in a minute"
        ) from None
    return request


def submitted_message(request: Request) -> str:
    return (
        f"✅ Submitted {request.model} ({request.revision}, {request.precision}) for "
        f"{', '.join(request.benchmarks)}: request {request.id} is PENDING."
    )


def describe(request: Request) -> str:
    return json.dumps(asdict(request), indent=2)
