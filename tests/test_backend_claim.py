"""Several backends on one queue: claiming a request, requeueing a stale one and writing a final state are each
one atomic read-then-write, on a local queue (file lock) and on a Hub requests repo (parent_commit, through the
loopback Hub server and the real huggingface_hub client). Every race is forced into its worst interleaving: all
claimers read the queue before any writes (where the code lets them), and another backend's write lands right
after a read."""

import contextlib
import logging
import threading
from dataclasses import replace

import pytest

from trl_ext import hub
from trl_ext.leaderboard import backend
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.settings import Benchmark, Settings
from trl_ext.leaderboard.submissions import Request, list_requests, save_request

TARGETS = ["local", pytest.param("hub", marks=pytest.mark.hub)]
# How long a claimer waits for the others to have read the queue too. Under a file lock they never can (the
# wait runs out once per test, with the lock held); on the Hub and in unguarded code they all arrive at once.
GATE_S = {"local": 0.5, "hub": 10.0}


@pytest.fixture
def queue(request, tmp_path):
    """Leaderboard settings with an empty queue: ("local" | "hub", Settings)."""
    if request.param == "hub":
        request.getfixturevalue("loopback_hub")
        requests, results = "tester/claim-requests", "tester/claim-results"
    else:
        requests, results = str(tmp_path / "requests"), str(tmp_path / "results")
    settings = Settings(requests=requests, results=results, benchmarks=[Benchmark(dataset="tester/pbe")])
    settings_io.save(settings)
    return request.param, settings_io.load(requests)


def enqueue(settings: Settings, n: int) -> list[Request]:
    """n PENDING requests, submitted one second apart (the queue's order)."""
    made = []
    for i in range(n):
        request = Request(
            f"org/model-{i}", "main", "float32", "fine-tuned", ["pbe/default"], "tester", "mit",
            id=f"request{i:05d}", submitted_time=f"2026-01-01T00:00:0{i}+00:00",
        )  # fmt: skip
        save_request(settings.requests, request)
        made.append(request)
    return made


def everyone_reads_before_anyone_writes(monkeypatch, parties: int, wait_s: float) -> None:
    """Each claimer, after its first read of the queue, waits (up to `wait_s`) until all have read it."""
    barrier, waited = threading.Barrier(parties, timeout=wait_s), threading.local()
    listing = backend.list_requests

    def gated(*args, **kwargs):
        found = listing(*args, **kwargs)
        if not getattr(waited, "done", False):
            waited.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return found

    monkeypatch.setattr(backend, "list_requests", gated)


def race_to_claim(settings: Settings, claimers: int) -> list[Request]:
    claims, threads = [], []

    def one(worker):
        claims.append(backend.claim_next(settings, worker=worker))

    threads = [threading.Thread(target=one, args=(f"backend-{i}",)) for i in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(claims) == claimers
    return [c for c in claims if c is not None]


@pytest.mark.parametrize("queue", TARGETS, indirect=True)
def test_one_pending_request_is_claimed_by_exactly_one_backend(queue, monkeypatch):
    target, settings = queue
    (request,) = enqueue(settings, 1)
    everyone_reads_before_anyone_writes(monkeypatch, 5, GATE_S[target])
    claims = race_to_claim(settings, 5)
    assert [c.id for c in claims] == [request.id]
    (stored,) = list_requests(settings.requests)
    assert (stored.status, stored.worker, stored.attempts) == ("RUNNING", claims[0].worker, 1)


@pytest.mark.parametrize("queue", TARGETS, indirect=True)
def test_each_pending_request_is_claimed_exactly_once(queue, monkeypatch):
    target, settings = queue
    made = enqueue(settings, 3)
    everyone_reads_before_anyone_writes(monkeypatch, 5, GATE_S[target])
    claims = race_to_claim(settings, 5)
    assert sorted(c.id for c in claims) == [r.id for r in made]
    assert len({c.worker for c in claims}) == 3
    stored = {r.id: r for r in list_requests(settings.requests)}
    for claim in claims:
        assert (stored[claim.id].status, stored[claim.id].worker, stored[claim.id].attempts) == (
            "RUNNING", claim.worker, 1,
        )  # fmt: skip


@pytest.mark.parametrize("queue", TARGETS, indirect=True)
def test_stale_requeue_never_undoes_a_request_finished_meanwhile(queue, monkeypatch):
    """Backend B finds A's request stale; A finishes it right after B's read: the request stays FINISHED."""
    target, settings = queue
    enqueue(settings, 1)
    claim = backend.claim_next(settings, worker="backend-A")
    claim = replace(claim, started_time="2000-01-01T00:00:00+00:00")  # A has been at it for ages
    save_request(settings.requests, claim)
    finished = replace(claim, status="FINISHED", finished_time="2026-01-01T01:00:00+00:00")
    listing, other = backend.list_requests, []

    def read_then_a_finishes(*args, **kwargs):
        found = listing(*args, **kwargs)
        if not other:  # A's final write, as B's first read returns (a file lock makes it wait for B)
            other.append(threading.Thread(target=backend.finish, args=(settings, claim, finished)))
            other[0].start()
            other[0].join(GATE_S[target])
        return found

    monkeypatch.setattr(backend, "list_requests", read_then_a_finishes)
    backend.requeue_stale(settings)
    other[0].join(60)
    (stored,) = list_requests(settings.requests)
    assert stored == finished


@pytest.mark.parametrize("queue", TARGETS, indirect=True)
def test_a_late_result_never_overwrites_a_request_another_backend_took_over(queue, caplog):
    """A is slower than the timeout: its request is requeued and claimed by B. A's final write is dropped (one
    log line), B's goes in. A late result of a request nobody took over (PENDING again) is kept."""
    _, settings = queue
    enqueue(settings, 2)
    quick = replace(settings, running_timeout_s=0)
    a = backend.claim_next(settings, worker="backend-A")
    assert [r.id for r in backend.requeue_stale(quick)] == [a.id]
    b = backend.claim_next(settings, worker="backend-B")
    assert (b.id, b.attempts) == (a.id, 2)
    with caplog.at_level(logging.WARNING, logger="trl_ext.leaderboard.backend"):
        stands = backend.finish(settings, a, replace(a, status="FINISHED"))
    assert (stands.status, stands.worker, stands.attempts) == ("RUNNING", "backend-B", 2)
    assert backend.read_request(settings, a) == b
    done = backend.finish(settings, b, replace(b, status="FAILED", failure_reason="out of memory"))
    assert backend.read_request(settings, a) == done and done.worker == "backend-B"
    # a request requeued but not claimed again: the late result is the only one coming, and is kept
    c = backend.claim_next(settings, worker="backend-C")
    assert backend.requeue_stale(quick)[0].status == "PENDING"
    late = backend.finish(settings, c, replace(c, status="FINISHED"))
    assert backend.read_request(settings, c) == late and late.status == "FINISHED"
    assert backend.claim_next(settings, worker="backend-D") is None


def test_process_once_drops_the_results_of_a_request_taken_over(tmp_path, monkeypatch, caplog):
    """The evaluation outlives the timeout and another backend re-claims the request: no results file and no
    status write from this backend, one warning line; the request is the other backend's."""
    settings = Settings(
        requests=str(tmp_path / "requests"),
        results=str(tmp_path / "results"),
        benchmarks=[Benchmark(dataset="tester/pbe")],
    )
    settings_io.save(settings)
    (request,) = enqueue(settings, 1)

    def evaluation_outlives_the_timeout(settings_, claim):
        backend.requeue_stale(replace(settings_, running_timeout_s=0))
        backend.claim_next(settings_, worker="backend-B")
        return {"config": {}, "results": {"pbe/default": {"pass@1": 1.0}}}, {}

    monkeypatch.setattr(backend, "evaluate_request", evaluation_outlives_the_timeout)
    with caplog.at_level(logging.INFO, logger="trl_ext.leaderboard.backend"):
        stands = backend.process_once(settings)
    assert stands.id == request.id
    assert (stands.status, stands.worker, stands.attempts) == ("RUNNING", "backend-B", 2)
    assert hub.list_files(settings.results) == []
    assert list_requests(settings.requests) == [stands]
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "taken over" in dropped[0] and "backend-B" in dropped[0]
