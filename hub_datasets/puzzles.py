"""Programming puzzles in the P3 format (Schuster et al. 2021, arXiv 2106.05784): find x such that
`sat(x)` returns True. `task = "puzzle"`.

`puzzles`: parameterised families of our own (number theory, strings, lists, graphs, search), each with a
reference solver; every instance's reference answer is verified by running `sat` in the sandbox, and
instances that a trivial answer (0, 1, -1, "", "a", [], [0], None, True, False) solves are screened out.
`p3`: a loader for the public P3 `puzzles.json` format (objects with `name`, `sat`, `ans_type`,
`sol_header`, `sol_docstring`, `sol_bodies`, …): each puzzle's first solution runs in the sandbox (after
P3's preamble `from typing import List`, with an output cap large enough for P3's largest answers) to get
the answer literal, which must then satisfy `sat`; puzzles without a verified answer are dropped (the card
says how many).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub_datasets.base import Built, card, markdown_table, unique_splits
from trl_ext.execution import run_batch
from trl_ext.rewards import puzzle as verifier

ANSWER_OUTPUT_LIMIT = 64 * 2**20  # P3 answers can be far larger than the sandbox's default output cap
TRIVIAL = ["0", "1", "-1", "''", "'a'", "[]", "[0]", "None", "True", "False"]
PROMPT = (
    "Find an input x such that the following Python function returns True.\n\n```python\n{sat}```\n\n"
    "Answer with the value of x as a Python literal in a ``` block."
)

# Each family: (rng, level) -> (sat source, answer value, hint). `level` 1 (lite) or 2 (hard) scales sizes.
Family = Callable[[random.Random, int], tuple[str, object, str]]


def _primes(limit: int) -> list[int]:
    sieve = [True] * limit
    sieve[:2] = [False, False]
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = [False] * len(sieve[i * i :: i])
    return [i for i, p in enumerate(sieve) if p]


def factor(rng, level):
    primes = _primes(100 * 10**level)
    p, q = rng.choice(primes[5:]), rng.choice(primes[5:])
    n = p * q
    return (
        f"def sat(d: int, n={n}):\n    return 1 < d < n and n % d == 0\n",
        min(p, q),
        "x is a divisor of n.",
    )


def modular_inverse(rng, level):
    m = rng.choice(_primes(50 * 10**level)[10:])
    a = rng.randint(2, m - 1)
    return (
        f"def sat(x: int, a={a}, m={m}):\n    return 0 <= x < m and (a * x) % m == 1\n",
        pow(a, -1, m),
        "x is an integer below m.",
    )


def sum_of_squares(rng, level):
    k = 2 + level
    nums = [rng.randint(2, 10 * level) for _ in range(k)]
    total = sum(v * v for v in nums)
    src = f"def sat(li: list, k={k}, total={total}):\n    return len(li) == k and all(type(v) is int and v > 1 for v in li) and sum(v * v for v in li) == total\n"
    return src, nums, f"x is a list of {k} integers."


def letter_counts(rng, level):
    n = rng.randint(4, 8 * level)
    a = rng.randint(1, n - 2)
    b = rng.randint(1, n - a - 1)
    answer = "a" * a + "b" * b + "c" * (n - a - b)
    src = f"def sat(s: str, n={n}, a={a}, b={b}):\n    return len(s) == n and s.count('a') == a and s.count('b') == b\n"
    return src, answer, f"x is a string of length {n}."


def palindrome_with(rng, level):
    sub = "".join(rng.choice("abcxyz") for _ in range(rng.randint(2, 2 + 2 * level)))
    answer = sub + sub[::-1]
    return (
        f"def sat(s: str, sub={sub!r}):\n    return s == s[::-1] and sub in s and len(s) > len(sub)\n",
        answer,
        "x is a palindrome.",
    )


def subset_sum(rng, level):
    nums = rng.sample(range(1, 30 * level), 6 + 3 * level)
    chosen = sorted(rng.sample(range(len(nums)), rng.randint(2, 3 + level)))
    target = sum(nums[i] for i in chosen)
    src = (
        f"def sat(idx: list, nums={nums}, target={target}):\n"
        "    return len(set(idx)) == len(idx) > 0 and all(0 <= i < len(nums) for i in idx) and sum(nums[i] for i in idx) == target\n"
    )
    return src, chosen, "x is a list of distinct indices into nums."


def graph_path(rng, level):
    n = 6 + 4 * level
    order = list(range(n))
    rng.shuffle(order)
    edges = {(order[i], order[i + 1]) for i in range(n - 1)}
    while len(edges) < 2 * n:
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            edges.add((a, b))
    edges = sorted(edges)
    start, end = order[0], order[-1]
    # the reference answer: BFS shortest path
    parents, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for u in frontier:
            for a, b in edges:
                if a == u and b not in parents:
                    parents[b] = u
                    nxt.append(b)
        frontier = nxt
    path, node = [], end
    while node is not None:
        path.append(node)
        node = parents[node]
    path.reverse()
    src = (
        f"def sat(path: list, edges={edges}, start={start}, end={end}):\n"
        "    return len(path) > 1 and path[0] == start and path[-1] == end and all([a, b] in [list(e) for e in edges] for a, b in zip(path, path[1:]))\n"
    )
    return src, path, "x is a list of nodes from start to end along directed edges."


def integer_root(rng, level):
    r1, r2 = rng.randint(-10 * level, 10 * level), rng.randint(2, 10 * level)
    b, c = -(r1 + r2), r1 * r2
    return (
        f"def sat(x: int, b={b}, c={c}):\n    return x * x + b * x + c == 0 and x > 1\n",
        r2,
        "x is a positive integer root.",
    )


def digit_sum(rng, level):
    lower = rng.randint(10, 10 ** (2 + level))
    target = rng.randint(5, 9 * (2 + level))
    x = lower + 1
    while sum(map(int, str(x))) != target:
        x += 1
    return (
        f"def sat(n: int, lower={lower}, target={target}):\n    return n > lower and sum(int(d) for d in str(n)) == target\n",
        x,
        "x is an integer.",
    )


def rotation(rng, level):
    s = "".join(rng.choice("abcdefgh") for _ in range(6 + 4 * level))
    k = rng.randint(1, len(s) - 1)
    t = s[k:] + s[:k]
    if t == s:
        k, t = 1, s[1:] + s[:1]
    src = f"def sat(k: int, s={s!r}, t={t!r}):\n    return 0 < k < len(s) and s[k:] + s[:k] == t\n"
    return src, next(i for i in range(1, len(s)) if s[i:] + s[:i] == t), "x is a rotation amount."


def coin_change(rng, level):
    coins = sorted(rng.sample([1, 2, 3, 5, 7, 10, 20, 25, 50], 3 + level))
    answer = [rng.choice(coins) for _ in range(rng.randint(3, 4 + 2 * level))]
    total, most = sum(answer), len(answer)
    src = f"def sat(li: list, coins={coins}, total={total}, most={most}):\n    return 0 < len(li) <= most and all(c in coins for c in li) and sum(li) == total\n"
    return src, answer, f"x is a list of at most {most} coins."


def queens(rng, level):
    n = rng.choice([5, 6] if level == 1 else [7, 8])

    first = rng.randrange(n)

    def solve(row, cols):
        if row == n:
            return cols
        for c in [first] if row == 0 else rng.sample(range(n), n):
            if all(c != c2 and abs(c - c2) != row - r2 for r2, c2 in enumerate(cols)):
                found = solve(row + 1, cols + [c])
                if found:
                    return found
        return None

    answer = solve(0, [])
    if answer is None:  # no placement with that first column: draw again
        return queens(rng, level)
    src = (
        f"def sat(cols: list, n={n}, first={first}):\n"
        "    return cols[0] == first and sorted(cols) == list(range(n)) and all(abs(cols[i] - cols[j]) != j - i for i in range(n) for j in range(i + 1, n))\n"
    )
    return src, answer, f"x lists the column of the queen in each of the {n} rows."


def anagram_start(rng, level):
    word = "".join(rng.choice("abcdefghij") for _ in range(4 + 2 * level))
    letter = rng.choice(sorted(set(word)))
    rest = list(word)
    rest.remove(letter)
    answer = letter + "".join(sorted(rest))
    src = f"def sat(s: str, word={word!r}, first={letter!r}):\n    return sorted(s) == sorted(word) and s[0] == first\n"
    return src, answer, "x is an anagram of word."


def max_product_pair(rng, level):
    nums = [rng.randint(-20 * level, 20 * level) for _ in range(6 + 2 * level)]
    best = max(nums[i] * nums[j] for i in range(len(nums)) for j in range(len(nums)) if i != j)
    pair = next(
        [i, j] for i in range(len(nums)) for j in range(len(nums)) if i != j and nums[i] * nums[j] == best
    )
    src = (
        f"def sat(ij: list, nums={nums}):\n"
        "    i, j = ij\n"
        "    return i != j and all(nums[i] * nums[j] >= nums[a] * nums[b] for a in range(len(nums)) for b in range(len(nums)) if a != b)\n"
    )
    return src, pair, "x is a pair of indices [i, j]."


FAMILIES: dict[str, Family] = {
    f.__name__: f
    for f in (
        factor, modular_inverse, sum_of_squares, letter_counts, palindrome_with, subset_sum, graph_path,
        integer_root, digit_sum, rotation, coin_change, queens, anagram_start, max_product_pair,
    )
}  # fmt: skip


@dataclass(frozen=True)
class PuzzleConfig:
    level: int = 1  # size of each family's parameters
    families: str = ""  # comma-separated subset of the families; empty = all

    def validate(self) -> None:
        if self.level not in (1, 2, 3):
            raise ValueError(f"knob 'level' must be 1, 2 or 3, got {self.level}")
        unknown = set(self.family_names()) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown puzzle families {sorted(unknown)}; families: {', '.join(FAMILIES)}")

    def family_names(self) -> list[str]:
        return [f for f in self.families.split(",") if f] or list(FAMILIES)


CONFIGS = {"lite": PuzzleConfig(level=1), "hard": PuzzleConfig(level=2)}
DEFAULT_SIZE = {"lite": (1000, 200), "hard": (1000, 200)}


def _trivially_solved(sources: list[str]) -> list[bool]:
    """Whether any trivial answer satisfies each sat (one sandbox run per puzzle)."""
    probe = "\nfor _x in [{}]:\n    try:\n        if sat(_x) is True:\n            print('TRIVIAL')\n    except Exception:\n        pass\n"
    results = run_batch([{"code": src + probe.format(", ".join(TRIVIAL))} for src in sources])
    return [not r.ok or "TRIVIAL" in r.stdout for r in results]


def make_row(sat: str, answer: str, family: str, hint: str, source: str) -> dict:
    return {
        "prompt": [{"role": "user", "content": PROMPT.format(sat=sat)}],
        "task": "puzzle",
        "sat": sat,
        "answer": answer,
        "family": family,
        "source": source,
        "hint": hint,
    }


def generate(config: PuzzleConfig, n: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    config.validate()
    names = config.family_names()

    def make(rng: random.Random, index: int) -> dict:
        family = rng.choice(names)  # random, so that a family with few distinct instances cannot stall
        sat, answer, hint = FAMILIES[family](rng, config.level)
        return make_row(sat, repr(answer), family, hint, "trl-ext")

    # Draw a margin of extra instances: some are screened out as trivial below.
    rows, _ = unique_splits(
        make, lambda r: r["sat"], n + n_test + max(10, (n + n_test) // 10), 0, seed, "puzzles"
    )
    verified = verifier.check([r["sat"] for r in rows], [r["answer"] for r in rows])
    if not all(verified):
        bad = rows[verified.index(False)]
        raise AssertionError(
            f"a reference answer does not satisfy its puzzle: {bad['family']}: {bad['sat']} {bad['answer']}"
        )
    rows = [r for r, trivial in zip(rows, _trivially_solved([r["sat"] for r in rows])) if not trivial]
    if len(rows) < n + n_test:
        raise ValueError(
            f"only {len(rows)} non-trivial puzzles for n={n} + n_test={n_test}; lower n or change the families"
        )
    return rows[:n], rows[n : n + n_test]


def load_p3(path: str | Path) -> tuple[list[dict], int]:
    """Rows from a P3 `puzzles.json` file, with answers computed and verified in the sandbox.
    Returns (rows, number of puzzles dropped for want of a verified answer)."""
    try:
        puzzles = json.loads(Path(path).expanduser().read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read P3 puzzles from {path}: {err}") from err
    if not isinstance(puzzles, list) or not all(
        isinstance(p, dict) and {"name", "sat"} <= p.keys() for p in puzzles
    ):
        raise ValueError(
            f"{path} is not in the P3 puzzles.json format (a list of objects with 'name' and 'sat')"
        )
    with_solution = [p for p in puzzles if p.get("sol_header") and p.get("sol_bodies")]
    programs = [
        f"{verifier.PREAMBLE}{p['sol_header']}\n{p['sol_bodies'][0]}\nprint(repr(sol()))\n"
        for p in with_solution
    ]
    jobs = [{"code": code, "output_limit": ANSWER_OUTPUT_LIMIT} for code in programs]
    results = run_batch(jobs) if programs else []
    answers = [r.stdout.strip() if r.ok else None for r in results]
    candidates = [(p, a) for p, a in zip(with_solution, answers) if a]
    ok = verifier.check([p["sat"] for p, _ in candidates], [a for _, a in candidates])
    rows = [
        make_row(
            p["sat"], a, p["name"].split(":")[0], f"x has type {p.get('ans_type', 'unknown')}.", p["name"]
        )
        for (p, a), good in zip(candidates, ok)
        if good
    ]
    return rows, len(puzzles) - len(rows)


def mean_answer_length(rows: list[dict]) -> float:
    return sum(len(r["answer"]) for r in rows) / len(rows)


def _card(config_name: str, rows: list[dict], dropped: int | None) -> tuple[dict, str]:
    families = Counter(r["family"] for r in rows)
    sections = {
        "Fields": "`prompt`, `task` (`puzzle`), `sat` (source of `def sat(x, ...)`; the extra parameters have "
        "defaults), `answer` (a verified solution as a Python literal), `family`, `source`, `hint` (the type "
        "and shape of x, never its value).",
        "Generation": __doc__.split("\n\n", 1)[1],
        "Families": markdown_table(["family", "rows"], [[f, c] for f, c in sorted(families.items())])
        + f"\n\nMean answer length: {mean_answer_length(rows):.1f} characters.",
        "Verification": "`task_reward` parses the answer literal on the host (`ast.literal_eval`) and runs "
        "`sat(x)` in the sandbox; pass when it returns True within the time limit.",
    }
    if dropped is not None:
        sections["Source"] = (
            f"Converted from a P3 puzzles.json file; {dropped} puzzle(s) without a verified answer were dropped."
        )
    else:
        sections["Difficulty knobs"] = (
            "`level` scales every family's parameters (1 = lite, 2 = hard); "
            "`families` restricts the families."
        )
    return card(
        pretty_name="Programming puzzles (P3 format)" if dropped is None else "P3 programming puzzles",
        n_rows=len(rows),
        summary="Find x such that sat(x) is True: verifiable reasoning tasks with unambiguous checks "
        "(Programming Puzzles, arXiv 2106.05784).",
        sections=sections,
        license="apache-2.0" if dropped is None else "mit",
    )


def build(config_name: str, config: PuzzleConfig, n: int, n_test: int, seed: int) -> Built:
    from datasets import Dataset, DatasetDict

    train, test = generate(config, n, n_test, seed)
    meta, body = _card(config_name, train + test, None)
    return Built(DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test)), meta, body)


def build_p3(source: str, split: str) -> Built:
    from datasets import Dataset, DatasetDict

    rows, dropped = load_p3(source)
    if not rows:
        raise ValueError(f"no puzzle in {source} has a verified answer")
    meta, body = _card("default", rows, dropped)
    return Built(DatasetDict({split: Dataset.from_list(rows)}), meta, body)
