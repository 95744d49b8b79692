"""pass@k / maj@k / n@k metrics against brute-force enumeration, and their `evaluate` modules."""

import itertools
import math
import random

import evaluate
import pytest

from trl_ext.eval import mean_maj_at_k, mean_pass_at_k, metric_module_path, n_at_k


def brute_n_at_k(public, correct, n_submit, k):
    """Average over k-subsets and over every order in which tied public-passers could be picked."""
    total = 0.0
    for subset in itertools.combinations(range(len(correct)), k):
        passing = [i for i in subset if public[i]]
        failing = [i for i in subset if not public[i]]
        outcomes = []
        for p_order in itertools.permutations(passing):
            for f_order in itertools.permutations(failing):
                chosen = (list(p_order) + list(f_order))[:n_submit]
                outcomes.append(any(correct[i] for i in chosen))
        total += sum(outcomes) / len(outcomes)
    return total / math.comb(len(correct), k)


@pytest.mark.parametrize("seed", range(8))
def test_n_at_k_matches_enumeration(seed):
    rng = random.Random(seed)
    size = rng.randint(1, 6)
    public = [rng.random() < 0.5 for _ in range(size)]
    correct = [rng.random() < 0.4 for _ in range(size)]
    for k in range(1, size + 1):
        for n_submit in range(1, k + 1):
            assert n_at_k(public, correct, n_submit, k) == pytest.approx(
                brute_n_at_k(public, correct, n_submit, k)
            )


def test_means_and_errors():
    assert mean_pass_at_k([[True, False], [False, False]], 1) == pytest.approx(0.25)
    assert mean_maj_at_k([["a", "a", "b"]], [[True, True, False]], 3) == 1.0
    with pytest.raises(ValueError, match="no problems"):
        mean_pass_at_k([], 1)
    with pytest.raises(ValueError, match="need 1 <= n <= k"):
        n_at_k([True], [True], 2, 1)
    with pytest.raises(ValueError, match="unknown metric module"):
        metric_module_path("bleu")


def test_evaluate_modules():
    pass_k = evaluate.load(metric_module_path("pass_at_k"))
    assert pass_k.compute(predictions=[[1, 0, 1], [0, 0, 0]], k=[1, 2]) == {
        "pass@1": pytest.approx(1 / 3),
        "pass@2": pytest.approx(0.5),
    }
    maj_k = evaluate.load(metric_module_path("maj_at_k"))
    assert maj_k.compute(predictions=[["4", "4", "5"], ["", "1", "2"]], references=["4", "2"], k=3) == {
        "maj@3": pytest.approx(0.75)
    }
    n_k = evaluate.load(metric_module_path("n_at_k"))
    assert n_k.compute(predictions=[[1, 0, 1, 0]], references=[[1, 0, 0, 0]], n=1, k=[2]) == {
        "1@2": pytest.approx(5 / 12)
    }
