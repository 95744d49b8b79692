"""CurES math (trl_ext.curriculum) against hand-computed values, exact enumeration and its limits."""

import math

import numpy as np
import pytest
import torch

from trl_ext.curriculum import (
    allocation_shares,
    draw_groups,
    normalised_entropy,
    posterior_mean,
    sampling_weights,
    sigma_proxy,
    systematic_round,
    update_counts,
)


def test_beta_posterior_by_hand():
    s, f = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    # prompt 0: 3 successes + 1 failure; prompt 2: 2 failures; prompt 1 unseen
    s, f = update_counts(s, f, torch.tensor([0, 0, 2, 0, 0, 2]), torch.tensor([1, 1, 0, 1, 0, 0]).bool())
    assert s.tolist() == [3.0, 0.0, 0.0] and f.tolist() == [1.0, 0.0, 2.0]
    # Beta(1 + 3, 1 + 1) → 4/6; Beta(1, 1) → 1/2; Beta(1, 3) → 1/4
    assert torch.allclose(posterior_mean(s, f), torch.tensor([4 / 6, 1 / 2, 1 / 4], dtype=torch.float64))
    # another prior: Beta(2 + 3, 1 + 1) → 5/7
    assert math.isclose(posterior_mean(s, f, 2.0, 1.0)[0].item(), 5 / 7)
    # decay 0.5 on prompts seen in the batch only: prompt 0 → (1.5 + 1, 0.5 + 0), prompt 2 untouched
    s2, f2 = update_counts(s, f, torch.tensor([0]), torch.tensor([True]), decay=0.5)
    assert s2.tolist() == [2.5, 0.0, 0.0] and f2.tolist() == [0.5, 0.0, 2.0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay must be in"):
        update_counts(torch.zeros(2), torch.zeros(2), torch.tensor([0]), torch.tensor([True]), decay=0.0)
    with pytest.raises(ValueError, match="positive parameters"):
        posterior_mean(torch.zeros(2), torch.zeros(2), 0.0, 1.0)
    with pytest.raises(ValueError, match="tau must be positive"):
        sampling_weights(torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="floor must be in"):
        sampling_weights(torch.zeros(2), 1.0, 1.5)
    with pytest.raises(ValueError, match="groups needs"):
        draw_groups(torch.zeros(2), torch.zeros(2), 3, np.random.default_rng(0), tau=1.0)


def test_sigma_and_sampling_weights_by_hand():
    p = torch.tensor([0.5, 0.1, 0.9, 0.0], dtype=torch.float64)
    sigma = sigma_proxy(p)
    assert torch.allclose(sigma, torch.tensor([0.5, 0.3, 0.3, 0.0], dtype=torch.float64))
    # τ = 0.5: exp(1), exp(0.6), exp(0.6), exp(0) over their sum 2.71828 + 2·1.82212 + 1 = 7.36252
    rho = sampling_weights(sigma, 0.5)
    assert torch.allclose(
        rho, torch.tensor([0.369205, 0.247486, 0.247486, 0.135823], dtype=torch.float64), atol=1e-6
    )
    # floor 0.2 mixes in 0.2/4 = 0.05 each
    assert torch.allclose(sampling_weights(sigma, 0.5, 0.2), 0.8 * rho + 0.05)
    # the ratio between a p̂ = ½ prompt and a σ = 0 one is exp(1 / (2τ)), as the docstring says
    assert math.isclose((rho[0] / rho[3]).item(), math.exp(1.0), rel_tol=1e-9)


def test_sampling_weights_limits():
    sigma = torch.tensor([0.1, 0.5, 0.2, 0.5, 0.0], dtype=torch.float64)
    uniform = torch.full((5,), 0.2, dtype=torch.float64)
    assert torch.allclose(sampling_weights(sigma, math.inf), uniform)
    assert torch.allclose(sampling_weights(sigma, 1e6), uniform, atol=1e-6)  # τ → ∞: uniform
    cold = sampling_weights(sigma, 1e-4)  # τ → 0: the max-variance prompts share all the mass
    assert torch.allclose(cold, torch.tensor([0, 0.5, 0, 0.5, 0], dtype=torch.float64))
    floored = sampling_weights(sigma, 1e-4, floor=0.1)  # ... and keep floor / N with a floor
    assert torch.allclose(floored, torch.tensor([0.02, 0.47, 0.02, 0.47, 0.02], dtype=torch.float64))
    assert math.isclose(normalised_entropy(uniform), 1.0) and normalised_entropy(cold) == pytest.approx(
        math.log(2) / math.log(5)
    )
    # the official sampler's temperature t = (α + 1) / 0.01 ≥ 100 is nearly uniform (ALGORITHMS.md §4)
    assert normalised_entropy(sampling_weights(sigma, 100.0)) > 0.99999


def test_allocation_shares_and_floor():
    sigma = torch.tensor([0.5, 0.3, 0.0, 0.2], dtype=torch.float64)
    assert torch.allclose(allocation_shares(sigma), torch.tensor([0.5, 0.3, 0.0, 0.2], dtype=torch.float64))
    assert torch.allclose(
        allocation_shares(sigma, 0.2), torch.tensor([0.45, 0.29, 0.05, 0.21], dtype=torch.float64)
    )
    assert torch.allclose(
        allocation_shares(torch.zeros(4, dtype=torch.float64)), torch.full((4,), 0.25).double()
    )


@pytest.mark.parametrize("shares", [[0.5, 0.3, 0.0, 0.2], [0.07, 0.41, 0.13, 0.39], [1 / 3, 1 / 3, 1 / 3]])
def test_systematic_round_is_exact_in_expectation(shares):
    shares = torch.tensor(shares, dtype=torch.float64)
    total = 7
    x = shares * total
    grid = 20_000  # exact expectation over u ~ U[0, 1) up to the grid: the counts are step functions of u
    counts = torch.stack([systematic_round(shares, total, (k + 0.5) / grid) for k in range(0, grid, 7)])
    assert (counts.sum(1) == total).all()
    assert ((counts >= torch.floor(x).long()) & (counts <= torch.ceil(x).long())).all()
    assert torch.allclose(counts.double().mean(0), x, atol=2e-3)


def test_draw_groups_cold_start_then_weights():
    sigma = torch.tensor([0.0, 0.5, 0.5, 0.1, 0.0, 0.0], dtype=torch.float64)
    rollouts = torch.tensor([8, 8, 8, 8, 0, 0])
    rng = np.random.default_rng(0)
    # cold start: the 2 unseen prompts first, then 2 by ρ at τ → 0 (the two max-variance prompts)
    groups = draw_groups(sigma, rollouts, 4, rng, tau=1e-4, allocation=False, cold_start=4)
    assert sorted(groups.tolist()) == [1, 2, 4, 5]
    # no cold start, τ → 0: the 4 slots go to prompts 1, 2, 3 and one σ = 0 prompt, then allocation shares them
    # ∝ σ = (0.5, 0.5, 0.1, 0) → 4 · (0.4545, 0.4545, 0.0909, 0) = (1.82, 1.82, 0.36, 0) groups
    groups = draw_groups(sigma, rollouts, 4, rng, tau=1e-4, allocation=True).tolist()
    assert len(groups) == 4 and groups.count(1) in (1, 2) and groups.count(2) in (1, 2)
    assert groups.count(3) <= 1 and not {0, 4, 5} & set(groups)
    # without allocation the 4 distinct best prompts (ties at σ = 0 broken at random)
    groups = draw_groups(sigma, rollouts, 4, rng, tau=1e-4, allocation=False)
    assert len(set(groups.tolist())) == 4 and {1, 2, 3} <= set(groups.tolist())


def test_draw_groups_frequencies_follow_rho_and_floor_keeps_everyone():
    sigma = torch.tensor([0.5, 0.3, 0.0, 0.0], dtype=torch.float64)
    rho = sampling_weights(sigma, 0.2, 0.2)
    rng = np.random.default_rng(1)
    hits = np.zeros(4)
    trials = 4000
    for _ in range(trials):
        hits[draw_groups(sigma, torch.zeros(4), 1, rng, tau=0.2, floor=0.2, allocation=False)] += 1
    # one draw: the probability of each prompt is exactly ρ (binomial standard error < 0.008)
    assert np.allclose(hits / trials, rho.numpy(), atol=0.03)
    assert hits[2] > 0 and hits[3] > 0  # solved/hopeless prompts are still drawn
    # allocation with the floor: σ = 0 prompts still get rollouts, in expectation floor · slots / N groups (the
    # allocation ∝ σ gives them none); the σ > 0 prompts share the rest, the larger σ more
    total = np.zeros(4)
    for _ in range(2000):
        total += np.bincount(draw_groups(sigma, torch.zeros(4), 4, rng, tau=math.inf, floor=0.2), minlength=4)
    assert np.allclose(total[2:] / 2000, [0.2, 0.2], atol=0.03)
    assert total[0] > total[1] and total[:2].sum() / 2000 == pytest.approx(3.6, abs=0.06)


@pytest.mark.parametrize("allocation", [True, False])
def test_floor_means_the_same_end_to_end_with_or_without_allocation(allocation):
    """A solved prompt among high-variance ones gets floor · slots / N groups per batch in expectation (the
    floor applied once, not to the sampling weights and again to the allocation: that gave about floor² / N)."""
    sigma = torch.tensor([0.0] + [0.5] * 9, dtype=torch.float64)
    rng = np.random.default_rng(2)
    trials, slots, floor = 4000, 5, 0.2
    solved = sum(
        (
            draw_groups(sigma, torch.zeros(10), slots, rng, tau=0.1, floor=floor, allocation=allocation) == 0
        ).sum()
        for _ in range(trials)
    )
    # floor · 5 / 10 = 0.1 from the floor, plus the curriculum's exp(0)/(exp(0) + 9 exp(5)) ≈ 0.0007 per slot
    assert solved / trials == pytest.approx(floor * slots / 10, abs=0.015)


def test_draw_groups_is_deterministic_given_the_generator():
    sigma = sigma_proxy(torch.linspace(0.0, 1.0, 20, dtype=torch.float64))
    a = draw_groups(sigma, torch.zeros(20), 8, np.random.default_rng([3, 5]), tau=0.1, floor=0.05)
    b = draw_groups(sigma, torch.zeros(20), 8, np.random.default_rng([3, 5]), tau=0.1, floor=0.05)
    assert a.tolist() == b.tolist() and len(a) == 8
