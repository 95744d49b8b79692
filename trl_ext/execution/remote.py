"""The `sandbox-fusion` backend: an async, fault-tolerant client of SandboxFusion endpoints.

Each endpoint is probed once (`GET /health`): a `trl-ext sandbox serve` replica gets whole jobs in batches on
our endpoints (`/trl_ext/v1/...`: the server judges, expected outputs never enter the box); any other
SandboxFusion deployment gets one `POST /run_code` per test, and the client judges the output itself on plain
data (stdin mode: stdout; call mode: the return value that a small harness prints in the plain-data codec).
HumanEval-style `test_code` would have to run in the candidate's own process there, where the candidate can
forge the verdict: such jobs are refused unless `TRL_EXT_ALLOW_TEST_CODE_IN_CANDIDATE_PROCESS=1` (see the
README's remote threat model).

Fault tolerance: at most `max_in_flight` requests per endpoint (a trl-ext replica: as many as the capacity it
advertises admits); each request goes to the least-loaded healthy endpoint (round-robin among ties); every
request has a timeout (its jobs' own time limits plus `request_timeout_s`); a failed request (connection error,
timeout, 5xx, unreadable reply) is retried elsewhere with exponential backoff and full jitter; `breaker_failures`
failures in a row open an endpoint's circuit breaker for `breaker_cooldown_s`, after which a health probe tries
it before any job goes there again. 429/503 answers are backpressure, not failures: the client waits
`Retry-After` (for up to `busy_deadline_s`). Jobs that no endpoint could run end in `sandbox_error`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import random
import secrets
import time
from dataclasses import dataclass, field

import httpx

from trl_ext.execution import _worker, judge, wire
from trl_ext.execution.async_backend import AsyncBackend

ALLOW_TEST_CODE_ENV = "TRL_EXT_ALLOW_TEST_CODE_IN_CANDIDATE_PROCESS"
TOKEN_ENV = "TRL_EXT_SANDBOX_TOKEN"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


@dataclass
class RemoteSettings:
    r"""
    How the client talks to its endpoints.

    Parameters:
        max_in_flight (`int`, defaults to `4`): requests in flight per endpoint.
        chunk_size (`int`, defaults to `4`): jobs per batch request to a trl-ext endpoint.
        request_timeout_s (`float`, defaults to `30.0`): a request's timeout beyond its jobs' own time limits.
        max_attempts (`int`, defaults to `5`): tries of one request over all endpoints before `sandbox_error`.
        backoff_s (`float`, defaults to `0.2`): first retry delay (doubled per retry, with full jitter).
        backoff_max_s (`float`, defaults to `5.0`): largest retry delay.
        breaker_failures (`int`, defaults to `2`): failures in a row that open an endpoint's circuit breaker.
        breaker_cooldown_s (`float`, defaults to `15.0`): how long an open breaker keeps requests away.
        busy_deadline_s (`float`, defaults to `600.0`): how long a request waits on 429/503 before giving up.
        token (`str` or `None`, defaults to `$TRL_EXT_SANDBOX_TOKEN`): the endpoints' bearer token.
        allow_test_code_in_candidate_process (`bool`, defaults to `$TRL_EXT_ALLOW_TEST_CODE_IN_CANDIDATE_PROCESS`):
            run HumanEval-style `test_code` on third-party endpoints, in the candidate's process, where the
            candidate can forge the verdict.
    """

    max_in_flight: int = 4
    chunk_size: int = 4
    request_timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0
    breaker_failures: int = 2
    breaker_cooldown_s: float = 15.0
    busy_deadline_s: float = 600.0
    token: str | None = field(default_factory=lambda: os.environ.get(TOKEN_ENV) or None)
    allow_test_code_in_candidate_process: bool = field(default_factory=lambda: _env_flag(ALLOW_TEST_CODE_ENV))


class NoEndpointError(RuntimeError):
    """No endpoint could run a request (all failed or are down)."""


class UnsafeRemoteJobError(ValueError):
    """A job whose verdict would be forgeable on the configured endpoints."""


class RemoteJobRefused(ValueError):
    """An endpoint refused a job as invalid (4xx): a configuration problem, not an outage."""


class _SandboxSide(Exception):
    """The endpoint answered that its sandbox failed on this request (retried elsewhere, not held against it)."""


class _Endpoint:
    def __init__(self, url: str, max_in_flight: int):
        self.url = url
        self.slots = asyncio.Semaphore(max_in_flight)
        self.in_flight = 0  # requests sent or waiting for a slot
        self.failures = 0  # in a row
        self.open_until = 0.0  # circuit breaker
        self.ours: bool | None = None  # a trl-ext server (None: not probed yet)
        self.probing = asyncio.Lock()
        self.probe: asyncio.Future | None = None  # the health probe running now


_CALL_TAIL = """
fn = candidate_globals.get(fn_name)
if fn is None and "Solution" in candidate_globals:
    fn = getattr(candidate_globals["Solution"](), fn_name, None)
if fn is None:
    raise NameError(f"the program defines no function {fn_name!r}")
reply = json.dumps(encode_value(fn(*json.loads(sys.stdin.read()))))
sys.stdout.flush()
sys.stdout.write("\\n" + marker + reply + "\\n")
"""
# The call harness for a plain /run_code: the candidate's return value printed in the sandbox's plain-data codec
# (the same source as the local worker's), after a marker. It shares the candidate's process, so the candidate
# can make it print anything: that is only choosing its own answer, which the client compares to the expected
# value that never left the trainer.
_CALL_HARNESS = f"import json, math, sys\nMAX_DEPTH = {_worker.MAX_DEPTH}\n{inspect.getsource(_worker.encode_value)}{_CALL_TAIL}"


def call_program(code: str, fn_name: str, marker: str) -> str:
    """`code` followed by the call harness (reads the JSON argument list on stdin)."""
    scope = f"{{'__name__': '_trl_ext_call', 'candidate_globals': globals(), 'fn_name': {fn_name!r}, 'marker': {marker!r}}}"
    return f"{code}\n\nexec(compile({_CALL_HARNESS!r}, '<trl-ext call>', 'exec'), {scope})\n"


def _call_result(result: judge.ExecResult, marker: str) -> judge.ExecResult:
    """Decode the reply of a call-harness run (strictly); no reply or an undecodable one: runtime_error."""
    if result.status != "ok":
        return result
    stdout, found, reply = result.stdout.rpartition(marker)
    try:
        if not found:
            raise ValueError("no reply")
        value = _worker.decode_value(json.loads(reply))
    except (ValueError, TypeError, RecursionError):
        result.status = "runtime_error"
        return result
    result.stdout, result.value = stdout.removesuffix("\n"), value
    return result


def _retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (an HTTP date, or nothing: 1 s)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _tests_job_budget(job: dict) -> float:
    timeout = float(job.get("timeout", judge.DEFAULT_TIMEOUT))
    return timeout * max(1, len(job.get("tests") or []))


def _unrun_tests(job: dict, why: str) -> judge.TestsResult:
    tests = job.get("tests") or []
    first = tests[0] if tests else {"input": "", "output": ""}
    num = len(tests) if tests and not job.get("test_code") else 1
    return judge.TestsResult(
        results=[judge.TestResult("sandbox_error", first["input"], first["output"], "", why)], num_tests=num
    )


class SandboxFusionBackend(AsyncBackend):
    """Jobs on SandboxFusion endpoints (see the module docstring)."""

    name = "sandbox-fusion"

    def __init__(self, urls, settings: RemoteSettings | None = None):
        super().__init__()
        self.settings = settings or RemoteSettings()
        self.endpoints = [_Endpoint(u.rstrip("/"), self.settings.max_in_flight) for u in urls]
        self._turn = 0
        self._http: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------------------------ endpoints

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            token = self.settings.token
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self._http = httpx.AsyncClient(headers=headers, limits=httpx.Limits(max_keepalive_connections=64))
        return self._http

    def _failed(self, endpoint: _Endpoint) -> None:
        endpoint.failures += 1
        if endpoint.failures >= self.settings.breaker_failures:
            endpoint.open_until = time.monotonic() + self.settings.breaker_cooldown_s
            endpoint.ours = None  # probe again when it comes back

    async def _probe(self, endpoint: _Endpoint) -> None:
        async with endpoint.probing:
            if endpoint.ours is not None or endpoint.open_until > time.monotonic():
                return
            try:
                response = await self._client().get(
                    f"{endpoint.url}/health", timeout=min(10.0, self.settings.request_timeout_s)
                )
            except httpx.HTTPError:
                endpoint.failures = self.settings.breaker_failures - 1  # one strike opens it
                self._failed(endpoint)
                return
            try:  # a stock deployment may answer 404, or a page that is not JSON
                info = response.json() if response.status_code == 200 else {}
            except ValueError:
                info = {}
            info = info if isinstance(info, dict) else {}
            endpoint.ours = info.get("server") == wire.SERVER_NAME and wire.API in info.get("api", [])

    async def _probe_all(self) -> None:
        await asyncio.gather(*(self._probe(e) for e in self.endpoints))

    async def _choose(self, need_ours: bool, avoid: _Endpoint | None = None) -> _Endpoint | None:
        """The least-loaded healthy endpoint (round-robin among ties), other than `avoid` (the one that just
        failed this request) when there is another. Endpoints not probed yet are probed in the background while
        others can serve, and awaited only when none can."""
        now = time.monotonic()
        probes = [self._spawn_probe(e) for e in self.endpoints if e.ours is None and e.open_until <= now]

        def ready():
            now = time.monotonic()
            up = [
                e
                for e in self.endpoints
                if e.open_until <= now and e.ours is not None and (e.ours or not need_ours)
            ]
            return [e for e in up if e is not avoid] or up

        candidates = ready()
        if not candidates and probes:
            await asyncio.gather(*probes)
            candidates = ready()
        if not candidates:
            return None
        least = min(e.in_flight for e in candidates)
        ties = [e for e in candidates if e.in_flight == least]
        self._turn += 1
        return ties[self._turn % len(ties)]

    def _spawn_probe(self, endpoint: _Endpoint) -> asyncio.Task:
        if endpoint.probe is None or endpoint.probe.done():
            endpoint.probe = asyncio.ensure_future(self._probe(endpoint))
        return endpoint.probe

    def _delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.settings.backoff_max_s, self.settings.backoff_s * 2**attempt))

    async def _post(self, path: str, payload: dict, budget_s: float, need_ours: bool, parse):
        """POST to the best endpoint, retrying elsewhere; `parse(json)` of the first good reply."""
        settings, attempt = self.settings, 0
        busy_until = time.monotonic() + settings.busy_deadline_s
        last, failed = "no endpoint is up", None
        while attempt < settings.max_attempts:
            endpoint = await self._choose(need_ours, avoid=failed)
            if endpoint is not None:
                endpoint.in_flight += 1
                try:
                    async with endpoint.slots:
                        response = await self._client().post(
                            endpoint.url + path, json=payload, timeout=settings.request_timeout_s + budget_s
                        )
                    if response.status_code in (429, 503) and time.monotonic() < busy_until:
                        await asyncio.sleep(
                            min(_retry_after(response), settings.backoff_max_s) + self._delay(0)
                        )
                        continue  # backpressure: not a failure, not an attempt
                    if response.status_code in (401, 403):
                        raise PermissionError(f"{endpoint.url} refused the token: {response.text[:200]}")
                    if 400 <= response.status_code < 500:
                        raise RemoteJobRefused(f"{endpoint.url}{path} refused the job: {response.text[:300]}")
                    response.raise_for_status()
                    result = parse(response.json())
                    endpoint.failures = 0
                    return result
                except (RemoteJobRefused, PermissionError):
                    raise
                except _SandboxSide as err:
                    last, failed = f"{endpoint.url}: sandbox error: {err}", endpoint
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                    last, failed = f"{endpoint.url}: {type(err).__name__}: {err}", endpoint
                    self._failed(endpoint)
                finally:
                    endpoint.in_flight -= 1
            await asyncio.sleep(self._delay(attempt))
            attempt += 1
        raise NoEndpointError(f"no endpoint could run the job after {attempt} tries ({last})")

    # ------------------------------------------------------------------------------------------ jobs

    async def _batched(self, kind: str, jobs: list[dict], budget, from_json, unrun) -> list:
        size = self.settings.chunk_size
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]

        def parse_for(chunk):
            def parse(data):
                results = data["results"]
                if not isinstance(results, list) or len(results) != len(chunk):
                    raise ValueError(f"expected {len(chunk)} results")
                return [from_json(r) for r in results]

            return parse

        async def one(chunk):
            try:
                return await self._post(
                    f"/{wire.API}/{kind}", {"jobs": chunk}, sum(map(budget, chunk)), True, parse_for(chunk)
                )
            except NoEndpointError as err:
                return [unrun(job, str(err)) for job in chunk]

        return [r for chunk in await asyncio.gather(*map(one, chunks)) for r in chunk]

    async def _run_code(self, code: str, stdin: str, timeout: float, memory_mb: int) -> judge.ExecResult:
        payload = {
            "code": code,
            "language": "python",
            "stdin": stdin,
            "run_timeout": timeout,
            "memory_limit_MB": memory_mb,
        }

        def parse(data):
            result = wire.exec_from_run_code(data)
            if result is None:
                raise _SandboxSide(str(data.get("message"))[:200])
            return result

        return await self._post("/run_code", payload, timeout, False, parse)

    async def _ours(self) -> bool:
        """Whether to send whole jobs to trl-ext endpoints (any is known), else /run_code per run."""
        await self._probe_all()
        known = [e.ours for e in self.endpoints if e.ours is not None]
        return any(known) or not known  # nothing reachable: the batch path ends in sandbox_error

    async def _run_batch(self, jobs: list[dict]) -> list[judge.ExecResult]:
        def budget(job):
            return float(job.get("timeout", judge.DEFAULT_TIMEOUT))

        def unrun(job, why):
            return judge.ExecResult("sandbox_error", stderr=f"no sandbox could run this job: {why}")

        if await self._ours():
            return await self._batched("run_batch", jobs, budget, wire.exec_from_json, unrun)

        async def one(job):
            try:
                return await self._run_code(
                    job["code"],
                    job.get("stdin", ""),
                    budget(job),
                    int(job.get("memory_mb", judge.DEFAULT_MEMORY_MB)),
                )
            except NoEndpointError as err:
                return unrun(job, str(err))

        return list(await asyncio.gather(*map(one, jobs)))

    async def _run_tests_batch(self, jobs: list[dict]) -> list[judge.TestsResult]:
        if await self._ours():
            return await self._batched(
                "run_tests_batch", jobs, _tests_job_budget, wire.tests_from_json, _unrun_tests
            )
        if (
            any(job.get("test_code") for job in jobs)
            and not self.settings.allow_test_code_in_candidate_process
        ):
            raise UnsafeRemoteJobError(
                "test_code (HumanEval-style check) jobs need a trl-ext endpoint (`trl-ext sandbox serve`): on a "
                "plain SandboxFusion /run_code the check runs in the candidate's own process, where the candidate "
                f"can forge the verdict; set {ALLOW_TEST_CODE_ENV}=1 to accept that risk"
            )
        return list(await asyncio.gather(*map(self._tests_via_run_code, jobs)))

    async def _tests_via_run_code(self, job: dict) -> judge.TestsResult:
        timeout = float(job.get("timeout", judge.DEFAULT_TIMEOUT))
        memory_mb = int(job.get("memory_mb", judge.DEFAULT_MEMORY_MB))
        if job.get("test_code"):  # allowed explicitly: HumanEval's own order, verdict = exit status
            program = f"{job.get('test_setup') or ''}\n{job['code']}\n\n{job['test_code']}\n\ncheck({job['fn_name']})\n"
            try:
                result = await self._run_code(program, "", timeout, memory_mb)
            except NoEndpointError as err:
                return _unrun_tests(job, str(err))
            status = result.status
            if status == "runtime_error" and "AssertionError" in result.stderr:
                status = "wrong_answer"
            test = judge.TestResult(
                status, "", "", result.stdout[:2000], result.stderr[-2000:], result.wall_time
            )
            return judge.TestsResult(results=[test], num_tests=1)
        fn_name, tests = job.get("fn_name"), job["tests"]
        mode = "call" if fn_name else "script"
        marker = f"trl-ext-reply-{secrets.token_hex(8)}:"
        program = call_program(job["code"], fn_name, marker) if fn_name else job["code"]
        out = judge.TestsResult(num_tests=len(tests))
        for test in tests:
            try:
                result = await self._run_code(program, test["input"], timeout, memory_mb)
            except NoEndpointError as err:
                out.results.append(
                    judge.TestResult("sandbox_error", test["input"], test["output"], "", str(err))
                )
                break
            if mode == "call":
                result = _call_result(result, marker)
            try:
                status, got = judge._judge(result, mode, test["output"])
            except Exception as err:  # as locally: whatever came back ends in a status for this job only
                status, got = "wrong_answer", f"<cannot be judged: {type(err).__name__}>"
            out.results.append(
                judge.TestResult(
                    status, test["input"], test["output"], got, result.stderr[-2000:], result.wall_time
                )
            )
            if status != "ok" and job.get("stop_on_failure", True):
                break
        return out

    async def _aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
