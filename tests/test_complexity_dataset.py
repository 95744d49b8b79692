"""The complexity dataset (every label confirmed, cards, CLI) and its reward (task "complexity"), including
hostile, slow and raising completions that must score 0 without stopping training."""

import datasets
import pytest

import hub_datasets
from hub_datasets import complexity as dataset
from trl_ext.cli import main
from trl_ext.rewards import complexity as verifier
from trl_ext.rewards import task_answers, task_reward


def rewards(rows, completions):
    columns = {key: [r.get(key) for r in rows] for key in rows[0]}
    return task_reward(prompts=[r["prompt"] for r in rows], completions=completions, **columns)


@pytest.fixture(autouse=True)
def small_inference_budget(monkeypatch):
    monkeypatch.setattr(verifier, "INFERENCE_BUDGET_S", 1.5)
    monkeypatch.setattr(verifier, "INFERENCE_TIMEOUT_S", 10.0)


def test_normalize_and_parse_prediction():
    assert verifier.normalize("O(N LOG N)") == "O(n log n)"
    assert verifier.normalize("O(n*log n)") == "O(n log n)"
    assert verifier.normalize("O(n²)") == verifier.normalize("O(n**2)") == "O(n^2)"
    assert verifier.normalize("O(n * m)") == "O(n*m)" and verifier.normalize("O(n+m)") == "O(n + m)"
    assert verifier.parse_prediction("Loops nest, so it is O(n^2), not O(n).") == "O(n)"
    assert verifier.parse_prediction("The answer: O(log(n))") == "O(log(n))"
    assert verifier.parse_prediction("no idea") is None


def _problem(pid):
    return next(p for p in dataset.PROBLEMS if p["id"] == pid)


def test_rows_and_predict_reward():
    problem = _problem("max_subarray")
    tests = dataset._tests(problem)
    assert [t["output"] for t in tests] == ["1", "-1", "3", "7"]
    rows = dataset._rows(problem, tests, list(problem["solutions"]))
    predict = [r for r in rows if r["subtask"] == "predict"]
    assert len(predict) == 3 and {r["answer"] for r in predict} == {"O(n)", "O(n^2)", "O(n^3)"}
    right = [f"It is {r['answer']}." for r in predict]
    assert rewards(predict, right) == [1.0, 1.0, 1.0]
    assert rewards(predict, ["O(n log n)", "I think O(1)", ""]) == [0.0, 0.0, 0.0]
    assert task_answers(right, task=["complexity"] * 3, subtask=["predict"] * 3) == [
        r["answer"] for r in predict
    ]


def test_generate_reward_correctness_times_class_and_hostile_completions():
    problem = _problem("max_subarray")
    tests = dataset._tests(problem)
    row = next(r for r in dataset._rows(problem, tests, ["O(n)"]) if r["subtask"] == "generate")
    fence = "```python\n{}```"
    linear = fence.format(problem["solutions"]["O(n)"])
    quadratic = fence.format(problem["solutions"]["O(n^2)"])
    wrong = fence.format("def max_sum(a):\n    return sum(a)\n")
    hostile = [
        fence.format("def max_sum(a):\n    raise RuntimeError('no')\n"),
        fence.format("def max_sum(a):\n    while True:\n        pass\n"),
        fence.format("import time\ndef max_sum(a):\n    time.sleep(60)\n"),
        fence.format("import os\nos._exit(0)\n"),
        fence.format("def max_sum(a:\n"),
        fence.format("print('x' * 10**8)\n"),
        "no code at all",
    ]
    completions = [linear, quadratic, wrong, *hostile]
    assert rewards([row] * len(completions), completions) == [1.0] + [0.0] * (len(completions) - 1)


def test_generate_reward_checks_outputs_while_measuring():
    """A policy optimised on this reward finds that correctness is checked on small tests while the class is
    measured on grown inputs. Code that answers wrongly there (a fast path for large inputs, one taken when the
    harness is on the stack, one taken on repeated calls, or raising to stop the growth) scores 0, and so does a
    slow solution behind a cache that outlives its module (later calls would time a lookup)."""
    problem = _problem("max_subarray")
    row = next(
        r for r in dataset._rows(problem, dataset._tests(problem), ["O(n)"]) if r["subtask"] == "generate"
    )
    assert row["checked_strategies"] == ["copy", "random", "distinct", "shuffled"] and row["answer"]
    brute = problem["solutions"]["O(n^3)"].split("\n", 1)[1]  # the body of the cubic solution
    fence = "```python\n{}```"
    cheats = [
        "def max_sum(a):\n    if len(a) > 40:\n        return sum(a)\n" + brute,
        "import sys\ndef max_sum(a):\n    f = sys._getframe(1)\n    while f:\n"
        "        if 'measure' in f.f_code.co_name or 'batch' in f.f_code.co_name:\n            return max(a)\n"
        "        f = f.f_back\n" + brute,
        "import builtins\ndef max_sum(a):\n    seen = builtins.__dict__.setdefault('_sizes', set())\n"
        "    if len(a) in seen:\n        return 0\n    seen.add(len(a))\n" + brute,
        "def max_sum(a):\n    if len(a) > 40:\n        raise RecursionError\n" + brute,
        "import builtins\ndef max_sum(a):\n    memo = builtins.__dict__.setdefault('_memo', {})\n"
        "    if tuple(a) not in memo:\n        memo[tuple(a)] = _brute(a)\n    return memo[tuple(a)]\n"
        "def _brute(a):\n" + brute,
    ]
    completions = [fence.format(problem["solutions"]["O(n)"])] + [fence.format(c) for c in cheats]
    assert rewards([row] * len(completions), completions) == [1.0] + [0.0] * len(cheats)


def test_contract_strategies_keep_only_inputs_the_solutions_agree_on():
    assert dataset.contract_strategies(_problem("sort_numbers")) == ["copy", "random", "distinct", "shuffled"]
    # "values distinct": the sorted two-pointer count differs from the brute force once values repeat
    assert dataset.contract_strategies(_problem("zero_triples")) == ["distinct", "shuffled"]
    assert dataset.contract_strategies(_problem("power_mod")) == ["copy"]  # numbers only grow by scaling


def test_generate_reward_survives_a_failing_inference(monkeypatch):
    problem = _problem("sum_to_n")
    row = next(
        r for r in dataset._rows(problem, dataset._tests(problem), ["O(1)"]) if r["subtask"] == "generate"
    )

    def broken(*args, **kwargs):
        raise OSError("sandbox gone")

    monkeypatch.setattr(verifier, "infer", broken)
    assert rewards([row], [f"```python\n{problem['solutions']['O(1)']}```"]) == [0.0]


def test_build_confirms_labels_and_pushes_with_card(tmp_path):
    """Two problems, every label confirmed by the framework; then the CLI without confirmation."""
    config = dataset.ComplexityConfig(budget=2.0)
    train, test, stats = dataset.generate_with_stats(config, 1, 1, seed=3)
    assert stats["solutions"] >= 4 and stats["confirmed"] >= stats["solutions"] - 1
    problems = {r["problem_id"] for r in train} | {r["problem_id"] for r in test}
    assert len(problems) == 2 and not {r["problem_id"] for r in train} & {r["problem_id"] for r in test}
    for row in train + test:
        assert row["task"] == "complexity" and row["required_complexity"] in problem_labels(row["problem_id"])
    assert "complexity" in hub_datasets.GENERATORS
    target = str(tmp_path / "cx")
    assert (
        main(
            [
                "build-dataset",
                "complexity",
                "--n",
                "2",
                "--n-test",
                "1",
                "--set",
                "confirm=false",
                "--push-to-hub",
                target,
            ]
        )
        == 0
    )
    card = (tmp_path / "cx" / "README.md").read_text()
    assert "confirmation was off" in card and "BigO(Bench)" in card
    loaded = datasets.load_dataset(target, "lite")
    assert {"train", "test"} <= set(loaded) and set(loaded["train"]["subtask"]) == {"predict", "generate"}
    with pytest.raises(ValueError, match="problems"):
        dataset.generate(config, 50, 1, seed=0)


def problem_labels(pid):
    return set(_problem(pid)["solutions"])
