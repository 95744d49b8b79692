"""SPO's math (arXiv 2503.05453, ALGORITHMS.md §2) against closed forms and exact enumeration: the soft value
estimate, the terminal Q-value, the loss and its gradient, and the property that defines SPO — regressing Q_T onto
r on *offline* sequences (drawn uniformly, neither from π_ref nor from π_θ) recovers π* ∝ π_ref·exp(r/β) on a
tabular problem, and a wrong V̂₀ moves the fixed point away from π*, which the calibration gap reveals."""

import itertools
import math

import pytest
import torch

from trl_ext.objectives import spo_loss, spo_soft_value, spo_terminal_q

# ------------------------------------------------------------------------------------------ spo_soft_value


def test_soft_value_closed_forms():
    beta = 0.5
    got = spo_soft_value(torch.tensor([[0.0, 1.0], [0.3, 0.3], [1.0, 1.0]]), beta)
    expected = [beta * math.log((1 + math.exp(1 / beta)) / 2), 0.3, 1.0]
    assert torch.allclose(got, torch.tensor(expected), atol=1e-6)
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.5]], dtype=torch.float64)
    assert spo_soft_value(rewards, 1e4).item() == pytest.approx(
        rewards.mean().item(), abs=1e-4
    )  # β → ∞: mean
    assert spo_soft_value(rewards, 1e-3).item() == pytest.approx(
        1.0 - 1e-3 * math.log(4), abs=1e-9
    )  # β → 0: max


def test_soft_value_is_stable_where_the_naive_formula_overflows():
    rewards = torch.tensor([[1000.0, 999.0]])
    naive = 1e-2 * torch.log(torch.exp(rewards / 1e-2).mean(dim=1))
    assert torch.isinf(naive).all()
    got = spo_soft_value(rewards, 1e-2)
    assert torch.isfinite(got).all() and got.item() == pytest.approx(1000 + 1e-2 * math.log(0.5), abs=1e-3)


def test_soft_value_is_biased_low_for_finite_k():
    """E over every K-tuple of reference samples of the estimate, by exact enumeration: below V* (Jensen),
    increasing in K, equal to E[r] for K = 1."""
    beta, probs, values = 0.25, [0.7, 0.2, 0.1], [0.0, 1.0, 0.5]
    v_star = beta * math.log(sum(p * math.exp(r / beta) for p, r in zip(probs, values)))
    expectations = []
    for k in (1, 2, 3, 4):
        tuples = list(itertools.product(range(3), repeat=k))
        weights = torch.tensor([math.prod(probs[i] for i in t) for t in tuples], dtype=torch.float64)
        estimates = spo_soft_value(
            torch.tensor([[values[i] for i in t] for t in tuples], dtype=torch.float64), beta
        )
        expectations.append((weights * estimates).sum().item())
    assert expectations[0] == pytest.approx(sum(p * r for p, r in zip(probs, values)))
    assert all(a < b for a, b in zip(expectations, expectations[1:])) and expectations[-1] < v_star


def test_soft_value_errors():
    with pytest.raises(ValueError, match="beta must be positive"):
        spo_soft_value(torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="must be \\(prompts, K\\)"):
        spo_soft_value(torch.zeros(3), 1.0)


# ----------------------------------------------------------------------------------- spo_terminal_q, loss


def test_terminal_q_closed_form_and_mask():
    policy = torch.tensor([[-1.0, -2.0, -9.0], [-0.5, -7.0, -7.0]])
    ref = torch.tensor([[-1.5, -1.0, 3.0], [-1.0, 5.0, 5.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    q = spo_terminal_q(policy, ref, mask, torch.tensor([0.2, -0.1]), beta=0.5)
    assert torch.allclose(q, torch.tensor([0.2 + 0.5 * (0.5 - 1.0), -0.1 + 0.5 * 0.5]))


def test_terminal_q_sums_low_precision_in_float32():
    torch.manual_seed(0)
    policy = -torch.rand(2, 4096)
    ref = -torch.rand(2, 4096)
    exact = spo_terminal_q(policy.double(), ref.double(), torch.ones(2, 4096), torch.zeros(2), 0.1)
    assert exact.dtype == torch.float64
    q = spo_terminal_q(policy.bfloat16(), ref.bfloat16(), torch.ones(2, 4096), torch.zeros(2), 0.1)
    assert q.dtype == torch.float32
    # Only the inputs' rounding remains (bf16 keeps 8 bits); a bf16 running sum would be off by whole units.
    assert torch.allclose(q.double(), exact, atol=0.05)


def test_terminal_q_errors():
    with pytest.raises(ValueError, match="must all be \\(B, T\\)"):
        spo_terminal_q(torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3), torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match="v0 must be \\(B,\\)"):
        spo_terminal_q(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(3), 1.0)


def test_loss_value_and_gradient():
    """½·mean (Q_T − r)², whose gradient in each token log-prob of sequence i is β·(Q_T,i − r_i)/B on its tokens."""
    beta = 0.3
    policy = torch.tensor([[-1.0, -2.0], [-0.5, -0.25]], requires_grad=True)
    ref = torch.tensor([[-1.2, -1.0], [-0.5, -1.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    v0, rewards = torch.tensor([0.1, 0.4]), torch.tensor([1.0, 0.0])
    q = spo_terminal_q(policy, ref, mask, v0, beta)
    loss = spo_loss(q, rewards)
    gap = (q - rewards).detach()
    assert loss.item() == pytest.approx(0.5 * gap.pow(2).mean().item())
    loss.backward()
    assert torch.allclose(policy.grad, beta * gap.unsqueeze(1) * mask / 2)
    with pytest.raises(ValueError, match="kind must be one of"):
        spo_loss(q, rewards, kind="ce")
    with pytest.raises(ValueError, match="must both be \\(B,\\)"):
        spo_loss(q, rewards[:1])


# ---------------------------------------------------------------------------- the property on a tabular MDP

VOCAB, BETA = 3, 0.5
SEQUENCES = torch.tensor(list(itertools.product(range(VOCAB), repeat=2)))  # all 9 two-token completions


class TabularPolicy(torch.nn.Module):
    """An autoregressive policy over two tokens: logits for the first, and for the second given the first."""

    def __init__(self, first=None, second=None):
        super().__init__()
        self.first = torch.nn.Parameter(torch.zeros(VOCAB) if first is None else first)
        self.second = torch.nn.Parameter(torch.zeros(VOCAB, VOCAB) if second is None else second)

    def token_logps(self, seqs: torch.Tensor) -> torch.Tensor:
        """(N, 3) per-token log-probs; the third column is padding (garbage, masked out)."""
        first = torch.log_softmax(self.first, 0)[seqs[:, 0]]
        second = torch.log_softmax(self.second, 1)[seqs[:, 0], seqs[:, 1]]
        return torch.stack([first, second, torch.full_like(first, 123.0)], dim=1)

    def probs(self) -> torch.Tensor:
        return self.token_logps(SEQUENCES)[:, :2].sum(1).exp()


def problem():
    gen = torch.Generator().manual_seed(0)
    ref = TabularPolicy(torch.randn(VOCAB, generator=gen), torch.randn(VOCAB, VOCAB, generator=gen))
    ref.requires_grad_(False)
    rewards = torch.rand(len(SEQUENCES), generator=gen)
    ref_probs = ref.probs()
    target = ref_probs * torch.exp(rewards / BETA)
    v_star = BETA * torch.log(target.sum())  # exact: β·log E_{π_ref}[exp(r/β)]
    return ref, rewards, v_star, target / target.sum()


def train_offline(ref, rewards, v0, steps=800, seed=1):
    """Minimise spo_loss on sequences drawn uniformly at random (an offline data set: not π_ref, not π_θ)."""
    policy = TabularPolicy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[1, 1, 0]]).expand(64, 3)
    for _ in range(steps):
        idx = torch.randint(len(SEQUENCES), (64,), generator=gen)
        seqs = SEQUENCES[idx]
        q = spo_terminal_q(policy.token_logps(seqs), ref.token_logps(seqs), mask, v0.expand(64), BETA)
        loss = spo_loss(q, rewards[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return policy


def on_policy_gap(policy, ref, rewards, v0):
    """E_{y~π_θ}[Q_T − r], by enumeration: what a trainer's calibration gap estimates from fresh samples."""
    mask = torch.tensor([[1, 1, 0]]).expand(len(SEQUENCES), 3)
    with torch.no_grad():
        q = spo_terminal_q(
            policy.token_logps(SEQUENCES), ref.token_logps(SEQUENCES), mask, v0.expand(len(SEQUENCES)), BETA
        )
        return (policy.probs() * (q - rewards)).sum().item()


def kl(p, q):
    return (p * (p / q).log()).sum().item()


def test_offline_minimiser_is_the_kl_regularised_optimum():
    ref, rewards, v_star, optimum = problem()
    assert (optimum - ref.probs()).abs().sum() / 2 > 0.1  # π* is far from π_ref: the test can fail
    policy = train_offline(ref, rewards, v_star)
    with torch.no_grad():
        tv = (policy.probs() - optimum).abs().sum().item() / 2
    assert tv < 0.05, tv
    assert abs(on_policy_gap(policy, ref, rewards, v_star)) < 0.01


def test_sampled_soft_value_converges_to_v_star():
    ref, rewards, v_star, _ = problem()
    gen = torch.Generator().manual_seed(2)
    samples = torch.multinomial(ref.probs(), 20000, replacement=True, generator=gen)
    assert spo_soft_value(rewards[samples].unsqueeze(0), BETA).item() == pytest.approx(
        v_star.item(), abs=0.01
    )


@pytest.mark.parametrize("error", [0.2, -0.2])
def test_wrong_v0_moves_the_fixed_point_and_the_calibration_gap_shows_it(error):
    """With V̂₀ = V* + δ no normalised policy has Q_T = r on every sequence (π would need total mass
    exp(−δ/β)): the loss settles elsewhere than π*, at a point that depends on which sequences it is fitted on.
    The signal is the on-policy calibration gap E_π[Q_T − r] = δ + β·KL(π‖π*) (an identity for every π):
    ≈ 0 with the exact V*, ≈ δ here, while the training loss alone cannot tell (both end small)."""
    ref, rewards, v_star, optimum = problem()
    policy = train_offline(ref, rewards, v_star + error)
    with torch.no_grad():
        probs = policy.probs()
        tv = (probs - optimum).abs().sum().item() / 2
    assert tv > 0.05, tv
    gap = on_policy_gap(policy, ref, rewards, v_star + error)
    assert gap == pytest.approx(error + BETA * kl(probs, optimum), abs=1e-5)
    assert abs(gap) > 0.15
