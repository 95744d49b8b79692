"""Where programs run: one execution backend for every reward, verifier, feedback function and the eval harness.

- `local` (the default): this process's hardened sandbox pool (`sandbox.py`).
- `sandbox-fusion=URL[,URL...]`: endpoints speaking SandboxFusion's `POST /run_code` (`remote.py`): replicas of
  `trl-ext sandbox serve` (which also judge whole test suites server-side) or a third party's deployment.
- `ray` or `ray=ADDRESS`: Ray actors, each owning a local sandbox pool on its node (`ray_backend.py`).

The backend is chosen by `configure(spec)` (what the `execution` field of every trainer config and recipe
calls), else by the environment variable `TRL_EXT_EXECUTION`, else `local`. `judge.run`, `run_tests`,
`run_batch` and `run_tests_batch` dispatch to it when no explicit `sandbox` is given, so rewards need no
change; `arun_batch` / `arun_tests_batch` are the async forms (for TRL's async reward path).

A job that no endpoint or actor could run ends in status `sandbox_error` (the verifiers score it None:
unscorable, advantage 0), never in a wrong answer.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field

from trl_ext.execution import judge

ENV = "TRL_EXT_EXECUTION"
KINDS = ("local", "sandbox-fusion", "ray")


@dataclass(frozen=True)
class ExecutionSpec:
    """A parsed backend choice: `kind` in KINDS, the endpoint `urls` (sandbox-fusion), the Ray `address`."""

    kind: str = "local"
    urls: tuple[str, ...] = ()
    address: str | None = None

    def __str__(self) -> str:
        if self.kind == "sandbox-fusion":
            return f"sandbox-fusion={','.join(self.urls)}"
        return f"ray={self.address}" if self.kind == "ray" and self.address else self.kind


def parse_spec(text: str) -> ExecutionSpec:
    """`local` | `sandbox-fusion=URL[,URL...]` | `ray` | `ray=ADDRESS` → ExecutionSpec; ValueError otherwise."""
    if not isinstance(text, str):
        raise TypeError(f"an execution backend is a str, got {type(text).__name__}")
    kind, _, rest = text.strip().partition("=")
    kind, rest = kind.strip(), rest.strip()
    if kind == "local" and not rest:
        return ExecutionSpec()
    if kind == "sandbox-fusion":
        urls = tuple(u.strip().rstrip("/") for u in rest.split(",") if u.strip())
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if not urls or bad:
            raise ValueError(
                f"sandbox-fusion needs endpoint URLs: sandbox-fusion=http://HOST:PORT[,http://...], got {text!r}"
            )
        return ExecutionSpec("sandbox-fusion", urls=urls)
    if kind == "ray":
        return ExecutionSpec("ray", address=rest or None)
    raise ValueError(
        f"unknown execution backend {text!r}: expected local, sandbox-fusion=URL[,URL...], ray or ray=ADDRESS"
    )


_lock = threading.Lock()
_configured: ExecutionSpec | None = None
_backend = None  # the live non-local backend, made for `_backend_spec`
_backend_spec: ExecutionSpec | None = None


def configure(spec: str | ExecutionSpec | None) -> ExecutionSpec:
    """Choose the process-wide backend (None: back to `TRL_EXT_EXECUTION`, else local). A backend already
    running for another spec is closed."""
    global _configured
    parsed = spec if isinstance(spec, ExecutionSpec) or spec is None else parse_spec(spec)
    with _lock:
        _configured = parsed
    if _backend_spec is not None and _backend_spec != current_spec():
        close()
    return current_spec()


def current_spec() -> ExecutionSpec:
    if _configured is not None:
        return _configured
    env = os.environ.get(ENV, "").strip()
    return parse_spec(env) if env else ExecutionSpec()


def remote_backend():
    """The backend that runs this process's jobs, or None when they run in the local pool."""
    global _backend, _backend_spec
    spec = current_spec()
    if spec.kind == "local":
        return None
    with _lock:
        if _backend is None or _backend_spec != spec:
            if _backend is not None:
                _backend.close()
            _backend, _backend_spec = _make(spec), spec
        return _backend


def _make(spec: ExecutionSpec):
    if spec.kind == "sandbox-fusion":
        from trl_ext.execution.remote import SandboxFusionBackend

        return SandboxFusionBackend(spec.urls)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "the ray execution backend needs Ray: pip install -e '.[ray]' in a trl-ext checkout"
        ) from None
    from trl_ext.execution.ray_backend import RayBackend

    return RayBackend(spec.address)


judge.remote_backend = remote_backend  # run*/run_tests* dispatch here when given no explicit sandbox


def close() -> None:
    """Close the running non-local backend (a later job starts a new one)."""
    global _backend, _backend_spec
    with _lock:
        if _backend is not None:
            _backend.close()
        _backend = _backend_spec = None


async def arun_batch(jobs: list[dict]) -> list:
    """`judge.run_batch` for async callers: awaits a remote backend, runs the local pool in a thread."""
    for job in jobs:
        judge._make_run_job(**job)  # bad arguments raise here, before anything is sent
    backend = remote_backend()
    if backend is None:
        return await asyncio.to_thread(judge.run_batch, jobs)
    return await backend.arun_batch(jobs)


async def arun_tests_batch(jobs: list[dict]) -> list:
    """`judge.run_tests_batch` for async callers (see `arun_batch`)."""
    for job in jobs:
        judge._make_tests_job(**job)
    backend = remote_backend()
    if backend is None:
        return await asyncio.to_thread(judge.run_tests_batch, jobs)
    return await backend.arun_tests_batch(jobs)


@dataclass
class ExecutionArguments:
    r"""
    Where the trainer's rewards run their programs. A mixin of every trl-ext trainer config.

    Parameters:
        execution (`str` or `None`, defaults to `None`):
            The execution backend: `local` (this machine's sandbox pool), `sandbox-fusion=URL[,URL...]` (replicas of
            `trl-ext sandbox serve`, or any SandboxFusion deployment for the judging modes that stay unforgeable
            there), `ray` or `ray=ADDRESS` (Ray actors each owning a sandbox pool). `None`: the environment
            variable `TRL_EXT_EXECUTION`, else `local`. Setting it sets the process-wide backend.
    """

    execution: str | None = field(
        default=None,
        metadata={
            "help": "Execution backend: local | sandbox-fusion=URL[,URL...] | ray | ray=ADDRESS "
            "(default: $TRL_EXT_EXECUTION, else local)."
        },
    )

    def __post_init__(self):
        if self.execution is not None:
            configure(self.execution)  # a bad spec fails here, with the config
        if hasattr(super(), "__post_init__"):
            super().__post_init__()
