"""The container recipe of a sandbox replica (deploy/sandbox/Dockerfile): it parses, copies files that exist, its
command is a valid `trl-ext sandbox serve` line that binds publicly only with a token, and the server it runs
imports neither torch nor TRL (the image installs neither)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from trl_ext.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTIONS = {
    "FROM",
    "RUN",
    "WORKDIR",
    "COPY",
    "ENV",
    "EXPOSE",
    "ENTRYPOINT",
    "CMD",
    "ARG",
    "USER",
    "LABEL",
}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: comments dropped, backslash continuations joined."""
    out, pending = [], ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            out.append((keyword, rest.strip()))
            pending = ""
    assert not pending, "a continuation line runs off the end"
    return out


def test_dockerfile_parses_and_runs_a_token_protected_server():
    steps = instructions(ROOT / "deploy/sandbox/Dockerfile")
    assert steps[0][0] == "FROM" and {k for k, _ in steps} <= INSTRUCTIONS
    for keyword, args in steps:
        if keyword == "COPY":
            *sources, _ = shlex.split(args)
            assert all((ROOT / s).exists() for s in sources), args
    entry = json.loads(dict(steps)["ENTRYPOINT"])
    cmd = json.loads(dict(steps)["CMD"])
    assert entry[0] == "trl-ext"
    args = build_parser().parse_args(entry[1:] + cmd)
    assert (args.verb, args.action, args.host) == ("sandbox", "serve", "0.0.0.0")
    assert args.token_file and not args.insecure_no_token  # public bind: the token is not optional
    assert "EXPOSE" in dict(steps) and dict(steps)["EXPOSE"] == str(args.port)


def test_the_server_needs_neither_torch_nor_trl():
    code = "import sys, trl_ext.execution.server; print(sorted({'torch', 'trl', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
