"""Host-side cost of the verifiers' parsers on the worst completions we could construct (issue 22 item 5).

Every parser that reads completion text in the trainer's process (PBE rules, code-fence extraction, puzzle
answers, the complexity label, SWE-RL patch blocks, the Kolmogorov output line, RLEF's validity check) is timed
at sizes n, 2n and 4n, with its peak traced memory (tracemalloc) and its verdict. Linear time shows as a
time ratio of about 4 between 4n and n. The baseline, in the same run, is the parser these cases broke before
issue 22 (its regex, kept here), at sizes small enough to finish: cubic or quadratic growth shows in its ratio.

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python scripts/bench_verifiers.py [--scale 1.0] [--output DIR]

Writes DIR/results.json and DIR/results.md (default outputs/bench_verifiers).
"""

from __future__ import annotations

import argparse
import json
import re
import time
import tracemalloc
from pathlib import Path

from tqdm import tqdm

from trl_ext.episodes import has_valid_answer
from trl_ext.rewards import complexity, kolmogorov, patch, pbe, puzzle
from trl_ext.rewards.common import extract_code

PBE_ROW = {"inputs": ["a1" * 4] * 8, "outputs": ["ax" * 4] * 8}


def _pbe_line(n: int) -> str:
    return "replace(" + ",)" * (n // 2) + "x"  # the backtracking case of the old rule regex


def _pbe_growth(n: int) -> str:
    # The first rule grows each 8-char input to just under MAX_LENGTH, the next ones (lines within
    # MAX_LINE_CHARS) multiply it by their length.
    width = min(n - 2_405, pbe.MAX_LINE_CHARS - 96)
    rules = ["a>" + "a" * 2_400] + ["a>" + "a" * width] * max(1, (n - 2_403) // (width + 3))
    return "\n".join(rules)


def _backticks(n: int) -> str:
    return "`" * n


def _big_o(n: int) -> str:
    return "The time is O(" + " " * n + ")"


def _patch_openers(n: int) -> str:
    return "### a.py\n<<<<<<< SEARCH\n" * (n // 24)


def _deep_list(n: int) -> str:
    return "[" * n


def _long_list(n: int) -> str:
    return "[" + ", ".join(["7"] * (n // 3)) + "]"


def _deep_code(n: int) -> str:
    return "x = " + "-" * n + "1"


PATCH_FILES, ORACLE = {"a.py": "x = 1\n"}, "+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
# (case, make text of size n, parser, base size)
CASES = [
    ("pbe rule line `replace(,),),...`", _pbe_line, lambda t: pbe.score([t], [PBE_ROW])[0], 8_000),
    ("pbe string growth (8 inputs)", _pbe_growth, lambda t: pbe.score([t], [PBE_ROW])[0], 15_000),
    ("pbe fences (backticks)", _backticks, lambda t: pbe.score([t], [PBE_ROW])[0], 40_000),
    ("code extraction (backticks)", _backticks, extract_code, 40_000),
    ("puzzle answer (backticks)", _backticks, puzzle.parse_answer, 40_000),
    ("complexity label O(   ...)", _big_o, complexity.parse_prediction, 50_000),
    (
        "patch: SEARCH without =======",
        _patch_openers,
        lambda t: patch.patch_similarity(t, PATCH_FILES, ORACLE),
        200_000,
    ),
    ("kolmogorov output `[[[...`", _deep_list, kolmogorov.parse_output, 100_000),
    ("kolmogorov output, long list", _long_list, kolmogorov.parse_output, 200_000),
    ("RLEF has_valid_answer `-----1`", _deep_code, lambda t: has_valid_answer(t, {"task": "code"}), 100_000),
]

# The parsers before issue 22, for the baseline rows (the regexes these cases broke).
OLD_CALL = re.compile(r"replace\(\s*(.+?)\s*,\s*(.+?)\s*\)\s*$")
OLD_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+\-]*)[^\n]*\n(.*?)```", re.DOTALL)
OLD_PATCH = re.compile(
    r"###\s*(?P<path>\S+)\s*\n<<<<<<< SEARCH\n(?P<search>.*?)\n?=======\n(?P<replace>.*?)\n?>>>>>>> REPLACE",
    re.DOTALL,
)


def _old_growth(text: str) -> int:
    rules = [tuple(line.split(">", 1)) for line in text.splitlines() if ">" in line]
    longest = 0
    for s in PBE_ROW["inputs"]:
        for old, new in rules:  # the old cascade: the length was checked after each replace
            s = s.replace(old, new)
            if len(s) > pbe.MAX_LENGTH:
                break
        longest = max(longest, len(s))
    return longest


def _old_big_o(text: str) -> str:
    return re.sub(r"\s*\*\s*", "*", text)


BASELINES = {
    "pbe rule line `replace(,),),...`": (lambda t: OLD_CALL.search(t.strip()), 800),
    "pbe string growth (8 inputs)": (_old_growth, 3_000),
    "code extraction (backticks)": (OLD_FENCE.findall, 10_000),
    "complexity label O(   ...)": (_old_big_o, 5_000),
    "patch: SEARCH without =======": (OLD_PATCH.findall, 20_000),
}


def _run(parser, text: str):
    try:
        return parser(text)
    except Exception as err:  # the baseline rows: the old parsers raised
        return f"raised {type(err).__name__}"


def measure(parser, text: str, repeats: int) -> tuple[float, float, str]:
    """(best time of `repeats` runs, peak traced MiB of one more run, the verdict shortened for the table)."""
    seconds = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        verdict = _run(parser, text)
        seconds = min(seconds, time.perf_counter() - start)
    tracemalloc.start()  # a separate run: tracing slows allocation down
    _run(parser, text)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    shown = f"{len(verdict)} matches" if isinstance(verdict, list) else repr(verdict)
    return seconds, peak, shown if len(shown) <= 40 else shown[:37] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every base size")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per size (the best is kept)")
    parser.add_argument("--output", default="outputs/bench_verifiers")
    args = parser.parse_args()
    rows = []
    todo = [(name, make, fn, base, "now") for name, make, fn, base in CASES]
    todo += [(name, make, *BASELINES[name], "before") for name, make, _, _ in CASES if name in BASELINES]
    for name, make, fn, base, version in tqdm(todo, desc="cases"):
        times = []
        for factor in (1, 2, 4):
            n = int(base * args.scale * factor)
            text = make(n)
            seconds, peak, verdict = measure(fn, text, args.repeats if version == "now" else 1)
            times.append(seconds)
            rows.append(
                {
                    "case": name,
                    "parser": version,
                    "chars": len(text),
                    "seconds": seconds,
                    "peak_mib": peak,
                    "verdict": verdict,
                }
            )
        rows[-1]["ratio_4n_over_n"] = times[-1] / max(times[0], 1e-9)
    lines = [
        "| case | parser | chars | seconds | peak MiB | verdict | time(4n)/time(n) |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        ratio = f"{r['ratio_4n_over_n']:.1f}" if "ratio_4n_over_n" in r else ""
        lines.append(
            f"| {r['case']} | {r['parser']} | {r['chars']:,} | {r['seconds']:.4f} | {r['peak_mib']:.1f} | "
            f"{r['verdict']} | {ratio} |"
        )
    print("\n".join(lines))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"rows": rows, "scale": args.scale}, indent=2))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print(f"saved {out}/results.json and results.md")


if __name__ == "__main__":
    main()
