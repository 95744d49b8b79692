"""The evaluation backend: takes PENDING requests oldest first, marks them RUNNING, evaluates every requested
benchmark with the harness, writes one results file and marks FINISHED — or FAILED with the reason.

A RUNNING request whose worker died (killed, machine lost) is requeued once it is older than the settings'
`running_timeout_s`, up to `max_attempts`. Results are written in one atomic write after the whole
evaluation, so a backend killed mid-evaluation leaves no partial result and loses no request. When one benchmark
of a request fails, the others' results are kept: the request is FINISHED with the failed benchmarks named in its
reason (FAILED when every benchmark failed). Each results file records the benchmark settings it was computed
under, so the page never ranks results of different settings together.

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
from trl_ext.leaderboard.submissions import Request, list_requests, now, save_request

logger = logging.getLogger(__name__)


def requeue_stale(settings: Settings) -> list[Request]:
    """RUNNING requests older than the timeout go back to PENDING (or FAILED after max_attempts)."""
    cutoff = (datetime.now(timezone.utc) - timedelta(seconds=settings.running_timeout_s)).isoformat(
        timespec="seconds"
    )
    changed = []
    for request in list_requests(settings.requests):
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
            save_request(settings.requests, request)
            changed.append(request)
    return changed


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
    """Handle the oldest PENDING request, if any; returns it in its final state."""
    requeue_stale(settings)
    pending = [r for r in list_requests(settings.requests) if r.status == "PENDING"]
    if not pending:
        return None
    request = replace(
        pending[0],
        status="RUNNING",
        started_time=now(),
        attempts=pending[0].attempts + 1,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    save_request(settings.requests, request)
    logger.info("evaluating %s (%s)", request.model, request.id)
    try:
        results, failed = evaluate_request(settings, request)
        hub.write_json(
            settings.results, results_path(request), results, message=f"Results of {request.model}"
        )
        reason = "; ".join(f"{name} failed: {error}" for name, error in failed.items()) or None
        request = replace(request, status="FINISHED", finished_time=now(), failure_reason=reason)
    except Exception as err:  # any failure of one evaluation is recorded, and the queue goes on
        reason = str(err) if isinstance(err, EvaluationFailed) else _one_line(err)
        logger.warning("evaluation of %s failed: %s", request.model, reason)
        request = replace(request, status="FAILED", finished_time=now(), failure_reason=reason[:500])
    save_request(settings.requests, request)
    return request


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
