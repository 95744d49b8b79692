"""The evaluation backend: takes PENDING requests oldest first, marks them RUNNING, evaluates every requested
benchmark with the harness, writes one results file and marks FINISHED — or FAILED with the reason.

A RUNNING request whose worker died (killed, machine lost) is requeued once it is older than the settings'
`running_timeout_s`, up to `max_attempts`. Results are written in one atomic write after the whole
evaluation, so a backend killed mid-evaluation leaves no partial result and loses no request.

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
from dataclasses import replace
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


def evaluate_request(settings: Settings, request: Request) -> dict:
    """Evaluate every benchmark of a request; the results dict of DESIGN.md, one entry per benchmark."""
    merged: dict = {"config": None, "results": {}, "stderr": {}}
    for name in request.benchmarks:
        bench = settings.benchmark(name)
        out = evaluate(
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
                generation=GenerationSettings(
                    max_new_tokens=bench.max_new_tokens, temperature=bench.temperature
                ),
            )
        )
        merged["results"][name] = next(iter(out["results"].values()))
        merged["stderr"][name] = next(iter(out["stderr"].values()))
        merged["config"] = merged["config"] or out["config"]
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
    return merged


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
        results = evaluate_request(settings, request)
        hub.write_json(
            settings.results, results_path(request), results, message=f"Results of {request.model}"
        )
        request = replace(request, status="FINISHED", finished_time=now())
    except Exception as err:  # any failure of one evaluation is recorded, and the queue goes on
        logger.exception("evaluation of %s failed", request.model)
        request = replace(
            request, status="FAILED", finished_time=now(), failure_reason=f"{type(err).__name__}: {err}"[:500]
        )
    save_request(settings.requests, request)
    return request


def run(requests: str, loop: bool = False, poll_seconds: float = 30.0) -> None:
    """Process pending requests until none is left (or forever with `loop`), printing one line each."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = settings_io.load(requests)  # a clear HubError when the settings are missing
    while True:
        request = process_once(settings)
        if request is not None:
            print(
                f"{request.model} ({request.id}): {request.status}"
                + (f" — {request.failure_reason}" if request.failure_reason else ""),
                flush=True,
            )
            continue
        if not loop:
            return
        time.sleep(poll_seconds)


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
        run(args.requests, loop=args.loop, poll_seconds=args.poll_seconds)
    except hub.HubError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
