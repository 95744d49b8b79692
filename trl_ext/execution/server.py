"""`trl-ext sandbox serve`: the local sandbox pool as an HTTP service, SandboxFusion-compatible.

Endpoints:
- `POST /run_code`: SandboxFusion's API (what verl, SkyRL and the `sandbox-fusion` client call). Request: `code`,
  `language` (`python`; anything else is refused with 422), `stdin`, `run_timeout`, `compile_timeout`
  (accepted; Python has no compile step), `memory_limit_MB` (-1: the server's default), `files` (path →
  base64, written to the program's working directory first), `fetch_files` (paths returned base64 after the
  run). Response: `status` (Success | Failed | SandboxError), `message`, `compile_result` (null), `run_result`
  (`status` Finished | Error | TimeLimitExceeded, `execution_time`, `return_code`, `stdout`, `stderr`), `files`.
- `POST /trl_ext/v1/run_batch` and `POST /trl_ext/v1/run_tests_batch`: ours. `{"jobs": [...]}` with the
  arguments of `trl_ext.execution.run` / `run_tests` each; the *server* judges whole test suites on plain data,
  so expected outputs and HumanEval `check` code never enter the candidate's process (see the README's remote
  threat model: a plain `/run_code` cannot give that).
- `GET /health`: liveness and load: workers, capacity, jobs in flight and served (open without the token).

With a token, every other request needs `Authorization: Bearer <token>` (401 otherwise), checked before its
body is read; bodies are at most 256 MiB (413).

Backpressure: at most `capacity` jobs are admitted at once (default: 8 per worker; a batch counts each of its
jobs, and a batch is admitted whole when nothing else runs); beyond that the answer is 429 with `Retry-After`,
never a growing queue. 503 with `Retry-After` while the sandbox cannot run jobs. Binding an address other than
loopback without a token is refused unless the caller accepts the risk explicitly (`allow_no_token`).

Stack: starlette + uvicorn (well-kept ASGI pieces; the server is a few routes, so no framework on top).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import os
import secrets
import signal
import socket
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trl_ext import __version__
from trl_ext.execution import judge, wire
from trl_ext.execution.sandbox import Sandbox, SandboxUnavailableError

APIS = ("all", "sandbox-fusion")  # sandbox-fusion: only what a stock SandboxFusion deployment offers
DEFAULT_MEMORY_MB = 1024  # for memory_limit_MB = -1 (SandboxFusion's "no limit")
RETRY_AFTER_S = 1
MAX_BODY_BYTES = 256 << 20  # a request's JSON body (programs and test suites)


class BadRequest(ValueError):
    """A request the server refuses (422), with the reason."""


def _number(body: dict, name: str, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise BadRequest(f"{name} must be a positive number, got {value!r}")
    return float(value)


# Files: SandboxFusion writes `files` next to the program and returns `fetch_files` after it. Our worker runs a
# program in a private, wiped directory, so a short prologue writes them there and, once the program ended
# (however: `finally`), reports the fetched ones on stderr behind a marker the server strips. They are the
# program's own outputs: there is nothing to forge.
_FILES_PROLOGUE = """import base64 as _b64, json as _json, os as _os, sys as _sys
def _trl_ext_files(files):
    for path, content in files.items():
        if _os.path.dirname(path):
            _os.makedirs(_os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(_b64.b64decode(content or ""))
def _trl_ext_fetch(fetch, marker):
    out = {}
    for path in fetch:
        try:
            with open(path, "rb") as f:
                out[path] = _b64.b64encode(f.read()).decode()
        except OSError:
            pass
    _sys.stderr.flush()
    _os.write(2, ("\\n" + marker + _json.dumps(out) + "\\n").encode())
_trl_ext_files(%r)
try:
    exec(compile(%r, "solution.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
finally:
    _trl_ext_fetch(%r, %r)
"""


def parse_run_code(body) -> tuple[dict, list[str], str | None]:
    """(arguments of `judge.run`, fetch_files, marker) for a SandboxFusion request; BadRequest names the problem."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    code, language = body.get("code"), body.get("language")
    if not isinstance(code, str):
        raise BadRequest("code must be a string")
    if language != "python":
        raise BadRequest(f"language {language!r} is not supported by trl-ext sandbox serve: only 'python'")
    stdin = body.get("stdin") or ""
    if not isinstance(stdin, str):
        raise BadRequest("stdin must be a string or null")
    timeout = _number(body, "run_timeout", 10.0)
    _number(body, "compile_timeout", 10.0)
    memory = body.get("memory_limit_MB", -1)
    if not isinstance(memory, int) or isinstance(memory, bool):
        raise BadRequest(f"memory_limit_MB must be an integer, got {memory!r}")
    files, fetch = body.get("files") or {}, body.get("fetch_files") or []
    if not isinstance(files, dict) or not all(isinstance(k, str) for k in files):
        raise BadRequest("files must map paths to base64 strings")
    for path, content in files.items():
        try:
            base64.b64decode(content or "", validate=True)
        except (binascii.Error, TypeError):
            raise BadRequest(f"files[{path!r}] is not base64") from None
    if not isinstance(fetch, list) or not all(isinstance(p, str) for p in fetch):
        raise BadRequest("fetch_files must be a list of paths")
    marker = None
    if files or fetch:
        marker = f"trl-ext-files-{secrets.token_hex(8)}:"
        code = _FILES_PROLOGUE % (files, code, fetch, marker)
    memory_mb = memory if memory >= 32 else DEFAULT_MEMORY_MB
    return {"code": code, "stdin": stdin, "timeout": timeout, "memory_mb": memory_mb}, fetch, marker


def _split_files(result: judge.ExecResult, marker: str | None) -> dict:
    """Strip the fetched files' report from stderr; the files it holds."""
    if marker is None or marker not in result.stderr:
        return {}
    result.stderr, _, report = result.stderr.rpartition(marker)
    result.stderr = result.stderr.removesuffix("\n")
    try:
        files = json.loads(report)
    except ValueError:
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


class _Gate:
    """Admission control: at most `capacity` jobs at once (handlers run on one event loop: no lock)."""

    def __init__(self, capacity: int):
        self.capacity, self.in_flight, self.served = capacity, 0, 0

    def enter(self, n: int) -> bool:
        if self.in_flight and self.in_flight + n > self.capacity:
            return False
        self.in_flight += n
        return True

    def leave(self, n: int) -> None:
        self.in_flight -= n
        self.served += n


def _busy(status: int, why: str) -> JSONResponse:
    return JSONResponse({"detail": why}, status_code=status, headers={"Retry-After": str(RETRY_AFTER_S)})


def create_app(
    sandbox: Sandbox, *, token: str | None = None, capacity: int | None = None, api: str = "all"
) -> Starlette:
    """The ASGI app over `sandbox` (see the module docstring)."""
    if api not in APIS:
        raise ValueError(f"api must be one of {APIS}, got {api!r}")
    gate = _Gate(capacity or 8 * sandbox.num_workers)
    expected = f"Bearer {token}".encode() if token else None

    def refused(request: Request) -> JSONResponse | None:
        """401 without the token, 413 for a body over MAX_BODY_BYTES: checked before the body is read."""
        if expected is not None and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), expected
        ):
            return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
        length = request.headers.get("content-length", "0")  # a chunked body has none; uvicorn bounds it
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return JSONResponse(
                {"detail": f"the body must be at most {MAX_BODY_BYTES} bytes"}, status_code=413
            )
        return None

    async def admitted(n: int, work):
        if not gate.enter(n):
            return _busy(429, f"busy: {gate.in_flight} jobs running, capacity {gate.capacity}")
        try:
            return await work()
        except (SandboxUnavailableError, RuntimeError) as err:  # no isolation, or the pool is shutting down
            return _busy(503, f"the sandbox cannot run jobs: {err}")
        finally:
            gate.leave(n)

    async def body_of(request: Request):
        try:
            return await request.json()
        except ValueError:
            raise BadRequest("the request body is not JSON") from None

    async def run_code(request: Request):
        if (refusal := refused(request)) is not None:
            return refusal
        try:
            args, fetch, marker = parse_run_code(await body_of(request))
        except BadRequest as err:
            return JSONResponse({"detail": str(err)}, status_code=422)

        async def work():
            try:
                result = await run_in_threadpool(judge.run, sandbox=sandbox, **args)
            except (TypeError, ValueError) as err:  # e.g. code that is not valid UTF-8 text
                return JSONResponse({"detail": str(err)}, status_code=422)
            files = _split_files(result, marker)
            response = wire.run_code_response(result)
            response["files"] = {p: files[p] for p in fetch if p in files}
            return JSONResponse(response)

        return await admitted(1, work)

    def batch(run, to_json):
        async def endpoint(request: Request):
            if (refusal := refused(request)) is not None:
                return refusal
            try:
                body = await body_of(request)
                jobs = body.get("jobs") if isinstance(body, dict) else None
                if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
                    raise BadRequest('the body must be {"jobs": [{...}, ...]}')
            except BadRequest as err:
                return JSONResponse({"detail": str(err)}, status_code=422)

            async def work():
                try:
                    results = await run_in_threadpool(run, jobs, sandbox=sandbox)
                except (TypeError, ValueError) as err:  # bad job arguments (judge checks them all first)
                    return JSONResponse({"detail": str(err)}, status_code=422)
                return JSONResponse({"results": [to_json(r) for r in results]})

            return await admitted(max(len(jobs), 1), work)

        return endpoint

    async def health(request: Request):
        return JSONResponse(
            {
                "status": "ok",
                "server": wire.SERVER_NAME,
                "version": __version__,
                "api": ["run_code"] + ([wire.API] if api == "all" else []),
                "workers": sandbox.num_workers,
                "in_flight": gate.in_flight,
                "served": gate.served,
                "capacity": gate.capacity,
            }
        )

    routes = [Route("/run_code", run_code, methods=["POST"]), Route("/health", health, methods=["GET"])]
    if api == "all":
        routes += [
            Route(f"/{wire.API}/run_batch", batch(judge.run_batch, wire.exec_to_json), methods=["POST"]),
            Route(
                f"/{wire.API}/run_tests_batch",
                batch(judge.run_tests_batch, wire.tests_to_json),
                methods=["POST"],
            ),
        ]
    return Starlette(routes=routes)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str | None) -> str | None:
    if path is None:
        return None
    token = Path(path).read_text().strip()
    if not token:
        raise ValueError(f"the token file {path} is empty")
    return token


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    workers: int | None = None,
    token_file: str | None = None,
    allow_no_token: bool = False,
    capacity: int | None = None,
    api: str = "all",
) -> None:
    """Serve until SIGINT/SIGTERM (port 0: a free port; the first line printed names the address)."""
    import uvicorn

    token = read_token(token_file)
    if token is None and not is_loopback(host) and not allow_no_token:
        raise ValueError(
            f"refusing to serve on {host} without a token: anyone who reaches it could run code on this machine; "
            "give --token-file FILE, or --insecure-no-token to accept that risk"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    sandbox = Sandbox(workers)
    try:
        app = create_app(sandbox, token=token, capacity=capacity, api=api)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        bound = sock.getsockname()[1]
        print(
            f"trl-ext sandbox serving on http://{host}:{bound} ({sandbox.num_workers} workers, "
            f"isolation {sandbox.isolation}, pid {os.getpid()})",
            flush=True,
        )
        # uvicorn shuts down gracefully, then re-raises the signal: end with status 0 after closing the pool.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _exit_quietly)
        server.run(sockets=[sock])
    finally:
        sock.close()
        sandbox.close()


def spawn(*args: str, host: str = "127.0.0.1", env: dict | None = None):
    """Start `trl-ext sandbox serve --host HOST --port 0 ARGS` as a child process in its own process group;
    returns (process, base URL) once it listens. Stop it with `stop(process)`."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "trl_ext.cli", "sandbox", "serve", "--host", host, "--port", "0", *args]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    ready = process.stdout.readline() if process.stdout else ""  # the first line names the address
    if not ready.startswith("trl-ext sandbox serving on "):
        stop(process, timeout=5)
        raise RuntimeError(f"`{' '.join(cmd)}` did not start (exit {process.returncode})")
    return process, ready.split()[4]


def stop(process, timeout: float = 30.0) -> None:
    """SIGTERM a spawned server (graceful), SIGKILL after `timeout`."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()
