"""Complexity-labelled code, after BigO(Bench) (arXiv 2503.15242): problems with several reference solutions of
different known time complexities. `task = "complexity"`, two subtasks:
- `predict`: given a solution's code, name its time complexity (`answer`, e.g. `O(n log n)`);
- `generate`: given the problem and a required class, write a correct solution of that class (checked on the
  tests, then measured by `trl_ext.complexity`).

The problems and solutions were written for trl-ext (no BigO(Bench) data is used). Building checks every
solution in the sandbox: all solutions of a problem must agree on every test input, and each solution's label
must be confirmed by the complexity framework (`trl_ext.complexity.infer` on the problem's growth example);
a solution whose inferred class differs is dropped and counted in the card. Train and test splits hold
different problems.
"""

from __future__ import annotations

import ast
import json
import random
from collections import Counter
from dataclasses import dataclass

from tqdm import tqdm

from hub_datasets.base import Built, card, markdown_table
from trl_ext.complexity import Settings, infer
from trl_ext.execution import run, run_tests


@dataclass(frozen=True)
class ComplexityConfig:
    confirm: bool = True  # confirm every label with the framework (slow: seconds per solution)
    budget: float = 3.0  # CPU seconds per inference when confirming

    def validate(self) -> None:
        if self.budget <= 0:
            raise ValueError(f"knob 'budget' must be positive, got {self.budget}")


CONFIGS = {"lite": ComplexityConfig()}


def _p(pid, statement, fn, signature, example, tests, solutions):
    return dict(
        id=pid,
        statement=statement,
        fn_name=fn,
        signature=signature,
        example=example,
        tests=tests,
        solutions=solutions,
    )


PROBLEMS = [
    _p(
        "pair_sum",
        "Return True when two different positions of the list `a` hold values summing to `t`.",
        "has_pair",
        "def has_pair(a, t):",
        "([2, 7, 11, 15, 3], 100)",
        ["([1, 2, 3], 5)", "([1, 2, 3], 7)", "([5], 10)", "([4, 4], 8)", "([-1, 3, 8, 2], 7)"],
        {
            "O(n^2)": "def has_pair(a, t):\n    for i in range(len(a)):\n        for j in range(i + 1, len(a)):\n"
            "            if a[i] + a[j] == t:\n                return True\n    return False\n",
            "O(n log n)": "def has_pair(a, t):\n    b = sorted(a)\n    i, j = 0, len(b) - 1\n    while i < j:\n"
            "        s = b[i] + b[j]\n        if s == t:\n            return True\n        if s < t:\n"
            "            i += 1\n        else:\n            j -= 1\n    return False\n",
        },
    ),
    _p(
        "max_subarray",
        "Return the largest sum of a non-empty contiguous slice of the list `a`.",
        "max_sum",
        "def max_sum(a):",
        "([-2, 1, -3, 4, -1, 2, 1, -5, 4],)",
        ["([1],)", "([-3, -1, -2],)", "([2, -1, 2],)", "([5, -9, 6, -2, 3],)"],
        {
            "O(n^3)": "def max_sum(a):\n    best = a[0]\n    for i in range(len(a)):\n        for j in range(i, len(a)):\n"
            "            s = 0\n            for k in range(i, j + 1):\n                s += a[k]\n"
            "            best = max(best, s)\n    return best\n",
            "O(n^2)": "def max_sum(a):\n    best = a[0]\n    for i in range(len(a)):\n        s = 0\n"
            "        for j in range(i, len(a)):\n            s += a[j]\n            best = max(best, s)\n    return best\n",
            "O(n)": "def max_sum(a):\n    best = cur = a[0]\n    for x in a[1:]:\n        cur = max(x, cur + x)\n"
            "        best = max(best, cur)\n    return best\n",
        },
    ),
    _p(
        "power_mod",
        "Return `b` to the power `e`, modulo `m` (e >= 0, m >= 2).",
        "power_mod",
        "def power_mod(b, e, m):",
        "(3, 200, 1000000007)",
        ["(2, 10, 1000)", "(7, 0, 13)", "(5, 3, 7)", "(10, 18, 97)"],
        {
            "O(n)": "def power_mod(b, e, m):\n    r = 1\n    for _ in range(e):\n        r = r * b % m\n    return r\n",
            "O(log n)": "def power_mod(b, e, m):\n    r, b = 1, b % m\n    while e:\n        if e & 1:\n"
            "            r = r * b % m\n        b = b * b % m\n        e >>= 1\n    return r\n",
        },
    ),
    _p(
        "inversions",
        "Return the number of pairs i < j with a[i] > a[j].",
        "inversions",
        "def inversions(a):",
        "([3, 1, 2, 5, 4],)",
        ["([1, 2, 3],)", "([3, 2, 1],)", "([2, 4, 1, 3, 5],)", "([7],)"],
        {
            "O(n^2)": "def inversions(a):\n    c = 0\n    for i in range(len(a)):\n        for j in range(i + 1, len(a)):\n"
            "            c += a[i] > a[j]\n    return c\n",
            "O(n log n)": "def inversions(a):\n    def go(x):\n        if len(x) <= 1:\n            return x, 0\n"
            "        m = len(x) // 2\n        l, cl = go(x[:m])\n        r, cr = go(x[m:])\n"
            "        out, i, j, c = [], 0, 0, cl + cr\n        while i < len(l) and j < len(r):\n"
            "            if l[i] <= r[j]:\n                out.append(l[i])\n                i += 1\n"
            "            else:\n                out.append(r[j])\n                j += 1\n                c += len(l) - i\n"
            "        return out + l[i:] + r[j:], c\n    return go(list(a))[1]\n",
        },
    ),
    _p(
        "lis",
        "Return the length of the longest strictly increasing subsequence of `a`.",
        "lis",
        "def lis(a):",
        "([10, 9, 2, 5, 3, 7, 101, 18],)",
        ["([1],)", "([3, 2, 1],)", "([1, 3, 2, 4],)", "([0, 8, 4, 12, 2, 10, 6, 14],)"],
        {
            "O(n^2)": "def lis(a):\n    best = [1] * len(a)\n    for i in range(len(a)):\n        for j in range(i):\n"
            "            if a[j] < a[i] and best[j] + 1 > best[i]:\n                best[i] = best[j] + 1\n"
            "    return max(best)\n",
            "O(n log n)": "def lis(a):\n    tails = []\n    for x in a:\n        lo, hi = 0, len(tails)\n"
            "        while lo < hi:\n            mid = (lo + hi) // 2\n            if tails[mid] < x:\n"
            "                lo = mid + 1\n            else:\n                hi = mid\n"
            "        if lo == len(tails):\n            tails.append(x)\n        else:\n            tails[lo] = x\n"
            "    return len(tails)\n",
        },
    ),
    _p(
        "sum_to_n",
        "Return 1 + 2 + ... + n for n >= 0.",
        "triangular",
        "def triangular(n):",
        "(1000,)",
        ["(0,)", "(1,)", "(10,)", "(12345,)"],
        {
            "O(n)": "def triangular(n):\n    s = 0\n    for i in range(1, n + 1):\n        s += i\n    return s\n",
            "O(1)": "def triangular(n):\n    return n * (n + 1) // 2\n",
        },
    ),
    _p(
        "zero_triples",
        "Return the number of index triples i < j < k with a[i] + a[j] + a[k] == 0 (values distinct).",
        "zero_triples",
        "def zero_triples(a):",
        "([-5, 1, 4, -3, 2, 7],)",
        ["([0, 1, -1],)", "([1, 2, 3],)", "([-4, -1, 0, 1, 2, 3, 5],)"],
        {
            "O(n^3)": "def zero_triples(a):\n    n, c = len(a), 0\n    for i in range(n):\n        for j in range(i + 1, n):\n"
            "            for k in range(j + 1, n):\n                if a[i] + a[j] + a[k] == 0:\n"
            "                    c += 1\n    return c\n",
            "O(n^2)": "def zero_triples(a):\n    b = sorted(a)\n    n, c = len(b), 0\n    for i in range(n):\n"
            "        j, k = i + 1, n - 1\n        while j < k:\n            s = b[i] + b[j] + b[k]\n"
            "            if s == 0:\n                c += 1\n                j += 1\n                k -= 1\n"
            "            elif s < 0:\n                j += 1\n            else:\n                k -= 1\n    return c\n",
        },
    ),
    _p(
        "bit_length",
        "Return the number of binary digits of n >= 1.",
        "bits",
        "def bits(n):",
        "(37,)",
        ["(1,)", "(2,)", "(255,)", "(256,)"],
        {
            "O(log n)": "def bits(n):\n    c = 0\n    while n:\n        n >>= 1\n        c += 1\n    return c\n",
            "O(1)": "def bits(n):\n    return n.bit_length()\n",
        },
    ),
    _p(
        "search_sorted",
        "Return the index of `x` in the sorted list `a`, or -1 when it is absent.",
        "find",
        "def find(a, x):",
        "([1, 3, 5, 7, 9, 11], 4)",
        ["([1, 3, 5], 3)", "([1, 3, 5], 4)", "([2], 2)", "([1, 2, 4, 8, 16], 16)"],
        {
            "O(n)": "def find(a, x):\n    for i, v in enumerate(a):\n        if v == x:\n            return i\n    return -1\n",
            "O(log n)": "def find(a, x):\n    lo, hi = 0, len(a) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n"
            "        if a[mid] == x:\n            return mid\n        if a[mid] < x:\n            lo = mid + 1\n"
            "        else:\n            hi = mid - 1\n    return -1\n",
        },
    ),
    _p(
        "sort_numbers",
        "Return the list `a` sorted in increasing order.",
        "sort_list",
        "def sort_list(a):",
        "([5, 2, 8, 1, 9, 3],)",
        ["([3, 1, 2],)", "([],)", "([5, 5, 1],)", "([9, -1, 4, 0],)"],
        {
            "O(n^2)": "def sort_list(a):\n    a = list(a)\n    for i in range(len(a)):\n        for j in range(len(a) - 1 - i):\n"
            "            if a[j] > a[j + 1]:\n                a[j], a[j + 1] = a[j + 1], a[j]\n    return a\n",
            "O(n log n)": "def sort_list(a):\n    return sorted(a)\n",
        },
    ),
]

DEFAULT_SIZE = {"lite": (7, 3)}


def _tests(problem: dict) -> list[dict]:
    """Call-mode tests: each input as a JSON argument list, the output computed by the first solution in the
    sandbox."""
    reference = next(iter(problem["solutions"].values()))
    literals = ", ".join(problem["tests"])
    program = f"{reference}\nimport json\nprint(json.dumps([{problem['fn_name']}(*args) for args in [{literals}]]))\n"
    result = run(program, timeout=10)
    if not result.ok:
        raise AssertionError(f"reference solution of {problem['id']} fails: {result.stderr[-300:]}")
    outputs = json.loads(result.stdout)
    return [
        {"input": json.dumps(list(ast.literal_eval(t))), "output": json.dumps(o)}
        for t, o in zip(problem["tests"], outputs)
    ]


def confirm(problem: dict, tests: list[dict], config: ComplexityConfig) -> dict[str, str]:
    """Every solution passes the tests; returns {label: inferred class} (labels kept when they agree)."""
    inferred = {}
    for label, code in problem["solutions"].items():
        result = run_tests(code, tests, fn_name=problem["fn_name"], timeout=10)
        if not result.passed:
            raise AssertionError(f"solution {label} of {problem['id']} fails its tests: {result.status}")
        if config.confirm:
            settings = Settings(budget_s=config.budget)
            inferred[label] = infer(code, problem["fn_name"], problem["example"], settings=settings).time
        else:
            inferred[label] = label
    return inferred


def contract_strategies(problem: dict) -> list[str]:
    """The expansion strategies whose grown inputs keep the problem's contract: on them all reference solutions
    give the same outputs (each argument group of `plan`, sizes ×2 to ×16). On the others (tiled copies of a
    sorted list are not sorted) the solutions themselves disagree, so the reward does not compare a candidate's
    outputs there. Runs our own solutions in this process (trusted code, small inputs)."""
    from trl_ext.complexity import _harness as harness
    from trl_ext.complexity.infer import parse_example, plan

    example = parse_example(problem["example"])
    functions = []
    for code in problem["solutions"].values():
        namespace: dict = {}
        exec(compile(code, problem["id"], "exec"), namespace)
        functions.append(namespace[problem["fn_name"]])

    def answers(args):
        out = []
        for fn in functions:
            copy = harness.clone(args)
            try:
                out.append(harness._answer(fn(*copy), copy))
            except Exception as err:
                out.append(type(err).__name__)
        return out

    def agree(a, b):  # plain answers (returned, arguments after) or the names of the errors raised
        if isinstance(a, str) or isinstance(b, str):
            return a == b
        return harness.same_plain(a[0], b[0]) and harness.same_plain(a[1], b[1])

    kept = []
    timed = plan(example, counting=False)  # a "compared" set's outputs are never checked
    for strategy in dict.fromkeys(s for _, s in timed):
        rng = random.Random(0)
        groups = [g for g, s in timed if s == strategy]
        grown = (
            [harness.expand(a, factor, strategy, rng) if i in group else a for i, a in enumerate(example)]
            for group in groups
            for factor in (2, 4, 8, 16)
        )
        if all(all(agree(a, out[0]) for a in out[1:]) for out in map(answers, grown)):
            kept.append(strategy)
    return kept


def _rows(problem: dict, tests: list[dict], labels: list[str]) -> list[dict]:
    rows = []
    checked = contract_strategies(problem)
    for label in labels:
        code = problem["solutions"][label]
        base = {
            "task": "complexity",
            "problem_id": problem["id"],
            "fn_name": problem["fn_name"],
            "checked_strategies": checked,
        }
        rows.append(
            {
                **base,
                "subtask": "predict",
                "prompt": [
                    {
                        "role": "user",
                        "content": "What is the worst-case time complexity of this function, in terms of the size "
                        "of its input? Answer with one class in big-O notation, e.g. O(n log n).\n\n"
                        f"```python\n{code}```",
                    }
                ],
                "code": code,
                "answer": label,
                "required_complexity": label,
                "example": problem["example"],
                "public_tests": tests,
            }
        )
        rows.append(
            {
                **base,
                "subtask": "generate",
                "prompt": [
                    {
                        "role": "user",
                        "content": f"{problem['statement']}\n\nYour solution must run in {label} time. Write the "
                        f"function `{problem['signature']}` in a ```python block.",
                    }
                ],
                "code": "",
                "answer": code,
                "required_complexity": label,
                "example": problem["example"],
                "public_tests": tests,
            }
        )
    return rows


def generate(config: ComplexityConfig, n: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(train rows, test rows) of `n` train and `n_test` test problems, disjoint, drawn with `seed`."""
    train, test, _ = generate_with_stats(config, n, n_test, seed)
    return train, test


def generate_with_stats(config: ComplexityConfig, n: int, n_test: int, seed: int) -> tuple[list, list, dict]:
    """`generate` and the counts of solutions, confirmed solutions and confirmed solutions per class."""
    config.validate()
    if n < 0 or n_test < 0 or n + n_test == 0 or n + n_test > len(PROBLEMS):
        raise ValueError(
            f"need 0 <= n, n_test and 1 <= n + n_test <= {len(PROBLEMS)} problems, got n={n}, n_test={n_test}"
        )
    problems = list(PROBLEMS)
    random.Random(seed).shuffle(problems)
    chosen = problems[: n + n_test]
    splits: list[list[dict]] = [[], []]
    stats = Counter()
    for index, problem in enumerate(tqdm(chosen, desc="complexity", leave=False)):
        tests = _tests(problem)
        inferred = confirm(problem, tests, config)
        kept = [label for label, got in inferred.items() if got == label]
        stats["solutions"] += len(inferred)
        stats["confirmed"] += len(kept)
        stats.update(f"class {label}" for label in kept)
        splits[index >= n] += _rows(problem, tests, kept)
    return splits[0], splits[1], dict(stats)


def build(config_name: str, config: ComplexityConfig, n: int, n_test: int, seed: int) -> Built:
    from datasets import Dataset, DatasetDict

    train, test, stats = generate_with_stats(config, n, n_test, seed)
    classes = sorted((k.removeprefix("class "), v) for k, v in stats.items() if k.startswith("class "))
    meta, body = card(
        pretty_name="Complexity-labelled solutions",
        n_rows=len(train) + len(test),
        summary="Problems with reference solutions of different, measured time complexities: predict the class of "
        "given code, or write correct code of a required class. After BigO(Bench) (arXiv 2503.15242).",
        sections={
            "Fields": "`prompt` (conversational), `task` (`complexity`), `subtask` (`predict` or `generate`), "
            "`problem_id`, `fn_name`, `code` (predict: the code to classify), `answer` (predict: the class; "
            "generate: a reference solution), `required_complexity`, `example` (the arguments the framework grows), "
            "`public_tests` (call mode: JSON argument list and JSON output), `checked_strategies` (the input "
            "expansions on which the reward compares a generated solution's outputs with `answer`'s while measuring).",
            "Generation": __doc__.split("\n\n", 1)[1],
            "Labels": f"{stats['confirmed']} of {stats['solutions']} solutions confirmed by the framework"
            + (" (confirmation was off for this build)" if not config.confirm else "")
            + ".\n\n"
            + markdown_table(["class", "solutions"], [[c, k] for c, k in classes]),
            "Verification": "`trl_ext.rewards.task_reward` (task `complexity`): predict — the last `O(...)` of the "
            "completion equals `answer`; generate — all tests pass × the inferred time class equals "
            "`required_complexity`.",
        },
        tags=("complexity",),
    )
    return Built(DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test)), meta, body)
