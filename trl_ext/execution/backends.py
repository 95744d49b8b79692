"""Where programs run: one execution backend for every reward, verifier, feedback function and the eval harness.

- `local` (the default): this process's hardened sandbox pool (`sandbox.py`).
- `sandbox-fusion=URL[,URL...]`: endpoints speaking SandboxFusion's `POST /run_code` (`remote.py`): replicas of
  `trl-ext sandbox serve` (which also judge whole test suites server-side) or a third party's deployment.
- `ray` or `ray=ADDRESS`: Ray actors, each owning a local sandbox pool on its node (`ray_backend.py`).

The backend is chosen by `configure(spec)` (what the `execution` field of every trainer config and recipe
calls), else by the environment variable `TRL_EXT_EXECUTION`, else `local`.

Options: a remote backend's settings follow it, each as `;KEY=VALUE`, the keys being the fields of its settings
dataclass (`remote.RemoteSettings`, `ray_backend.RaySettings`), e.g.
`sandbox-fusion=http://h1:8080,http://h2:8080;max_in_flight=8;request_timeout_s=60` or `ray=auto;num_actors=4`.
Values are read as the field's type (counts: whole numbers >= 1; seconds: numbers >= 0; `none` for an optional
count). `parse_spec` refuses, in one line naming the key and the valid ones, an unknown or repeated key, a bad
value, and the settings that hold a secret or drop a guarantee (`token`, `allow_test_code_in_candidate_process`:
their environment variables only, since a spec is recorded in recipes, logs and results); endpoint URLs take no
credentials, query string or fragment. `str(spec)` writes the spec back in canonical form (options in the
dataclass's order), which `parse_spec` reads to an equal spec. `judge.run`, `run_tests`,
`run_batch` and `run_tests_batch` dispatch to it when no explicit `sandbox` is given, so rewards need no
change; `arun_batch` / `arun_tests_batch` are the async forms (for TRL's async reward path).

A job that no endpoint or actor could run ends in status `sandbox_error` (the verifiers score it None:
unscorable, advantage 0), never in a wrong answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import math
import os
import threading
import types
import typing
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from trl_ext.execution import judge

ENV = "TRL_EXT_EXECUTION"
KINDS = ("local", "sandbox-fusion", "ray")


# Settings that hold a secret, or opt out of a security guarantee, come from the environment only: a spec string
# is written into recipes, logs and results files.
ENVIRONMENT_ONLY = {
    "token": "$TRL_EXT_SANDBOX_TOKEN",
    "allow_test_code_in_candidate_process": "$TRL_EXT_ALLOW_TEST_CODE_IN_CANDIDATE_PROCESS",
}
_SETTINGS = {  # kind → (module, settings dataclass), imported only when a spec needs them
    "sandbox-fusion": ("trl_ext.execution.remote", "RemoteSettings"),
    "ray": ("trl_ext.execution.ray_backend", "RaySettings"),
}
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
Option = tuple[str, object]  # (settings field, its typed value)


@dataclass(frozen=True)
class ExecutionSpec:
    """A parsed backend choice: `kind` in KINDS, the endpoint `urls` (sandbox-fusion), the Ray `address`, and
    the `options`: (field, value) pairs of the backend's settings dataclass, typed, in the dataclass's order."""

    kind: str = "local"
    urls: tuple[str, ...] = ()
    address: str | None = None
    options: tuple[Option, ...] = ()

    def __str__(self) -> str:
        if self.kind == "sandbox-fusion":
            head = f"sandbox-fusion={','.join(self.urls)}"
        else:
            head = f"ray={self.address}" if self.kind == "ray" and self.address else self.kind
        return ";".join([head, *(f"{key}={_format(value)}" for key, value in self.options)])

    def settings(self):
        """The backend's settings (`RemoteSettings` / `RaySettings`) with the options applied."""
        return settings_class(self.kind)(**dict(self.options))


def settings_class(kind: str) -> type:
    """The settings dataclass of a remote backend `kind` (sandbox-fusion, ray)."""
    module, name = _SETTINGS[kind]
    return getattr(importlib.import_module(module), name)


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)  # str of a float round-trips


def convert_option(hint, text: str):
    """`text` as a value of a settings field annotated `hint` (int, float, bool, str, or one of them | None):
    counts (int) are at least 1, durations (float) finite and at least 0. ValueError saying what is expected."""
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    members = typing.get_args(hint) if union else (hint,)
    kinds = [k for k in members if k is not type(None)]
    optional = len(kinds) < len(members)
    if len(kinds) != 1 or kinds[0] not in (int, float, bool, str):
        raise TypeError(f"a settings field of type {hint} cannot be set from a spec string")
    kind = kinds[0]
    if optional and text.lower() == "none":
        return None
    none = " or none" if optional else ""
    if kind is bool:
        if text.lower() not in _BOOLS:
            raise ValueError(f"expected true, false, 1 or 0{none}")
        return _BOOLS[text.lower()]
    if kind is int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"expected a whole number of at least 1{none}")
        return value
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value < math.inf:
            raise ValueError(f"expected a finite number of at least 0{none}")
        return value
    return text


def _parse_options(kind: str, items: list[str]) -> tuple[Option, ...]:
    cls = settings_class(kind)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in ENVIRONMENT_ONLY]
    valid = f"(options of {kind}: {', '.join(names)})"
    given: dict[str, object] = {}
    for item in items:
        key, eq, text = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise ValueError(
                f"execution option {item!r} is not KEY=VALUE (options follow the backend after ';', so a URL "
                f"cannot contain ';') {valid}"
            )
        if key in ENVIRONMENT_ONLY and key in hints:
            raise ValueError(
                f"execution option {key!r} is not taken from the spec, which recipes, logs and results record: "
                f"set {ENVIRONMENT_ONLY[key]} instead {valid}"
            )
        if key not in hints:
            raise ValueError(f"unknown execution option {key!r} for {kind} {valid}")
        if key in given:
            raise ValueError(f"execution option {key!r} given twice {valid}")
        try:
            given[key] = convert_option(hints[key], text)
        except ValueError as err:
            raise ValueError(f"execution option {key}={text!r}: {err} {valid}") from None
    return tuple((name, given[name]) for name in names if name in given)


def _parse_urls(text: str, rest: str) -> tuple[str, ...]:
    usage = (
        "sandbox-fusion needs endpoint URLs: sandbox-fusion=http://HOST:PORT[,http://...][;OPTION=VALUE...], "
        f"got {text!r}"
    )
    urls = tuple(u.strip().rstrip("/") for u in rest.split(",") if u.strip())
    if not urls:
        raise ValueError(usage)
    for url in urls:
        parts = urlsplit(url)
        if "@" in parts.netloc:  # said without the URL, which would show them
            raise ValueError(
                "sandbox-fusion: no credentials in an endpoint URL (recipes, logs and results record it): set "
                "$TRL_EXT_SANDBOX_TOKEN instead"
            )
        try:
            parts.port  # noqa: B018  (raises on a port that is not a number in 0-65535)
        except ValueError:
            raise ValueError(f"endpoint {url!r}: the port is not a number in 0-65535") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(usage)
        if parts.query or parts.fragment or url.endswith(("?", "#")):
            raise ValueError(
                f"endpoint {url!r}: no query string or fragment (the client appends /run_code, /health, ... to "
                "the URL)"
            )
    return urls


def parse_spec(text: str) -> ExecutionSpec:
    """`local` | `sandbox-fusion=URL[,URL...]` | `ray` | `ray=ADDRESS`, the last three optionally followed by
    `;KEY=VALUE` options (fields of the backend's settings dataclass) → ExecutionSpec; a one-line ValueError
    otherwise."""
    if not isinstance(text, str):
        raise TypeError(f"an execution backend is a str, got {type(text).__name__}")
    head, *items = text.strip().split(";")
    items = [item for item in items if item.strip()]
    kind, _, rest = head.partition("=")
    kind, rest = kind.strip(), rest.strip()
    if kind == "local" and not rest:
        if items:
            keys = ", ".join(item.partition("=")[0].strip() for item in items)
            raise ValueError(f"the local backend takes no options, got {keys}")
        return ExecutionSpec()
    if kind == "sandbox-fusion":
        return ExecutionSpec(kind, urls=_parse_urls(text, rest), options=_parse_options(kind, items))
    if kind == "ray":
        return ExecutionSpec(kind, address=rest or None, options=_parse_options(kind, items))
    raise ValueError(
        f"unknown execution backend {text!r}: expected local, sandbox-fusion=URL[,URL...], ray or ray=ADDRESS, "
        "the last three optionally followed by ;OPTION=VALUE..."
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
    try:
        return parse_spec(env) if env else ExecutionSpec()
    except ValueError as err:
        raise ValueError(f"${ENV}: {err}") from None


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

        return SandboxFusionBackend(spec.urls, spec.settings())
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "the ray execution backend needs Ray: pip install -e '.[ray]' in a trl-ext checkout"
        ) from None
    from trl_ext.execution.ray_backend import RayBackend

    return RayBackend(spec.address, spec.settings())


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
            there), `ray` or `ray=ADDRESS` (Ray actors each owning a sandbox pool). The remote ones take their
            settings after `;` as `KEY=VALUE`, the keys being the fields of `RemoteSettings` / `RaySettings` (the
            token and the test-code opt-in come from the environment only), e.g.
            `sandbox-fusion=http://h1:8080;max_in_flight=8;request_timeout_s=60` or `ray=auto;num_actors=4`.
            `None`: the environment variable `TRL_EXT_EXECUTION`, else `local`. Setting it sets the process-wide
            backend.
    """

    execution: str | None = field(
        default=None,
        metadata={
            "help": "Execution backend: local | sandbox-fusion=URL[,URL...] | ray | ray=ADDRESS, the remote ones "
            "optionally followed by ;KEY=VALUE settings (e.g. ray=auto;num_actors=4) "
            "(default: $TRL_EXT_EXECUTION, else local)."
        },
    )

    def __post_init__(self):
        if self.execution is not None:
            configure(self.execution)  # a bad spec fails here, with the config
        if hasattr(super(), "__post_init__"):
            super().__post_init__()
