"""Complexity inference: fits recover closed-form curves, expansions grow as specified, inference agrees with
the labelled cases (a fast subset here, all of them in the slow test), clear errors, the CLI, the dataset and the
reward (including hostile completions)."""

import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trl_ext.cli import main
from trl_ext.complexity import CLASSES, ComplexityError, Settings, fit_curve, infer
from trl_ext.complexity import _harness as harness
from trl_ext.complexity.fit import OTHER, combine
from trl_ext.complexity.infer import parse_example
from trl_ext.complexity.stdin import parse_stdin

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import complexity_cases  # noqa: E402
from complexity_cases import CASES, FAST  # noqa: E402

SIZES = [8 * 2**k for k in range(13)]


@pytest.mark.parametrize("klass", CLASSES, ids=[k.label for k in CLASSES])
def test_fit_recovers_each_class_from_noisy_closed_form(klass):
    rng = np.random.default_rng(0)
    n = np.asarray(SIZES, dtype=float)
    for trial in range(20):
        intercept, coefficient = 1e-6 * (1 + trial), 1e-8 * (1 + rng.random())
        cost = intercept + coefficient * klass.curve(n) * (1e3 if klass.power == 0 else 1)
        noisy = cost * (1 + 0.03 * rng.standard_normal(len(n)).clip(-2, 2))
        fit = fit_curve(n, noisy)
        assert fit.klass == klass, (trial, fit.label, fit.residuals)
        assert fit.margin > 0


def test_fit_flat_noise_is_constant_and_exponential_is_other():
    rng = np.random.default_rng(1)
    flat = 1e-6 * (1 + 0.08 * rng.random(len(SIZES)))
    assert fit_curve(SIZES, flat).label == "O(1)"
    n = np.arange(10, 24)
    assert fit_curve(n, 1e-7 * 2.0**n).label == OTHER
    assert fit_curve([10, 20], [1e-5, 1e-3]).label == OTHER  # two sizes only: growth like n^6.6
    assert fit_curve([10, 20, 40], [1e-5, 2e-5, 4e-5]) is None  # too few sizes for a class


def test_fit_mixed_costs_need_the_lower_order_term():
    """Python-level work per element beside faster-growing C-level work. A patience-sort LIS (bisect into a tails
    list), as measured on random inputs: the monomials read O(n) (the bisect's comparisons add ~40% per element over
    the sizes), with a linear lower-order term (time fits) it reads O(n log n). A string copy per step (n^2)
    taking over within the sizes reads one class too low as a monomial. A late cache step (+30% per element at the
    last two sizes) and a plain line stay O(n): the faster term must carry half the cost at the largest size."""
    sizes = [8 * 2**k for k in range(11)]
    lis = [9.16e-7, 1.69e-6, 4.07e-6, 6.55e-6, 1.44e-5, 2.52e-5, 6.1e-5, 1.23e-4, 2.85e-4, 5.56e-4, 1.23e-3]
    assert fit_curve(sizes, lis).label == "O(n)"
    assert fit_curve(sizes, lis, timing=True, lower_order=False).label == "O(n)"
    assert fit_curve(sizes, lis, timing=True).label == "O(n log n)"
    n = np.asarray(sizes, dtype=float)
    prepend_like = (500 + 40 * n + 0.01 * n**2) * 1e-9
    assert fit_curve(n, prepend_like).label == "O(n log n)"
    assert fit_curve(n, prepend_like, timing=True).label == "O(n^2)"
    cache_step = (n * np.where(n >= 4096, 130.0, 100.0) + 500) * 1e-9
    assert fit_curve(n, cache_step, timing=True).label == "O(n)"
    assert fit_curve(n, (n * 100 + 500) * 1e-9, timing=True).label == "O(n)"


def test_fit_margin_below_measures_the_gap_to_simpler_classes():
    n = np.asarray([8 * 2**k for k in range(11)], dtype=float)
    fit = fit_curve(n, (n * (100 + 2 * np.log2(n)) + 500) * 1e-9, timing=True, lower_order=False)
    assert fit.label == "O(n)" and fit.margin_below > 2  # far above O(1) and O(log n)
    assert fit_curve(n, np.full(len(n), 1e-6)).margin_below == 1.0  # nothing simpler than O(1)


def test_fit_a_class_above_n_must_outgrow_the_next_simpler_one():
    """`s.count('a')` on random strings, as measured on a loaded machine: C-level work whose call overhead still
    shrinks per element (0.6 ns/char at n=384, 1.2 at 12288, flat at the end). The linear-term variant read it
    O(n log n) by a hair; over the larger half of the sizes it grows no faster than n, so it is O(n)."""
    sizes = [6 * 2**k for k in range(12)]
    times = [
        2.72e-7,
        2.67e-7,
        2.8e-7,
        3.07e-7,
        3.32e-7,
        3.98e-7,
        5.9e-7,
        1.06e-6,
        1.8e-6,
        3.57e-6,
        6.82e-6,
        1.44e-5,
    ]
    assert fit_curve(sizes, times, timing=True).label == "O(n)"
    from trl_ext.complexity.fit import _outgrows

    n = np.asarray(sizes, dtype=float)
    assert not _outgrows(n, np.asarray(times), CLASSES[2])
    assert _outgrows(n, n * np.log2(n), CLASSES[2]) and not _outgrows(n, n * np.log2(n), CLASSES[3])


def test_combine_labels():
    c1, log, lin, nlog, quad = CLASSES[:5]
    assert combine([lin, c1], lin) == "O(n)"
    assert (
        combine([lin, c1], quad) == "O(n^2)"
    )  # one size variable: the together curve (no early exit) decides
    assert combine([lin, lin], quad) == "O(n*m)"
    assert combine([quad, lin], CLASSES[5]) == "O(n^2*m)"
    assert combine([lin, log], nlog) == "O(n log m)"
    assert combine([lin, lin], lin) == "O(n + m)"
    assert combine([c1, c1], c1) == "O(1)"
    assert combine([lin, None], lin) == OTHER


def test_expansion_strategies():
    rng = random.Random(0)
    assert harness.expand(5, 8, "copy", rng) == 40
    assert harness.expand(2.5, 4, "random", rng) == 10.0
    assert harness.expand(True, 8, "copy", rng) is True and harness.expand(None, 8, "copy", rng) is None
    assert harness.expand("ab", 3, "copy", rng) == "ababab"
    random_text = harness.expand("abc", 4, "random", rng)
    assert len(random_text) == 12 and set(random_text) <= set("abc")
    assert harness.expand([3, 1, 2], 2, "copy", rng) == [3, 1, 2, 3, 1, 2]
    assert harness.expand([3, 1, 2], 3, "distinct", rng) == [3, 1, 2, 6, 4, 5, 9, 7, 8]
    shuffled = harness.expand([3, 1, 2], 30, "shuffled", rng)  # distinct, from a range 1024x their number
    assert len(set(shuffled)) == 90 and min(shuffled) >= 1 and max(shuffled) < 1 + harness.WIDE * 90
    assert max(shuffled) > 100 * 90 and shuffled != sorted(shuffled)
    # a set of them does not iterate in sorted order (it does for a dense range: CPython hashes an int to itself)
    assert list(set(shuffled)) != sorted(shuffled) and list(set(range(1, 91))) == list(range(1, 91))
    permutation = harness.expand([2, 0, 1], 30, "shuffled", rng)  # values that may be indices stay indices
    assert sorted(permutation) == list(range(90)) and permutation != sorted(permutation)
    assert harness.expand(["ab", "c"], 3, "distinct", rng) == ["ab", "c", "ab1", "c1", "ab2", "c2"]
    random_list = harness.expand([3, 1, 2], 1000, "random", rng)
    assert len(random_list) == 3000 and min(random_list) >= 1
    assert max(random_list) - min(random_list) <= harness.MAX_SPAN
    assert len(set(random_list)) == harness.MAX_SPAN + 1  # every value of a cache-sized range
    assert harness.expand((1, 2), 2, "copy", rng) == (1, 2, 1, 2)
    matrix = harness.expand([[1, 2], [3, 4]], 4, "random", rng)
    assert len(matrix) == 8 and all(len(row) == 8 for row in matrix)  # square: both dimensions grow
    pairs = harness.expand([[0, 30], [5, 10], [15, 20]], 4, "random", rng)
    assert len(pairs) == 12 and all(len(p) == 2 for p in pairs)  # not square: rows only
    assert harness.expand({1: "a", 2: "b"}, 3, "copy", rng) == {
        1: "a",
        2: "b",
        3: "a",
        4: "b",
        5: "a",
        6: "b",
    }
    assert harness.expand({"x": 1}, 2, "copy", rng) == {"x": 1, "x1": 1}
    assert harness.expand({1, 4}, 2, "copy", rng) == {1, 4, 5, 8}
    assert harness.expand([], 8, "copy", rng) == []
    nested = [[1, 2], [3]]
    copied = harness.clone(nested)
    copied[0].append(9)
    assert nested == [[1, 2], [3]]


def test_stdin_parsing_and_rendering():
    args, spec = parse_stdin("5\n3 1 4 1 5\n")
    assert args == [[3, 1, 4, 1, 5]]
    assert harness._render(spec, [[1, 2, 3]]) == "3\n1 2 3\n"
    args, spec = parse_stdin("3\nab\ncd\nef\nhello\n7\n")
    assert args == [["ab", "cd", "ef"], "hello", 7]
    assert harness._render(spec, [["x"], "hi", 8]) == "1\nx\nhi\n8\n"
    args, spec = parse_stdin("2 3\n1 2 3\n4 5 6\n")  # no count line: each line grows alone
    assert args == [[2, 3], [1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize("name", FAST)
def test_inference_agrees_with_labels_fast_subset(name):
    case = next(c for c in CASES if c["name"] == name)
    result = infer(case["code"], case["entry"], case["example"])
    assert result.time == case["time"], result.to_dict()
    assert result.cpu_seconds < 10


def test_deep_recursion_is_linear():
    """CPython maps and unmaps a frame-stack chunk each time recursion crosses 16 KiB of frames (~150 calls
    deep), on every call: per call level this kernel work tripled the cost from that depth on and read as
    O(n log n) (it did before the harness gave its worker thread a 64 MiB root chunk)."""
    code = "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
    result = infer(code, "depth", "(20,)")
    assert result.time == "O(n)", result.to_dict()
    sizes, times = result.sets[0].sizes, result.sets[0].times
    assert max(sizes) >= 5000  # deep enough to cross many chunks
    per_level = [t / n for n, t in zip(sizes, times) if n >= 80]
    assert max(per_level) < 2 * min(per_level)


def test_reference_outputs_are_checked_while_measuring():
    reference = "def f(a):\n    return sorted(a)\n"
    quick = Settings(budget_s=1.0)
    assert infer(reference, "f", "([3, 1, 2],)", settings=quick, reference=reference).time == "O(n log n)"
    branch = "def f(a):\n    return list(a) if len(a) > 20 else sorted(a)\n"
    assert infer(branch, "f", "([3, 1, 2],)", settings=quick).time == "O(n)"  # unchecked: the cheap path wins
    with pytest.raises(
        ComplexityError, match=r"answers differently from the reference: at size 24 it returns"
    ):
        infer(branch, "f", "([3, 1, 2],)", settings=quick, reference=reference)
    in_place = "def f(a):\n    a.reverse()\n"
    with pytest.raises(ComplexityError, match="leaves its arguments as"):
        infer(in_place, "f", "([3, 1, 2],)", settings=quick, reference="def f(a):\n    a.sort()\n")
    # tiled copies of [1, 2, 3] are not sorted: with only "distinct" checked, a binary search passes
    search = (
        "def f(a):\n    lo, hi = 0, len(a)\n    while lo < hi:\n        mid = (lo + hi) // 2\n"
        "        if a[mid] < 2:\n            lo = mid + 1\n        else:\n            hi = mid\n    return lo\n"
    )
    linear = "def f(a):\n    return next((i for i, x in enumerate(a) if x >= 2), len(a))\n"
    with pytest.raises(ComplexityError, match="answers differently"):
        infer(search, "f", "([1, 2, 3],)", settings=quick, reference=linear)
    checked = infer(search, "f", "([1, 2, 3],)", settings=quick, reference=linear, check=["distinct"])
    assert checked.time == "O(log n)"
    # a quadratic function behind a cache that outlives its module: the later calls would time a lookup
    cached = (
        "import builtins\ndef f(a):\n    memo = builtins.__dict__.setdefault('_memo', {})\n    key = tuple(a)\n"
        "    if key not in memo:\n        memo[key] = sum(1 for x in a for y in a if x < y)\n    return memo[key]\n"
    )
    with pytest.raises(ComplexityError, match="keeps state across calls"):
        infer(cached, "f", "([3, 1, 2],)", settings=quick)
    # rebinding a builtin that only the reference uses, so that the reference fails and checks nothing
    reference = "def f(a):\n    return [divmod(x, 3) for x in a]\n"
    saboteur = (
        "import builtins\nbuiltins.divmod = None\n"
        "def f(a):\n    return [(x // 3, x % 3) for x in a] if len(a) < 40 else []\n"
    )
    with pytest.raises(ComplexityError, match="answers differently"):
        infer(saboteur, "f", "([3, 1, 2],)", settings=quick, reference=reference)
    with pytest.raises(ComplexityError, match="only check a function"):
        infer("print(1)", None, "1\n", reference=reference)


def test_inference_of_a_stdin_program_and_space():
    program = (
        "n = int(input())\na = list(map(int, input().split()))\n"
        "print(sum(1 for i in range(n) for j in range(i + 1, n) if a[i] > a[j]))\n"
    )
    # 0/1 values: random expansion keeps them flags, so the input text grows as n (wider values would add
    # digits, and a log factor to the memory of the parsed tokens)
    result = infer(program, None, "5\n1 0 1 1 0\n")
    assert result.time == "O(n^2)" and result.space == "O(n)"  # it stores the list
    assert infer("def f(a):\n    return a[::-1]\n", "f", "([1, 2, 3],)").space == "O(n)"


@pytest.mark.parametrize(
    "code, example",
    [
        (
            "def f(a):\n    return sorted(a)\n",
            "([5, 2, 8, 1, 9, 3],)",
        ),  # was O(n log n): no merge buffer below 64
        (  # was O(log n): random ints span 256 values, so only distinct values grow the dict
            "def f(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n"
            "        if target - x in seen:\n            return [seen[target - x], i]\n"
            "        seen[x] = i\n    return []\n",
            "([3, 9, 14, 20, 1], -1)",
        ),
        (  # was O(1) or O(n) by example: tiled words repeat; distinct words now differ
            "def f(words):\n    counts = {}\n    for w in words:\n        counts[w] = counts.get(w, 0) + 1\n"
            "    return max(counts.values())\n",
            "(['b', 'a', 'c', 'a', 'b'],)",
        ),
    ],
    ids=["sorted", "two_sum_dict", "word_count"],
)
def test_linear_space_of_the_issue_examples(code, example):
    """Peak memory is deterministic: these need no timing, only sizes that grow."""
    assert infer(code, "f", example, settings=Settings(budget_s=1.5)).space == "O(n)"


def test_clear_errors():
    quick = Settings(budget_s=1.0, timeout_s=5.0)
    with pytest.raises(ComplexityError, match="defines no function 'g'"):
        infer("def f(a):\n    return a\n", "g", "([1],)", settings=quick)
    with pytest.raises(ComplexityError, match="raises on the example: ZeroDivisionError"):
        infer("def f(a):\n    return 1 / 0\n", "f", "([1],)", settings=quick)
    with pytest.raises(ComplexityError, match="never finishes"):
        infer("def f(a):\n    while True:\n        pass\n", "f", "([1],)", settings=quick)
    with pytest.raises(ComplexityError, match="never finishes"):  # no CPU used: the wall clock limit
        infer("import time\ndef f(a):\n    time.sleep(100)\n", "f", "([1],)", settings=quick)
    with pytest.raises(ComplexityError, match="raises on the example: SystemExit"):  # not only Exception
        infer("def f(a):\n    raise SystemExit(3)\n", "f", "([1],)", settings=quick)
    with pytest.raises(ComplexityError, match="raises on the example: KeyboardInterrupt"):
        infer("def f(a):\n    return a\nraise KeyboardInterrupt\n", "f", "([1],)", settings=quick)
    with pytest.raises(ComplexityError, match="result was lost"):
        infer("import os\ndef f(a):\n    os._exit(0)\n", "f", "([1],)", settings=quick)
    printing = "import sys\ndef f(a):\n    sys.stdout.write('{')\n    print(a)\n    return sum(a)\n"
    assert (
        infer(printing, "f", "([3, 1, 2],)", settings=quick).time == "O(n)"
    )  # its output is not the result's
    with pytest.raises(ComplexityError, match="Python literal"):
        infer("def f(a):\n    return a\n", "f", "[1, 2", settings=quick)
    with pytest.raises(ComplexityError, match="no argument of the example can grow"):
        infer("def f(a):\n    return a\n", "f", "(None,)", settings=quick)


def test_cli_json_plot_and_errors(tmp_path, capsys):
    source = tmp_path / "sol.py"
    source.write_text("def f(a):\n    return sum(a)\n\ndef g(a):\n    raise KeyError('x')\n")
    plot = tmp_path / "plot.png"
    assert (
        main(
            [
                "complexity",
                str(source),
                "--function",
                "f",
                "--example",
                "[3, 1, 2]",
                "--json",
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["time"] == "O(n)" and out["space"] == "O(1)"
    assert {"time_margin", "time_coefficient", "measure_sets"} <= out.keys() and plot.stat().st_size > 0
    assert out["time_confidence"] in ("high", "medium", "low") and 0 <= out["time_agreement"] <= 1
    assert (
        main(["complexity", str(source), "--function", "f", "--example", "[3, 1, 2]", "--plot", str(plot)])
        == 0
    )
    text = capsys.readouterr().out
    assert "time:  O(n)  (confidence " in text and "of the input expansions agree" in text
    assert main(["complexity", str(source), "--function", "g", "--example", "[1]"]) == 2
    assert "raises on the example: KeyError" in capsys.readouterr().err
    assert main(["complexity", str(tmp_path / "missing.py"), "--function", "f", "--example", "[1]"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("budget", ["0", "-5", "0.1", "nan", "inf", "lots"])
def test_cli_refuses_bad_budgets_in_one_line(tmp_path, capsys, budget):
    source = tmp_path / "sol.py"
    source.write_text("def f(a):\n    return sum(a)\n")
    argv = ["complexity", str(source), "--function", "f", "--example", "[1, 2]", f"--budget={budget}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--budget" in err and ("CPU seconds" in err), err


def test_a_far_higher_class_of_one_expansion_raises_the_time_class():
    """Early exits: random inputs stop at once (O(1)), tiled copies of a palindrome run to the end (O(n)). The raise
    counts the gap to the simpler classes (`margin_below`), not to the runner-up: a linear fit 20% better than n log
    n but 5x better than O(1) is firmly above O(1)."""
    from trl_ext.complexity.fit import Fit
    from trl_ext.complexity.infer import FIRM_MARGIN, _over_strategies

    c1, _, lin, nlog = CLASSES[:4]
    flat = Fit(c1, 1.0, 0.0, 1e-7, {})
    early_exit = {"random": flat, "distinct": flat, "shuffled": flat}
    copy = Fit(lin, 0.2, 1e-8, 1e-7, {}, runner_up=nlog, margin_below=4.0)
    assert _over_strategies({**early_exit, "copy": copy}).klass == lin
    unsure = Fit(lin, 0.2, 1e-8, 1e-7, {}, runner_up=nlog, margin_below=FIRM_MARGIN / 2)
    assert _over_strategies({**early_exit, "copy": unsure}).klass == c1


def test_the_random_class_above_the_median_needs_its_monomial_fit():
    """Random inputs decide over the median of copy/random/distinct, but a class that only a linear lower-order
    variant fits (the monomial fit reads lower) falls back to the monomial's class: a late cache step on random
    words read a sort O(n^2); its monomial, O(n log n), still beats the median."""
    from trl_ext.complexity.fit import Fit
    from trl_ext.complexity.infer import _over_strategies

    lin, nlog = CLASSES[2:4]
    linear = Fit(lin, 1.0, 1e-8, 1e-7, {}, margin_below=3.0)
    variant = Fit(nlog, 0.1, 1e-9, 1e-7, {}, runner_up=lin, margin_below=0.1)
    fits = {"copy": linear, "random": variant, "distinct": linear}
    assert _over_strategies(fits, {**fits, "random": linear}).klass == lin
    assert _over_strategies(fits, fits).klass == nlog
    both = {**fits, "distinct": variant}
    assert _over_strategies(both, {**both, "random": linear, "distinct": linear}).klass == nlog
    step = Fit(CLASSES[4], 0.2, 1e-9, 1e-7, {}, runner_up=nlog, margin_below=0.2)
    fits = {"copy": linear, "random": step, "distinct": linear}
    assert _over_strategies(fits, {**fits, "random": variant}).klass == nlog


def test_a_raise_is_judged_on_the_monomial_fit():
    """A set-membership scan (O(n + m)) on many distinct values in random order, measured: its hash tables leave
    the CPU caches at the last sizes (per-element cost 42 -> 81 ns), which a linear lower-order term let n^2 fit.
    A raise is judged on the monomial fit: here n log n, only 6% better than O(n), far below FIRM_MARGIN."""
    from trl_ext.complexity.infer import FIRM_MARGIN, _over_strategies

    sizes = [4 * 2**k for k in range(12)]
    times = [
        6.11e-7,
        7.38e-7,
        1.03e-6,
        1.73e-6,
        2.94e-6,
        5.67e-6,
        1.03e-5,
        2.2e-5,
        4.34e-5,
        9.59e-5,
        2.43e-4,
        6.61e-4,
    ]
    full, monomial = (
        fit_curve(sizes, times, timing=True),
        fit_curve(sizes, times, timing=True, lower_order=False),
    )
    assert monomial.label == "O(n log n)" and monomial.margin_below < FIRM_MARGIN / 2
    linear = fit_curve(sizes, [1e-8 * n + 5e-7 for n in sizes], timing=True)
    fits = {"copy": linear, "random": linear, "distinct": linear, "shuffled": full}
    assert _over_strategies(fits, {**fits, "shuffled": monomial}).label == "O(n)"


def test_counted_elements_count_every_comparison_even_in_c():
    """In a "compared" set the elements inside the grown containers count their comparisons, also those that
    sorted, bisect, heapq, min and `in` make in C; a number argument, bools and the characters of a str do not
    change; hashing is the base type's (a dict keyed by them behaves and costs as before)."""
    import bisect
    import heapq

    items, number, mapping = (harness.counted(a) for a in ([5, 3.5, "x", True, (7, 8)], 9, {4: "a"}))
    assert [type(v).__name__ for v in items[:4]] == ["CountedInt", "CountedFloat", "CountedStr", "bool"]
    assert (
        type(number) is int
        and type(items[4][0]).__name__ == type(next(iter(mapping))).__name__ == "CountedInt"
    )
    assert hash(items[0]) == hash(5) and {items[0]: 1}[5] == 1 and items == [5, 3.5, "x", True, (7, 8)]

    def comparisons(run) -> int:
        harness.COMPARISONS[0] = 0
        run()
        return harness.COMPARISONS[0]

    ints = harness.counted(list(range(0, 2 * 1023, 2)))  # 1023 sorted distinct values
    assert comparisons(lambda: bisect.bisect_left(ints, 501)) == 10  # exactly log2(1024) halvings
    assert comparisons(lambda: min(ints)) == 1022 and comparisons(lambda: 3 in ints) == 1023
    assert comparisons(lambda: sorted(ints[::-1])) == 1022  # one descending run, reversed in place
    heap = []  # descending pushes: each sifts up to the root, one comparison per level
    depths = sum(math.floor(math.log2(i + 1)) for i in range(1023))
    assert comparisons(lambda: [heapq.heappush(heap, v) for v in ints[::-1]]) == depths
    assert comparisons(lambda: list(range(5))) == 0


def test_counted_comparisons_raise_a_class_the_clock_misses():
    """The host side: a group's comparison-count class raises its timed class when higher and firm, never lowers
    it; unfirm counts (a few equality checks on hash collisions) change nothing."""
    from trl_ext.complexity.fit import Fit
    from trl_ext.complexity.infer import COMPARED, FIRM_MARGIN, MeasureSet, _raised_by_comparisons

    c1, log, lin = CLASSES[:3]
    sizes = [8 * 2**k for k in range(10)]
    timed = MeasureSet((0,), "random", sizes=sizes, times=[2e-7 + 1e-9 * np.log2(n) for n in sizes])
    counts = MeasureSet((0,), COMPARED, sizes=sizes, comparisons=[float(np.log2(n)) + 1 for n in sizes])
    counts.comparison_fit = fit_curve(counts.sizes, counts.comparisons)
    assert counts.comparison_fit.klass == log and counts.comparison_fit.margin_below >= FIRM_MARGIN
    flat = Fit(c1, 1.0, 0.0, 2e-7, {})
    raised = _raised_by_comparisons(flat, [timed, counts])
    assert raised.klass == log and raised.coefficient > 0  # seconds per unit of log n, from the random times
    assert _raised_by_comparisons(Fit(lin, 1.0, 1e-9, 0.0, {}), [timed, counts]) is None  # never lowers
    unsure = MeasureSet((0,), COMPARED, sizes=sizes, comparisons=[1.0] * 9 + [2.0])
    unsure.comparison_fit = fit_curve(unsure.sizes, unsure.comparisons)
    assert _raised_by_comparisons(flat, [timed, unsure]) is None


def test_c_level_log_factors_are_measured_through_comparison_counts():
    """A bisect lookup and a heap-based loop: their log factors run in C, under a Python call or loop that the
    clock sees instead (the timed expansions read O(1) and O(n)); the counted comparisons give O(log n) and
    O(n log n). A stdin program gets no "compared" set (its numbers are read from text)."""
    lookup = "import bisect\ndef has(a, x):\n    i = bisect.bisect_left(a, x)\n    return i < len(a) and a[i] == x\n"
    result = infer(lookup, "has", "([1, 4, 9, 16, 25, 36], 16)")
    assert result.time == "O(log n)", result.to_dict()
    assert any(s["comparisons"] == "O(log n)" for s in result.to_dict()["measure_sets"])
    assert result.time_from_comparisons and result.to_dict()["time_from_comparisons"]
    halves = (
        "import heapq\ndef pop_every_other(a):\n    heap, total = [], 0\n    for i, v in enumerate(a):\n"
        "        heapq.heappush(heap, v)\n        if i % 2:\n            total += heapq.heappop(heap)\n"
        "    return total\n"
    )
    assert infer(halves, "pop_every_other", "([5, 1, 4, 2, 8, 7, 3],)").time == "O(n log n)"
    picky = "def f(a):\n    assert all(type(v) is int for v in a)\n    return sorted(a)\n"
    refused = infer(picky, "f", "([3, 1, 2, 5],)")  # code that refuses the counting types is still measured
    assert refused.time == "O(n log n)" and not refused.time_from_comparisons
    assert [s.stopped for s in refused.sets if s.strategy == "compared"] == ["failed: raises"]
    program = infer("import sys\nprint(sorted(map(int, sys.stdin.read().split()[1:])))\n", None, "3\n3 1 2\n")
    assert all(s.strategy != "compared" for s in program.sets)


def test_a_stopped_call_bounds_the_growth():
    """Too few sizes to fit because the next call was stopped at the CPU cap: the cap is a lower bound of its cost,
    enough for "other" when even that bound means a slope beyond any polynomial class; a cubic stopped at the next
    doubling is not (8x is within reach of n^3)."""
    from trl_ext.complexity.fit import outgrows_polynomials

    assert outgrows_polynomials([6], [2e-4], 12, 0.16)  # n-queens: 6 -> 12 costs over 800x
    assert not outgrows_polynomials([8, 16], [0.002, 0.016], 32, 0.128)  # a cubic: 8x per doubling
    assert not outgrows_polynomials([8, 16], [0.002, 0.016], 16, 0.5)  # no larger size
    doubling = "def count(n):\n    return 1 if n <= 0 else count(n - 1) + count(n - 1)\n"
    result = infer(doubling, "count", "(11,)")  # 2^22 calls at the next size: only the example is timed
    assert result.time == "other" and result.sets[0].sizes == [11] and result.sets[0].stopped == "too_slow"


def test_every_labelled_set_is_well_formed():
    """The labelled and held-out sets the benchmark reads: unique names, labels in the inference's format, and
    every case's code runs on its example (our own fixture code, run here directly)."""
    sets = {
        name: value
        for name, value in vars(complexity_cases).items()
        if name == "CASES" or name.startswith("HELD_OUT")
    }
    assert {"CASES", "HELD_OUT", "HELD_OUT_2", "HELD_OUT_3", "HELD_OUT_4", "HELD_OUT_5"} <= sets.keys()
    cases = [case for value in sets.values() for case in value]
    assert len({c["name"] for c in cases}) == len(cases)
    label = r"O\((1|[nmk](\^[23])?( log [nmk])?|log n|n\*m|n \+ m)\)|other"
    for case in cases:
        assert re.fullmatch(label, case["time"]), case["name"]
        assert "space" not in case or re.fullmatch(label, case["space"]), case["name"]
        namespace = {}
        exec(compile(case["code"], case["name"], "exec"), namespace)
        namespace[case["entry"]](*parse_example(case["example"]))


def test_confidence_words():
    from trl_ext.complexity.infer import confidence

    assert confidence(0.4, 1.0) == "high"
    assert confidence(0.4, 2 / 3) == confidence(0.1, 1.0) == "medium"
    assert confidence(0.4, 1 / 3) == confidence(0.01, 1.0) == "low"


@pytest.mark.benchmark
def test_inference_accuracy_on_all_labelled_cases():
    """≥ 95% of the labelled cases (the issue's goal); scripts/bench_complexity.py reports per class. Timing-based
    (measured runtimes), so not part of `make test`: run it with `pytest -m benchmark` on a quiet machine."""
    assert len(CASES) >= 40
    right = [infer(c["code"], c["entry"], c["example"]).time == c["time"] for c in CASES]
    assert sum(right) / len(right) >= 0.95, [c["name"] for c, ok in zip(CASES, right) if not ok]


def test_benchmark_script_reports_accuracy_and_spread(tmp_path):
    """scripts/bench_complexity.py on the fast subset, twice: the report, its per-run line and the plot."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_complexity.py"
    cmd = [sys.executable, str(script), "--quick", "--skip-big-o", "--repeat", "2", "--output", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(script.parent.parent)}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=300)
    report = (tmp_path / "report.md").read_text()
    assert "| O(n log n) | 1 |" in report and "Over 2 runs:" in report
    rows = json.loads((tmp_path / "results.json").read_text())
    assert len(rows) == len(FAST) and all(len(r["runs"]) == 2 for r in rows)
    assert (tmp_path / "accuracy.png").stat().st_size > 0
