"""Kolmogorov-style sequence compression, after the KoLMogorov-Test (arXiv 2503.13992): write the shortest
program that produces a given integer sequence. `task = "kolmogorov"`.

Sequences come from random programs over a small DSL of sequence operations (`trl_ext.rewards.kolmogorov.
DSL_SOURCE`: ranges, repeats, reverse, substitute, slices, elementwise add/mul/mod, a modulo filter, scan-add,
concatenate, interleave). The sampler draws `bases` range sequences, applies `depth` random operations
(binary ones join the bases), and keeps programs whose output length is within bounds.

Prior (the `program_bits` column): a program is a sequence of tokens; each operation costs log2(#operations)
bits and each integer literal v costs an Elias-gamma code of its zigzag encoding, 2⌊log2(z+1)⌋ + 1 bits with
z = 2v for v ≥ 0 and −2v − 1 otherwise. `gzip_bits` is 8 × the gzip size of the comma-separated sequence:
the fallback coder of the benchmark.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

from hub_datasets.base import Built, card, check_range, markdown_table, unique_splits
from trl_ext.rewards import kolmogorov as verifier

UNARY = ("repeat", "reverse", "substitute", "take", "add", "mul", "mod", "keep_mod", "scan_add")
BINARY = ("concat", "interleave")


@dataclass(frozen=True)
class KolmogorovConfig:
    depth: tuple[int, int] = (1, 2)  # operations applied on top of the base ranges
    bases: tuple[int, int] = (1, 2)  # base range sequences
    length: tuple[int, int] = (4, 10)  # length of each base range
    values: tuple[int, int] = (0, 20)  # range of starts and constants
    max_length: int = 40  # longest sequence kept
    binary_weight: float = 1.0  # relative probability of concat/interleave when two sequences are left

    def validate(self) -> None:
        check_range("depth", self.depth, 0, 20)
        check_range("bases", self.bases, 1, 6)
        check_range("length", self.length, 1)
        check_range("values", self.values, -1000, 1000)
        if self.max_length < self.length[0]:
            raise ValueError("knob 'max_length' must be at least the shortest base length")
        if self.binary_weight < 0:
            raise ValueError("knob 'binary_weight' must be >= 0")


CONFIGS = {
    "lite": KolmogorovConfig(),
    "hard": KolmogorovConfig(depth=(3, 5), bases=(2, 3), length=(6, 16), values=(0, 60), max_length=80),
}
DEFAULT_SIZE = {"lite": (1000, 200), "hard": (1000, 200)}

INSTRUCTIONS = (
    "Write a short Python program that assigns the list of integers below to the variable `output`. The "
    "following functions are available: rng(start, stop, step=1), repeat(seq, times), reverse(seq), "
    "substitute(seq, old, new), take(seq, start, stop, step=1), add(seq, c), mul(seq, c), mod(seq, m), "
    "keep_mod(seq, m, r), scan_add(seq), concat(a, b), interleave(a, b). Shorter programs are better. Answer in a "
    "```python block.\n\nSequence: "
)


def _literal_bits(v: int) -> int:
    z = 2 * v if v >= 0 else -2 * v - 1
    return 2 * int(math.log2(z + 1)) + 1


def program_bits(ops: list[str], literals: list[int]) -> float:
    return len(ops) * math.log2(len(verifier.DSL_FUNCTIONS)) + sum(_literal_bits(v) for v in literals)


def _base(rng: random.Random, config: KolmogorovConfig) -> tuple[str, list[int]]:
    start = rng.randint(*config.values)
    step = rng.choice([1, 1, 2, 3, -1, -2])
    n = rng.randint(*config.length)
    return f"rng({start}, {start + step * n}, {step})", [start, start + step * n, step]


def _unary(
    rng: random.Random, expr: str, seq: list[int], config: KolmogorovConfig
) -> tuple[str, str, list[int]]:
    op = rng.choice(UNARY if len(seq) >= 2 else ("repeat", "add", "mul"))  # slicing needs some length
    lo, hi = config.values
    if op == "repeat":
        t = rng.randint(2, 3)
        return op, f"repeat({expr}, {t})", [t]
    if op == "substitute":
        old, new = rng.choice(seq), rng.randint(lo, hi)
        return op, f"substitute({expr}, {old}, {new})", [old, new]
    if op == "take":
        start, step = rng.randint(0, max(0, len(seq) // 2)), rng.choice([1, 2])
        stop = rng.randint(start + 1, len(seq))
        return op, f"take({expr}, {start}, {stop}, {step})", [start, stop, step]
    if op in ("add", "mul"):
        c = rng.randint(2, max(2, hi // 4)) if op == "mul" else rng.randint(1, max(1, hi))
        return op, f"{op}({expr}, {c})", [c]
    if op == "mod":
        m = rng.randint(2, 9)
        return op, f"mod({expr}, {m})", [m]
    if op == "keep_mod":
        m = rng.randint(2, 4)
        r = rng.randrange(m)
        return op, f"keep_mod({expr}, {m}, {r})", [m, r]
    return op, f"{op}({expr})", []


def _instance(rng: random.Random, config: KolmogorovConfig) -> dict | None:
    pool = []  # (expr, ops, literals)
    for _ in range(rng.randint(*config.bases)):
        expr, lits = _base(rng, config)
        pool.append((expr, ["rng"], lits))
    for _ in range(rng.randint(*config.depth)):
        if len(pool) > 1 and rng.random() < config.binary_weight / (1 + config.binary_weight):
            (a, ops_a, lits_a), (b, ops_b, lits_b) = pool.pop(), pool.pop()
            op = rng.choice(BINARY)
            pool.append((f"{op}({a}, {b})", ops_a + ops_b + [op], lits_a + lits_b))
            continue
        i = rng.randrange(len(pool))
        expr, ops, lits = pool[i]
        op, new_expr, new_lits = _unary(rng, expr, verifier.evaluate_program(f"output = {expr}\n"), config)
        pool[i] = (new_expr, ops + [op], lits + new_lits)
    while len(pool) > 1:  # every base is used
        (a, ops_a, lits_a), (b, ops_b, lits_b) = pool.pop(), pool.pop()
        pool.append((f"concat({a}, {b})", ops_a + ops_b + ["concat"], lits_a + lits_b))
    expr, ops, literals = pool[0]
    program = f"output = {expr}\n"
    sequence = verifier.evaluate_program(program)
    if not 3 <= len(sequence) <= config.max_length:
        return None
    return {"sequence": sequence, "program": program, "ops": ops, "literals": literals}


def make_row(instance: dict) -> dict:
    sequence = instance["sequence"]
    used = sorted(set(instance["ops"]) - {"rng"})
    return {
        "prompt": [{"role": "user", "content": INSTRUCTIONS + str(sequence)}],
        "task": "kolmogorov",
        "sequence": sequence,
        "program": instance["program"],
        "num_ops": len(instance["ops"]),
        "program_bits": program_bits(instance["ops"], instance["literals"]),
        "gzip_bits": verifier.gzip_bits(sequence),
        "raw_bits": 8 * len(verifier.sequence_text(sequence)),
        "hint": "It can be written with rng" + (f" and {', '.join(used)}." if used else " alone."),
    }


def generate(config: KolmogorovConfig, n: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    config.validate()

    def make(rng: random.Random, index: int) -> dict | None:
        instance = _instance(rng, config)
        return make_row(instance) if instance else None

    train, test = unique_splits(make, lambda r: tuple(r["sequence"]), n, n_test, seed, "kolmogorov")
    rows = train + test
    scores = verifier.score([f"```python\n{r['program']}```" for r in rows], rows)  # in the sandbox
    bad = [r for r, s in zip(rows, scores) if s <= 0.5]  # a correct program scores in (0.5, 1)
    if bad:
        raise AssertionError(f"{len(bad)} generated Kolmogorov programs do not verify, e.g. {bad[0]}")
    return train, test


def stats(rows: list[dict]) -> dict:
    return {
        "rows": len(rows),
        "mean_ops": sum(r["num_ops"] for r in rows) / len(rows),
        "mean_length": sum(len(r["sequence"]) for r in rows) / len(rows),
        "mean_program_bits": sum(r["program_bits"] for r in rows) / len(rows),
        "mean_gzip_bits": sum(r["gzip_bits"] for r in rows) / len(rows),
    }


def build(config_name: str, config: KolmogorovConfig, n: int, n_test: int, seed: int) -> Built:
    from datasets import Dataset, DatasetDict

    train, test = generate(config, n, n_test, seed)
    s = stats(train + test)
    ops = Counter(
        op
        for r in train + test
        for op in r["program"].replace("(", " ").split()
        if op in verifier.DSL_FUNCTIONS
    )
    knobs = markdown_table(
        ["config", "depth", "bases", "length", "values", "max length"],
        [
            [
                name,
                f"{c.depth[0]}-{c.depth[1]}",
                f"{c.bases[0]}-{c.bases[1]}",
                f"{c.length[0]}-{c.length[1]}",
                f"{c.values[0]}-{c.values[1]}",
                c.max_length,
            ]
            for name, c in CONFIGS.items()
        ],
    )
    measured = markdown_table(
        ["build", "mean operations", "mean length", "mean program bits", "mean gzip bits"],
        [
            [
                config_name,
                f"{s['mean_ops']:.2f}",
                f"{s['mean_length']:.1f}",
                f"{s['mean_program_bits']:.1f}",
                f"{s['mean_gzip_bits']:.1f}",
            ]
        ],
    )
    meta, body = card(
        pretty_name="Kolmogorov sequences",
        n_rows=len(train) + len(test),
        summary="Program synthesis as compression: produce an integer sequence with a short program. "
        "After the KoLMogorov-Test (arXiv 2503.13992). Train and test share no sequence.",
        sections={
            "Fields": "`prompt`, `task` (`kolmogorov`), `sequence` (list of int), `program` (reference Python "
            "source assigning `output`, using the DSL), `num_ops`, `program_bits` (cost under the prior below), "
            "`gzip_bits` (fallback coder), `raw_bits` (8 × bytes of the comma-separated sequence), `hint` (the "
            "operations the reference uses, without arguments).",
            "Generation and prior": __doc__.split("\n\n", 1)[1],
            "Difficulty knobs": knobs
            + "\n\n"
            + measured
            + "\n\nOperations used: "
            + ", ".join(f"{k} {v}" for k, v in ops.most_common()),
            "Verification": "`task_reward` runs the completion (its last ```python block) in the sandbox after the "
            "DSL prelude. It is correct when `output` equals `sequence` (the KoLMogorov-Test's accuracy). The reward "
            "grades correct programs by compression against the gzip baseline: 0 for a wrong program; "
            "1 − b / (2(b + g)) for a correct one, with b = 8 × the program's UTF-8 bytes and g = `gzip_bits`. So "
            "every correct program scores in (0.5, 1): 0.75 at gzip parity, more when it beats gzip, towards 1 as "
            "it shrinks. Writing the sequence out literally costs about what gzip does and never scores 1. Corpus "
            "metrics as the paper reports them: `trl_ext.rewards.kolmogorov.accuracy` and `compression_rate` "
            "(Σ program bits of correct programs and gzip bits of the rest, over Σ raw bits; lower is better).",
        },
    )
    return Built(DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test)), meta, body)
