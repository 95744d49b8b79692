"""The objectives' math against brute force: subset enumeration for the estimates and weights, and exact
enumeration of every n-tuple of samples from a small categorical policy for the policy gradient."""

import itertools
import math
import random

import pytest
import torch

from trl_ext.objectives import (
    group_outcomes,
    loo_maxk_estimate,
    majority_advantages,
    majority_value,
    maxk_value,
    maxk_weights,
    pass_at_k,
    passk_advantages,
    total_rewards,
    zero_variance_share,
)


def brute_majority(answers, correct, subset):
    """Tie-averaged correctness of the majority answer of `subset` (indices); no answer never wins."""
    votes = {}
    for i in subset:
        if answers[i] is not None:
            votes.setdefault(answers[i], []).append(correct[i])
    if not votes:
        return 0.0
    top = max(len(v) for v in votes.values())
    tied = [v for v in votes.values() if len(v) == top]
    return sum(sum(v) / len(v) for v in tied) / len(tied)


def subset_mean(n, k, f, containing=None):
    subsets = [s for s in itertools.combinations(range(n), k) if containing is None or containing in s]
    return sum(f(s) for s in subsets) / math.comb(n, k)


# ------------------------------------------------------------------------------------------ estimates


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 2, 3), (6, 6, 2), (7, 3, 7), (4, 1, 4)])
def test_pass_at_k_matches_enumeration(n, c, k):
    correct = [1] * c + [0] * (n - c)
    assert pass_at_k(n, c, k) == pytest.approx(subset_mean(n, k, lambda s: max(correct[i] for i in s)))


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)


@pytest.mark.parametrize("n,k", [(n, k) for n in range(1, 7) for k in range(1, n + 1)])
def test_maxk_weights_and_loo_estimates_match_enumeration(n, k):
    rng = random.Random(n * 10 + k)
    r = [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in range(n)]  # ties included
    w = maxk_weights(torch.tensor([r]), k)[0]
    for i in range(n):
        assert w[i].item() == pytest.approx(subset_mean(n, k, lambda s: max(r[j] for j in s), containing=i))
    for m in range(0, n):
        est = loo_maxk_estimate(torch.tensor([r]), m)[0]
        for i in range(n):
            others = r[:i] + r[i + 1 :]
            expected = 0.0 if m == 0 else subset_mean(n - 1, m, lambda s, o=others: max(o[j] for j in s))
            assert est[i].item() == pytest.approx(expected)


def test_binary_weights_closed_form():
    n, k = 8, 3
    r = torch.tensor([[1.0, 0, 0, 1, 0, 0, 0, 0]])
    c = 2
    w = maxk_weights(r, k)[0]
    assert w[0].item() == pytest.approx(k / n)
    wrong = (k / n) * (1 - math.comb(n - c - 1, k - 1) / math.comb(n - 1, k - 1))
    assert w[1].item() == pytest.approx(wrong)


def test_passk_edge_cases():
    for rewards in (torch.ones(2, 6), torch.zeros(2, 6)):  # no variance: no signal
        adv = passk_advantages(rewards, 3)
        assert adv.dtype == torch.float64 and torch.allclose(
            adv, torch.zeros(2, 6, dtype=adv.dtype), atol=1e-12
        )
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.5]], dtype=torch.float64)
    # k = 1 is RLOO up to the 1/n scale: (r_i - mean of the others) / n
    rloo = torch.stack([(r[0, i] - (r[0].sum() - r[0, i]) / 4) / 5 for i in range(5)])
    assert torch.allclose(passk_advantages(r, 1)[0], rloo)
    # n = k: Tang et al.'s f(y) - f(y_-i): only a unique best sample gets a non-zero advantage
    a = passk_advantages(torch.tensor([[0.2, 0.9, 0.5]]), 3)[0]
    assert torch.allclose(a, torch.tensor([0.0, 0.9 - 0.5, 0.0], dtype=a.dtype))
    with pytest.raises(ValueError, match="k must be in"):
        passk_advantages(torch.zeros(1, 3), 4)
    with pytest.raises(ValueError, match="shape"):
        passk_advantages(torch.zeros(3), 1)


def test_passk_large_group_is_fast_and_finite():
    rewards = torch.rand(64, 256)
    adv = passk_advantages(rewards, 16)
    assert adv.shape == (64, 256) and torch.isfinite(adv).all()


@pytest.mark.parametrize("seed", range(6))
def test_majority_value_and_weights_match_enumeration(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 7)
    answers = [rng.choice(["a", "b", "c", None]) for _ in range(n)]
    correct = [a == "a" for a in answers]
    for k in range(1, n + 1):
        f = lambda s: brute_majority(answers, correct, s)  # noqa: E731
        assert majority_value(answers, correct, k) == pytest.approx(subset_mean(n, k, f))
        adv = majority_advantages([answers], torch.tensor([correct]), k)[0]
        m = k if n > k else k - 1
        for i in range(n):
            weight = subset_mean(n, k, f, containing=i)
            others = [j for j in range(n) if j != i]
            base = 0.0
            if m:
                base = sum(f(s) for s in itertools.combinations(others, m)) / math.comb(n - 1, m)
            assert adv[i].item() == pytest.approx(weight - k / n * base, abs=1e-6)


def test_majority_ties_and_abstentions():
    # two answers tied 1-1 in a k=2 vote: correct with probability 1/2
    assert majority_value(["a", "b"], [True, False], 2) == pytest.approx(0.5)
    # abstentions never win; a vote with no answer at all is wrong
    assert majority_value([None, None], [False, False], 2) == 0.0
    assert majority_value([None, "a"], [False, True], 2) == 1.0
    assert torch.equal(
        majority_advantages([[None, None, None]], torch.zeros(1, 3, dtype=torch.bool), 2), torch.zeros(1, 3)
    )


# ---------------------------------------------------------------------- the gradient, by enumeration


def _expected_estimator(logits, n, advantage_fn):
    """Σ over every n-tuple of P(tuple) Σ_i A_i ∇_θ log π(y_i), for a categorical policy π = softmax(θ)."""
    probs = torch.softmax(logits, 0).double()
    m = len(probs)
    tuples = list(itertools.product(range(m), repeat=n))
    adv = advantage_fn(tuples)  # (len(tuples), n)
    grad = torch.zeros(m, dtype=torch.float64)
    eye = torch.eye(m, dtype=torch.float64)
    for t, tup in enumerate(tuples):
        p = math.prod(probs[o].item() for o in tup)
        for i, o in enumerate(tup):
            grad += p * adv[t, i].item() * (eye[o] - probs)
    return grad


def _analytic_gradient(logits, k, f):
    """∇_θ E[f(k-tuple)] by enumerating k-tuples and autograd."""
    theta = logits.clone().double().requires_grad_(True)
    probs = torch.softmax(theta, 0)
    value = sum(
        math.prod(probs[o] for o in tup) * f(tup) for tup in itertools.product(range(len(logits)), repeat=k)
    )
    (grad,) = torch.autograd.grad(value, theta)
    return grad


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("n,k", [(1, 1), (3, 1), (2, 2), (3, 2), (4, 2), (3, 3), (4, 3), (5, 3)])
def test_passk_gradient_is_unbiased(binary, n, k):
    logits = torch.tensor([0.3, -0.5, 0.9])
    values = [1.0, 0.0, 0.0] if binary else [0.2, 1.0, 0.5]
    analytic = _analytic_gradient(logits, k, lambda tup: max(values[o] for o in tup))

    def advantages(tuples):
        rewards = torch.tensor([[values[o] for o in tup] for tup in tuples], dtype=torch.float64)
        return passk_advantages(rewards, k)

    estimated = _expected_estimator(logits, n, advantages)
    assert torch.allclose(estimated, analytic, atol=1e-9), (estimated, analytic)


@pytest.mark.parametrize("n,k", [(1, 1), (3, 1), (2, 2), (3, 2), (4, 3), (3, 3), (5, 3)])
def test_majority_gradient_is_unbiased(n, k):
    # outcomes: a correct answer, two wrong ones (two outcomes share answer "b"), and an abstention
    answer = ["a", "b", "b", "c", None]
    right = [True, False, False, False, False]
    logits = torch.tensor([0.1, 0.4, -0.3, 0.2, -0.6])
    analytic = _analytic_gradient(
        logits, k, lambda tup: brute_majority([answer[o] for o in tup], [right[o] for o in tup], range(k))
    )

    def advantages(tuples):
        answers = [[answer[o] for o in tup] for tup in tuples]
        correct = torch.tensor([[right[o] for o in tup] for tup in tuples])
        return majority_advantages(answers, correct, k).double()

    estimated = _expected_estimator(logits, n, advantages)
    assert torch.allclose(estimated, analytic, atol=1e-6), (estimated, analytic)


# ------------------------------------- maj@k with correctness that differs inside an answer, unscorable samples


@pytest.mark.parametrize("seed", range(8))
def test_majority_mixed_correctness_matches_enumeration(seed):
    """The same answer is right for one sample and wrong for another (code: same public outputs, different
    private verdicts), with abstentions; every weight and baseline against subset enumeration."""
    rng = random.Random(100 + seed)
    n = rng.randint(2, 8)
    answers = [rng.choice(["a", "a", "b", "c", None]) for _ in range(n)]
    correct = [rng.random() < 0.5 for _ in range(n)]
    for baseline in ("loo", "loo_minus_one"):
        for k in range(1, n + 1):
            f = lambda s: brute_majority(answers, correct, s)  # noqa: E731
            assert majority_value(answers, correct, k) == pytest.approx(subset_mean(n, k, f))
            adv = majority_advantages([answers], torch.tensor([correct]), k, baseline)[0]
            assert adv.dtype == torch.float64
            m = k if baseline == "loo" and n > k else k - 1
            for i in range(n):
                others = [j for j in range(n) if j != i]
                base = sum(map(f, itertools.combinations(others, m))) / math.comb(n - 1, m) if m else 0.0
                expected = subset_mean(n, k, f, containing=i) - k / n * base
                assert adv[i].item() == pytest.approx(expected, abs=1e-9), (answers, correct, k, i)


def test_maj_at_1_is_pass_at_1():
    answers = [["x", "x", "y", None, "x", "y"]]
    correct = torch.tensor([[True, False, False, False, True, True]])
    assert torch.allclose(majority_advantages(answers, correct, 1), passk_advantages(correct.double(), 1))


@pytest.mark.parametrize("n,k", [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2), (4, 2), (3, 3), (4, 3)])
def test_majority_gradient_is_unbiased_with_mixed_correctness(n, k):
    # answer "a" is right in one outcome and wrong in another; "b" likewise; one abstention
    answer = ["a", "a", "b", "b", None]
    right = [True, False, False, True, False]
    logits = torch.tensor([0.1, 0.4, -0.3, 0.2, -0.6])
    analytic = _analytic_gradient(
        logits, k, lambda tup: brute_majority([answer[o] for o in tup], [right[o] for o in tup], range(k))
    )

    def advantages(tuples):
        answers = [[answer[o] for o in tup] for tup in tuples]
        return majority_advantages(answers, torch.tensor([[right[o] for o in tup] for tup in tuples]), k)

    estimated = _expected_estimator(logits, n, advantages)
    assert torch.allclose(estimated, analytic, atol=1e-9), (estimated, analytic)


def test_unscorable_samples_are_left_out_with_zero_advantage():
    nan = float("nan")
    rewards = torch.tensor([[1.0, nan, 0.0, 0.5, 0.0], [nan, nan, nan, 1.0, 0.0], [0.2, 0.9, 0.5, 0.1, 0.7]])
    adv = passk_advantages(rewards, 2)
    assert torch.equal(adv[0, 1], torch.tensor(0.0, dtype=torch.float64))
    assert torch.allclose(adv[0, [0, 2, 3, 4]], passk_advantages(torch.tensor([[1.0, 0.0, 0.5, 0.0]]), 2)[0])
    assert torch.equal(adv[1, :3], torch.zeros(3, dtype=torch.float64))  # 2 scorable samples, k = 2
    assert torch.allclose(adv[1, 3:], passk_advantages(torch.tensor([[1.0, 0.0]]), 2)[0])
    assert torch.allclose(adv[2], passk_advantages(rewards[2:], 2)[0])
    assert torch.equal(passk_advantages(rewards, 3)[1], torch.zeros(5, dtype=torch.float64))  # 2 < k = 3

    answers = [["a", "a", "b", None, "a"]]
    correct = torch.tensor([[1.0, nan, 0.0, 0.0, 0.0]])
    adv = majority_advantages(answers, correct, 2)[0]
    kept = majority_advantages([["a", "b", None, "a"]], torch.tensor([[1.0, 0.0, 0.0, 0.0]]), 2)[0]
    assert adv[1].item() == 0.0 and torch.allclose(adv[[0, 2, 3, 4]], kept)
    assert majority_value(answers[0], correct[0].tolist(), 2) == pytest.approx(
        majority_value(["a", "b", None, "a"], [1, 0, 0, 0], 2)
    )


def test_majority_large_groups_are_symmetric():
    """n = 64, k = 16, many distinct answers: finite, and invariant to the order of the samples and to the
    answers' labels (the counting works on answer sizes; a bug in the bookkeeping breaks this)."""
    rng = random.Random(0)
    answers = [rng.choice([rng.randrange(1000), 1, 2, 2, None]) for _ in range(64)]
    correct = [rng.random() < 0.3 for _ in range(64)]
    adv = majority_advantages([answers], torch.tensor([correct]), 16)[0]
    assert torch.isfinite(adv).all() and adv.abs().max() > 0
    perm = list(range(64))
    rng.shuffle(perm)
    relabelled = [None if answers[i] is None else ("x", answers[i]) for i in perm]
    shuffled = majority_advantages([relabelled], torch.tensor([[correct[i] for i in perm]]), 16)[0]
    assert torch.allclose(shuffled, adv[perm], atol=1e-12)
    assert 0.0 <= majority_value(answers, correct, 16) <= 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_math_runs_on_cuda():
    rewards = torch.rand(3, 8, device="cuda")
    assert passk_advantages(rewards, 4).device.type == "cuda"
    correct = rewards > 0.5
    assert majority_advantages([list("aabbccdd")] * 3, correct, 4).device.type == "cuda"


def test_maxk_value_matches_enumeration_and_skips_small_groups():
    nan = float("nan")
    r = [0.2, 0.9, 0.5, 0.1]
    values = maxk_value(torch.tensor([r, [nan, 1.0, 0.0, nan]]), 3)
    assert values[0].item() == pytest.approx(subset_mean(4, 3, lambda s: max(r[j] for j in s)))
    assert math.isnan(values[1].item())
    assert maxk_value(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), 2)[0].item() == pytest.approx(pass_at_k(4, 2, 2))


# ------------------------------------------------------------------------------------ unscorable samples
NAN = float("nan")


def test_total_rewards_marks_unscorable_samples_nan():
    """TRL 1.16's sum: a function's None is skipped; a sample every function returned None for is NaN."""
    per_func = torch.tensor([[1.0, 2.0], [NAN, 2.0], [NAN, NAN], [0.0, NAN]])
    total = total_rewards(per_func, torch.tensor([1.0, 0.5]))
    assert total[[0, 1, 3]].tolist() == [2.0, 1.0, 0.0] and torch.isnan(total[2])


def test_group_outcomes_against_a_loop():
    """An all-unscorable group is unknown, not unsolved; unscorable samples never count as failures."""
    gen = torch.Generator().manual_seed(0)
    rewards = torch.rand(200, 4, generator=gen)
    rewards[torch.rand(200, 4, generator=gen) < 0.4] = NAN
    solved, known = group_outcomes(rewards, 0.5)
    for row, s, k in zip(rewards.tolist(), solved.tolist(), known.tolist()):
        scorable = [r for r in row if not math.isnan(r)]
        assert k == bool(scorable) and s == any(r > 0.5 for r in scorable)
    assert (~known).any() and (known & ~solved).any() and solved.any()


def test_zero_variance_share_ignores_unscorable_samples():
    rewards = torch.tensor([[1.0, NAN, 1.0], [NAN, NAN, NAN], [0.0, 1.0, NAN], [NAN, 0.0, NAN]])
    assert zero_variance_share(rewards) == pytest.approx(2 / 3)
    assert math.isnan(zero_variance_share(torch.full((2, 3), NAN)))
