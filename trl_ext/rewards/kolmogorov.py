"""Verifier for Kolmogorov-style sequence compression (after the KoLMogorov-Test, arXiv 2503.13992),
`task = "kolmogorov"`.

The completion is a Python program (last fenced block, or the whole text) that assigns `output`, a list of
ints, and may use the sequence DSL below (prepended to it, and not counted in its length). It runs in the
sandbox; it is *correct* when `output` equals the row's `sequence` exactly (the KoLMogorov-Test's accuracy).

The reward grades correct programs by compression against the gzip baseline, with the bits of the KoLMogorov-
Test's compression rate (program bits for a correct program, `gzip_bits` of the sequence otherwise):

    reward = 0                              for a wrong program (or none)
    reward = 1 - b / (2 (b + g))            for a correct one, b = 8 x UTF-8 bytes of the program,
                                            g = `gzip_bits(sequence)`

so every correct program scores in (0.5, 1): 0.75 at gzip parity, above it when the program beats gzip, towards
1 as it shrinks and towards 0.5 as it grows. Writing the sequence out literally costs about as much as gzip and
scores near 0.75, never 1.0 (a little above on a few numbers, where gzip's ~20-byte header outweighs the list;
below on long sequences: 0.64 for 100 numbers). `correct` is `reward > 0.5` (what the eval harness counts). The
corpus metrics as the paper reports them are the eval harness's: pass@1 (accuracy) and `compression_rate` (Σ bits /
Σ raw bits, gzip for failures, from `compression_rates` below).

The program's printed result is read by a strict linear parser (a JSON list of ints on the last stdout line,
at most `MAX_OUTPUT_CHARS` characters): whatever else it prints or returns is a wrong program, never an error.
"""

from __future__ import annotations

import gzip
import re

from trl_ext.execution import run_batch
from trl_ext.rewards.common import Score, completion_text, extract_code

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
MAX_OUTPUT_CHARS = 1_000_000  # the printed list; a longer last line is a wrong output
_INT = re.compile(r"-?[0-9]{1,4000}")  # below Python's int-from-str digit limit (4300)


def sequence_text(sequence: list[int]) -> bytes:
    return ",".join(map(str, sequence)).encode()


def gzip_bits(sequence: list[int]) -> int:
    return 8 * len(gzip.compress(sequence_text(sequence), mtime=0))


def program_bits(code: str) -> int:
    """The length of a program in bits: 8 x its UTF-8 bytes (the extracted code, as the compression rate counts)."""
    return 8 * len(code.encode())


def compression_reward(bits: int, baseline_bits: int) -> float:
    """The reward of a correct program of `bits` bits against the gzip baseline (module docstring)."""
    return 1.0 - bits / (2 * (bits + baseline_bits))


def evaluate_program(program: str) -> list[int]:
    """Run a DSL program on the host (trusted, generator-made programs only) and return `output`."""
    namespace: dict = {}
    exec(DSL_SOURCE + program, namespace)
    return [int(v) for v in namespace["output"]]


def parse_output(stdout: str) -> tuple[int, ...] | None:
    """The list of ints on the last non-empty line of `stdout` (`[1, -2, 3]`), or None: linear time, no
    recursion, ints only (a float, bool, string or nested value is no sequence)."""
    lines = stdout.rstrip().rsplit("\n", 1)
    line = lines[-1].strip() if lines else ""
    if len(line) > MAX_OUTPUT_CHARS or not (line.startswith("[") and line.endswith("]")):
        return None
    inner = line[1:-1].strip()
    if not inner:
        return ()
    items = inner.split(",")
    if not all(_INT.fullmatch(item.strip()) for item in items):
        return None
    return tuple(int(item) for item in items)


# What `feedbacks` returns for a program no sandbox could run (status `sandbox_error`): unscorable, not wrong.
UNSCORABLE = "no sandbox could run the program"
_SANDBOX_ERROR = ("sandbox_error",)  # `_outputs`' marker of the same (a program's output is a tuple of ints)


def _outputs(texts: list[str]) -> list[tuple[int, ...] | None]:
    """Each program's output; None when it has none; `_SANDBOX_ERROR` when no sandbox could run it."""
    codes = [extract_code(t) for t in texts]
    todo = [i for i, c in enumerate(codes) if c]
    results = (
        run_batch([{"code": DSL_SOURCE + codes[i] + _EPILOGUE, "timeout": 5.0} for i in todo]) if todo else []
    )
    out: list[tuple[int, ...] | None] = [None] * len(texts)
    for i, result in zip(todo, results):
        if result.status == "sandbox_error":
            out[i] = _SANDBOX_ERROR
        elif result.ok:
            out[i] = parse_output(result.stdout)
    return out


def score(texts: list[str], rows: list[dict]) -> list[float | None]:
    """0 for a wrong program; for a correct one the compression reward in (0.5, 1) (module docstring); None when no
    sandbox could run it (unscorable, not wrong)."""
    out = []
    for text, row, produced in zip(texts, rows, _outputs(texts)):
        target = tuple(row["sequence"])
        if produced is _SANDBOX_ERROR:
            out.append(None)
        elif produced is None:
            out.append(Score(0.0, "the program did not run to the end or printed no list of ints"))
        elif produced != target:
            out.append(Score(0.0, "the program's output is not the sequence"))
        else:
            bits = program_bits(extract_code(text) or "")
            out.append(Score(compression_reward(bits, gzip_bits(row["sequence"]))))
    return out


def answers(texts: list[str], rows: list[dict]) -> list[tuple | None]:
    return [None if produced is _SANDBOX_ERROR else produced for produced in _outputs(texts)]


def compression_rates(texts: list[str], rows: list[dict]) -> list[float]:
    """Per completion: program bits / raw sequence bits when correct; the gzip baseline's rate otherwise."""
    out = []
    for text, row, reward in zip(texts, rows, score(texts, rows)):
        correct = reward is not None and reward > 0.5
        bits = program_bits(extract_code(text) or "") if correct else gzip_bits(row["sequence"])
        out.append(bits / (8 * len(sequence_text(row["sequence"]))))
    return out


def feedbacks(texts: list[str], rows: list[dict]) -> list[str | None]:
    """Execution feedback for multi-turn training (RLEF), one sandbox batch for all texts: where the program's
    `output` first differs from the row's sequence; None for an exact program; `UNSCORABLE` when no sandbox could
    run it."""
    out: list[str | None] = []
    for produced, row in zip(_outputs(texts), rows):
        target = tuple(row["sequence"])
        if produced is _SANDBOX_ERROR:
            out.append(UNSCORABLE)
        elif produced is None:
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
