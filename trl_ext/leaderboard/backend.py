"""The evaluation backend: takes PENDING requests oldest first, marks them RUNNING, evaluates every requested
benchmark with the harness, writes one results file and marks FINISHED — or FAILED with the reason.

Several backends may poll one queue (e.g. one per GPU machine). Every change of a request's status is one atomic
read-then-write of the queue (`submissions.atomically`: a file lock locally, `parent_commit` on the Hub), so:
- a request is claimed (PENDING → RUNNING) by exactly one backend; a backend that lost the race takes the next
  PENDING request. A claim is the request's `worker` and `attempts` (each claim counts one more attempt).
- A RUNNING request whose worker died (killed, machine lost) is requeued once it is older than the settings'
  `running_timeout_s`, up to `max_attempts`; a request finished in the meantime is left alone.
- The final FINISHED/FAILED write is checked against the claim. What a submitter wants is one result per
  request, as early as possible, never an evaluation thrown away for nothing: so a backend that was slower than the
  timeout still records its result when no other backend took the request over (it is PENDING again, or FAILED
  as abandoned under this claim); when another backend has re-claimed it (or finished it), this backend logs one
  line and drops its results and its status write, and the request is that backend's.

Results are written in one atomic write after the whole evaluation, so a backend killed mid-evaluation leaves no
partial result and loses no request. When one benchmark of a request fails, the others' results are kept: the
request is FINISHED with the failed benchmarks named in its reason (FAILED when every benchmark failed). Each
results file records the benchmark settings it was computed under, so the page never ranks results of different
settings together.

    trl-ext backend --requests ORG/NAME-requests --loop      # where the GPU is
    python -m trl_ext.leaderboard.backend --requests ./hub/leaderboard/requests --once
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone

from trl_ext import hub
from trl_ext.eval.harness import EvalRequest, GenerationSettings, evaluate
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.settings import Settings
from trl_ext.leaderboard.submissions import Request, atomically, list_requests, now, save_request

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """This backend in a request's `worker` field."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_next(settings: Settings, worker: str | None = None) -> Request | None:
    """Claim the oldest PENDING request for `worker` (default: this process): RUNNING, one more attempt. One atomic
    step, so two backends never claim the same request: the one that lost the race reads the queue again and
    claims the next PENDING request. None when nothing is PENDING."""

    def claim(head: str | None) -> Request | None:
        pending = [r for r in list_requests(settings.requests, revision=head) if r.status == "PENDING"]
        if not pending:
            return None
        request = replace(
            pending[0],
            status="RUNNING",
            started_time=now(),
            attempts=pending[0].attempts + 1,
            worker=worker or worker_name(),
        )
        save_request(settings.requests, request, parent_commit=head)
        return request

    return atomically(settings.requests, claim)


def requeue_stale(settings: Settings) -> list[Request]:
    """RUNNING requests older than the timeout go back to PENDING (or FAILED after max_attempts), each in one
    atomic step with the read that found it stale: a request finished in between is left as it is."""
    cutoff = (datetime.now(timezone.utc) - timedelta(seconds=settings.running_timeout_s)).isoformat(
        timespec="seconds"
    )

    def requeue_one(head: str | None) -> Request | None:
        for request in list_requests(settings.requests, revision=head):
            if request.status == "RUNNING" and (request.started_time or "") <= cutoff:
                if request.attempts >= settings.max_attempts:
                    request = replace(
                        request,
                        status="FAILED",
                        failure_reason=f"abandoned {request.attempts} times (worker died or timed out)",
                        finished_time=now(),
                    )
                else:
                    request = replace(request, status="PENDING", worker=None)
                save_request(settings.requests, request, parent_commit=head)
                return request
        return None

    changed = []
    while (request := atomically(settings.requests, requeue_one)) is not None:
        changed.append(request)
    return changed


def read_request(settings: Settings, request: Request, revision: str | None = None) -> Request:
    """The request as it stands in the queue (on the Hub: at commit `revision`, default the latest)."""
    return Request(**hub.read_json(settings.requests, request.path, revision=revision))


def still_claimed(current: Request, claim: Request) -> bool:
    """Whether the backend holding `claim` may write the request's final state (see the module docstring): it
    is still RUNNING under that claim, or nobody took it over (PENDING again, or FAILED as abandoned under it)."""
    if current.status == "PENDING":
        return True
    same_claim = (current.worker, current.attempts) == (claim.worker, claim.attempts)
    return same_claim and current.status in ("RUNNING", "FAILED")


def finish(settings: Settings, claim: Request, final: Request) -> Request:
    """Write `final` (FINISHED or FAILED) for the request `claim` holds, in one atomic step with the check that
    the claim still holds (`still_claimed`); returns the request as it now stands in the queue."""

    def write(head: str | None) -> Request:
        current = read_request(settings, claim, revision=head)
        if not still_claimed(current, claim):
            return current
        save_request(settings.requests, final, parent_commit=head)
        return final

    return atomically(settings.requests, write)


def _log_taken_over(current: Request, claim: Request) -> None:
    logger.warning(
        "%s (%s) was taken over while this backend evaluated it (attempt %d): now %s by %s at attempt %d; "
        "this evaluation's result is dropped",
        claim.model, claim.id, claim.attempts, current.status, current.worker, current.attempts,
    )  # fmt: skip


def results_path(request: Request) -> str:
    name = request.model.split("/")[1]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{request.org}/{name}/results_{request.precision}_{request.id}_{stamp}.json"


class EvaluationFailed(RuntimeError):
    """Every benchmark of a request failed; the message names each with its error."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")[:300]


def evaluate_request(settings: Settings, request: Request) -> tuple[dict, dict[str, str]]:
    """Evaluate every benchmark of a request: the results dict of DESIGN.md (one entry per benchmark that
    could be evaluated, plus `benchmarks`: the settings each was computed under) and {benchmark: error} for
    those that failed. EvaluationFailed when none could be evaluated."""
    merged: dict = {"config": None, "results": {}, "stderr": {}, "benchmarks": {}}
    failed: dict[str, str] = {}
    for name in request.benchmarks:
        try:
            bench = settings.benchmark(name)
            out = _evaluate_benchmark(settings, request, bench)
        except Exception as err:  # one benchmark's failure must not cost the others their results
            logger.warning("%s on %s failed: %s", request.model, name, _one_line(err))
            failed[name] = _one_line(err)
            continue
        merged["results"][name] = next(iter(out["results"].values()))
        merged["stderr"][name] = next(iter(out["stderr"].values()))
        merged["benchmarks"][name] = asdict(bench)
        merged["config"] = merged["config"] or out["config"]
    if not merged["results"]:
        raise EvaluationFailed("; ".join(f"{name}: {error}" for name, error in failed.items()))
    merged["config"].update(
        model=request.model,
        revision=request.revision,
        precision=request.precision,
        model_type=request.model_type,
        request_id=request.id,
        license=request.license,
    )
    merged["config"].pop("dataset", None)
    merged["config"].pop("dataset_config", None)
    return merged, failed


def _evaluate_benchmark(settings: Settings, request: Request, bench) -> dict:
    return evaluate(
        EvalRequest(
            model=settings.resolve_model(request.model),
            dataset=bench.dataset,
            dataset_config=bench.config,
            split=bench.split,
            samples=bench.samples,
            ks=list(bench.ks),
            revision=None if request.org == "local" else request.revision,
            precision=request.precision,
            limit=bench.limit,
            generation=GenerationSettings(max_new_tokens=bench.max_new_tokens, temperature=bench.temperature),
        )
    )


def process_once(settings: Settings) -> Request | None:
    """Handle the oldest PENDING request, if any; returns it as it then stands in the queue (its final state,
    or another backend's state when that one took it over meanwhile)."""
    requeue_stale(settings)
    claim = claim_next(settings)
    if claim is None:
        return None
    logger.info("evaluating %s (%s)", claim.model, claim.id)
    try:
        results, failed = evaluate_request(settings, claim)
        current = read_request(settings, claim)
        if not still_claimed(current, claim):  # no results file for a request another backend evaluates
            _log_taken_over(current, claim)
            return current
        hub.write_json(settings.results, results_path(claim), results, message=f"Results of {claim.model}")
        reason = "; ".join(f"{name} failed: {error}" for name, error in failed.items()) or None
        final = replace(claim, status="FINISHED", finished_time=now(), failure_reason=reason)
    except Exception as err:  # any failure of one evaluation is recorded, and the queue goes on
        reason = str(err) if isinstance(err, EvaluationFailed) else _one_line(err)
        logger.warning("evaluation of %s failed: %s", claim.model, reason)
        final = replace(claim, status="FAILED", finished_time=now(), failure_reason=reason[:500])
    done = finish(settings, claim, final)
    if done is not final:
        _log_taken_over(done, claim)
    return done


def configure_logging() -> None:
    """The backend's own INFO lines; every library only from WARNING: the HTTP clients' per-request INFO lines
    (huggingface_hub's httpx) made 51 of 93 lines of one evaluation's log."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("trl_ext").setLevel(logging.INFO)


def run(requests: str, loop: bool = False, poll_seconds: float = 30.0) -> list[Request]:
    """Process pending requests until none is left (or forever with `loop`), printing one line each; returns
    the requests handled (their final state)."""
    configure_logging()
    settings = settings_io.load(requests)  # a clear HubError when the settings are missing
    handled = []
    if loop:
        print(f"backend polling {requests} every {poll_seconds:g} s (Ctrl-C stops it)", flush=True)
    while True:
        request = process_once(settings)
        if request is not None:
            print(
                f"{request.model} ({request.id}): {request.status}"
                + (f" — {request.failure_reason}" if request.failure_reason else ""),
                flush=True,
            )
            handled.append(request)
            continue
        if not loop:
            return handled
        time.sleep(poll_seconds)


def incomplete(requests: list[Request]) -> list[Request]:
    """The requests that failed, wholly or on some benchmark."""
    return [r for r in requests if r.status == "FAILED" or r.failure_reason]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trl_ext.leaderboard.backend",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--requests", required=True, help="requests dataset (target) holding leaderboard.json"
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--once", action="store_true", help="process pending requests until none is left, then exit"
    )
    mode.add_argument("--loop", action="store_true", help="keep polling for new requests")
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        handled = run(args.requests, loop=args.loop, poll_seconds=args.poll_seconds)
    except hub.HubError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    return 1 if incomplete(handled) else 0


if __name__ == "__main__":
    raise SystemExit(main())
