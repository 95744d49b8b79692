"""Dataset hints (Guide, arXiv 2506.13923): on a sample of every generated dataset each hint is *real* (a true
statement about the row's reference answer) and *partial* (it does not contain the answer, and the hint itself
submitted as an answer fails the verifier); converters give a hint where the upstream data has a natural one."""

import ast
import json
import re
from pathlib import Path

import pytest

from hub_datasets import code_contests, humaneval, kolmogorov, pbe, puzzles
from trl_ext.rewards import task_reward
from trl_ext.trainers.guide import check_hints

FIXTURES = Path(__file__).parent / "fixtures"


def pbe_hint_is_real(row) -> bool:
    rules = row["rules"]
    return row["hint"] == f"The program has {len(rules)} rule(s); the first one rewrites {rules[0][0]!r}."


def kolmogorov_hint_is_real(row) -> bool:
    named = re.fullmatch(r"It can be written with rng(?: and (.*))?\.", row["hint"])
    ops = named.group(1).split(", ") if named and named.group(1) else []
    used = set(re.findall(r"(\w+)\(", row["program"])) - {"rng"}
    return named is not None and set(ops) == used and not re.search(r"\d", row["hint"])  # no literal given


def _default(row, name: str) -> int:
    return int(re.search(rf"\b{name}=(\d+)", row["sat"]).group(1))


# Each puzzle family's hint, as a claim about the answer value x (and the puzzle's parameters).
PUZZLE_CLAIMS = [
    (r"x is a divisor of n\.", lambda x, row, m: type(x) is int and _default(row, "n") % x == 0),
    (r"x is an integer below m\.", lambda x, row, m: type(x) is int and 0 <= x < _default(row, "m")),
    (
        r"x is a list of (\d+) integers\.",
        lambda x, row, m: len(x) == int(m[1]) and all(type(v) is int for v in x),
    ),
    (r"x is a string of length (\d+)\.", lambda x, row, m: isinstance(x, str) and len(x) == int(m[1])),
    (r"x is a palindrome\.", lambda x, row, m: x == x[::-1]),
    (r"x is a list of distinct indices into nums\.", lambda x, row, m: len(set(x)) == len(x)),
    (r"x is a list of nodes from start to end along directed edges\.", lambda x, row, m: isinstance(x, list)),
    (r"x is a positive integer root\.", lambda x, row, m: type(x) is int and x > 0),
    (r"x is an integer\.", lambda x, row, m: type(x) is int),
    (r"x is a rotation amount\.", lambda x, row, m: type(x) is int and x > 0),
    (r"x is a list of at most (\d+) coins\.", lambda x, row, m: isinstance(x, list) and len(x) <= int(m[1])),
    (r"x lists the column of the queen in each of the (\d+) rows\.", lambda x, row, m: len(x) == int(m[1])),
    (r"x is an anagram of word\.", lambda x, row, m: isinstance(x, str)),
    (r"x is a pair of indices \[i, j\]\.", lambda x, row, m: isinstance(x, list) and len(x) == 2),
]


def puzzle_hint_is_real(row) -> bool:
    for pattern, claim in PUZZLE_CLAIMS:
        if match := re.fullmatch(pattern, row["hint"]):
            return bool(claim(ast.literal_eval(row["answer"]), row, match))
    raise AssertionError(f"no claim known for the puzzle hint {row['hint']!r} ({row['family']})")


GENERATED = [
    (pbe, "lite", pbe_hint_is_real),
    (pbe, "hard", pbe_hint_is_real),
    (kolmogorov, "lite", kolmogorov_hint_is_real),
    (puzzles, "lite", puzzle_hint_is_real),
    (puzzles, "hard", puzzle_hint_is_real),
]


@pytest.mark.parametrize(
    "module,name,is_real", GENERATED, ids=[f"{m.__name__.split('.')[-1]}-{c}" for m, c, _ in GENERATED]
)
def test_generated_hints_are_real_and_partial(module, name, is_real):
    train, test = module.generate(module.CONFIGS[name], 40, 0, seed=3)
    rows = train + test
    assert all(row["hint"] and is_real(row) for row in rows)
    check_hints([r["hint"] for r in rows], {c: [r.get(c) for r in rows] for c in ("answer", "program")})
    hint_as_answer = [[{"role": "assistant", "content": f"```\n{r['hint']}\n```"}] for r in rows]
    columns = {key: [r.get(key) for r in rows] for key in rows[0]}
    assert sum(task_reward([r["prompt"] for r in rows], hint_as_answer, **columns)) == 0


def test_puzzle_claims_can_be_false():
    """The claims are checks, not tautologies: a wrong answer breaks them."""
    row = {"hint": "x is a string of length 5.", "answer": "'abcd'", "family": "letter_counts"}
    assert not puzzle_hint_is_real(row)
    row = {"hint": "It can be written with rng and concat.", "program": "output = reverse(rng(1, 5, 1))\n"}
    assert not kolmogorov_hint_is_real(row)


def test_converters_hint_from_tags():
    rows = [json.loads(line) for line in (FIXTURES / "codecontests.jsonl").read_text().splitlines()]
    converted = [code_contests.convert(r) for r in rows]
    assert [c["hint"] for c in converted] == ["Techniques that apply: math.", None]  # no tags, no hint
    taco = code_contests.convert(json.loads((FIXTURES / "taco.jsonl").read_text().splitlines()[0]))
    assert taco["hint"] == "Techniques that apply: Array."
    assert (
        code_contests.tags_hint(["*1200", "greedy", "*special", "greedy", "dp"])
        == "Techniques that apply: greedy, dp."
    )
    assert code_contests.tags_hint("not a list [") is None
    problem = {
        "task_id": "t/0",
        "prompt": "def f():\n",
        "canonical_solution": "  return 1\n",
        "test": "",
        "entry_point": "f",
    }
    assert humaneval.convert(problem)["hint"] is None
    for row in (*converted, taco):
        check_hints([row["hint"]], {"solutions": [row["solutions"]]})
