"""Verifier for Kolmogorov-style sequence compression (after the KoLMogorov-Test, arXiv 2503.13992),
`task = "kolmogorov"`.

The completion is a Python program (last fenced block, or the whole text) that assigns `output`, a list of
ints, and may use the sequence DSL below (prepended to it). It runs in the sandbox; it passes when `output`
equals the row's `sequence` exactly. Compression rate = bytes of the program / bytes of the sequence written
as comma-separated decimals (so 8·len bits over 8·len bits); a failed sequence falls back to the gzip
baseline, so the rate is always defined.
"""

from __future__ import annotations

import gzip
import json

from trl_ext.execution import run_batch
from trl_ext.rewards.common import completion_text, extract_code

# The DSL: plain Python functions on lists of ints. Generators use the same source, so a program that
# evaluates on the host evaluates identically in the sandbox.
DSL_SOURCE = """
def rng(start, stop, step=1):
    return list(range(start, stop, step))

def repeat(seq, times):
    return list(seq) * times

def reverse(seq):
    return list(seq)[::-1]

def substitute(seq, old, new):
    return [new if x == old else x for x in seq]

def take(seq, start, stop, step=1):
    return list(seq)[start:stop:step]

def add(seq, c):
    return [x + c for x in seq]

def mul(seq, c):
    return [x * c for x in seq]

def mod(seq, m):
    return [x % m for x in seq]

def keep_mod(seq, m, r):
    return [x for x in seq if x % m == r]

def scan_add(seq):
    out, total = [], 0
    for x in seq:
        total += x
        out.append(total)
    return out

def concat(a, b):
    return list(a) + list(b)

def interleave(a, b):
    out = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out
"""
DSL_FUNCTIONS = (
    "rng",
    "repeat",
    "reverse",
    "substitute",
    "take",
    "add",
    "mul",
    "mod",
    "keep_mod",
    "scan_add",
    "concat",
    "interleave",
)
_EPILOGUE = "\nimport json as _json\nprint(_json.dumps([int(v) for v in output]))\n"


def sequence_text(sequence: list[int]) -> bytes:
    return ",".join(map(str, sequence)).encode()


def gzip_bits(sequence: list[int]) -> int:
    return 8 * len(gzip.compress(sequence_text(sequence), mtime=0))


def evaluate_program(program: str) -> list[int]:
    """Run a DSL program on the host (trusted, generator-made programs only) and return `output`."""
    namespace: dict = {}
    exec(DSL_SOURCE + program, namespace)
    return [int(v) for v in namespace["output"]]


def _outputs(texts: list[str]) -> list[tuple[int, ...] | None]:
    codes = [extract_code(t) for t in texts]
    todo = [i for i, c in enumerate(codes) if c]
    results = (
        run_batch([{"code": DSL_SOURCE + codes[i] + _EPILOGUE, "timeout": 5.0} for i in todo]) if todo else []
    )
    out: list[tuple[int, ...] | None] = [None] * len(texts)
    for i, result in zip(todo, results):
        if result.ok:
            try:
                out[i] = tuple(json.loads(result.stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                pass
    return out


def score(texts: list[str], rows: list[dict]) -> list[float]:
    return [float(o == tuple(r["sequence"])) for o, r in zip(_outputs(texts), rows)]


def answers(texts: list[str], rows: list[dict]) -> list[tuple | None]:
    return _outputs(texts)


def compression_rates(texts: list[str], rows: list[dict]) -> list[float]:
    """Program bytes / raw sequence bytes for exact programs; the gzip baseline's rate otherwise."""
    out = []
    for text, row, ok in zip(texts, rows, score(texts, rows)):
        raw_bits = 8 * len(sequence_text(row["sequence"]))
        bits = 8 * len((extract_code(text) or "").encode()) if ok else gzip_bits(row["sequence"])
        out.append(bits / raw_bits)
    return out


def feedbacks(texts: list[str], rows: list[dict]) -> list[str | None]:
    """Execution feedback for multi-turn training (RLEF), one sandbox batch for all texts: where the program's
    `output` first differs from the row's sequence; None for an exact program."""
    out: list[str | None] = []
    for produced, row in zip(_outputs(texts), rows):
        target = tuple(row["sequence"])
        if produced is None:
            out.append("Your program did not run to the end or did not set `output` to a list of ints.")
        elif produced != target:
            first = next((i for i, (a, b) in enumerate(zip(produced, target)) if a != b), None)
            if first is None:
                out.append(f"Your `output` has {len(produced)} numbers; the sequence has {len(target)}.")
            else:
                out.append(
                    f"Your `output` first differs at position {first}: expected {target[first]}, "
                    f"got {produced[first]}."
                )
        else:
            out.append(None)
    return out


def feedback(completion, row: dict) -> str | None:
    """`feedbacks` for one completion (text or TRL completion)."""
    return feedbacks([completion_text(completion)], [row])[0]
