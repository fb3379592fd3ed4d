"""The loss terms against their definitions (docs/ARCHITECTURE.md, *The loss*)."""
import math

import pytest
import torch
from cdgmvae.engine.model import CDGMVAE, GaussianMixturePrior, grad_reverse
from cdgmvae.training.losses import (
    LossSettings,
    beta_at,
    classification_loss,
    gaussian_kl,
    kl_y,
    kl_z_labelled,
    kl_z_mixture,
    kl_z_unlabelled,
)
from cdgmvae.training.schedule import lr_at
from helpers_model import TINY


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _prior(log_vars=None, seed=0):
    torch.manual_seed(seed)
    prior = GaussianMixturePrior(2, 5, -2.0)
    with torch.no_grad():
        prior.means.copy_(torch.randn(2, 5))
        prior.log_vars.copy_(torch.randn(2, 5) * 0.5 if log_vars is None else log_vars)
    return prior


def test_gaussian_kl_matches_monte_carlo():
    torch.manual_seed(1)
    mu_q, var_q = torch.randn(4), torch.rand(4) + 0.3
    mu_p, log_var_p = torch.randn(4), torch.randn(4) * 0.5
    closed = gaussian_kl(mu_q, var_q, mu_p, log_var_p)
    z = mu_q + var_q.sqrt() * torch.randn(400_000, 4)
    q = torch.distributions.Normal(mu_q, var_q.sqrt())
    p = torch.distributions.Normal(mu_p, (0.5 * log_var_p).exp())
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean()
    assert closed.item() == pytest.approx(mc.item(), abs=0.02)
    assert closed.item() > 0.1


def test_labelled_kl_sums_real_bars_against_the_true_component():
    prior = _prior()
    mu, sigma = torch.randn(2, 3, 5), torch.rand(2, 3, 5) + 0.2
    bar_mask = torch.tensor([[True, True, False], [True, True, True]])
    labels = torch.tensor([1, 0])
    got = kl_z_labelled(mu, sigma, prior, labels, bar_mask)
    want0 = sum(gaussian_kl(mu[0, t], sigma[0, t] ** 2, prior.means[1], prior.log_vars[1]) for t in range(2))
    assert got[0].item() == pytest.approx(want0.item(), rel=1e-12)


@pytest.mark.parametrize("shared", [False, True])
def test_split_mixture_kl_with_alpha_one_equals_plain_mixture_kl(shared):
    prior = _prior(torch.full((2, 5), -0.7) if shared else None)
    torch.manual_seed(3)
    mu, sigma = torch.randn(3, 4, 5), torch.rand(3, 4, 5) + 0.2
    bar_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    q_y = torch.softmax(torch.randn(3, 2), -1)
    attraction, spread = kl_z_unlabelled(mu, sigma, prior, q_y, bar_mask, alpha=1.0)
    torch.testing.assert_close(attraction + spread, kl_z_mixture(mu, sigma, prior, q_y, bar_mask),
                               rtol=1e-12, atol=1e-12)
    assert (spread > 0).all()
    # alpha scales only the spread of the component means
    attraction_02, spread_02 = kl_z_unlabelled(mu, sigma, prior, q_y, bar_mask, alpha=0.2)
    torch.testing.assert_close(attraction_02, attraction)
    torch.testing.assert_close(spread_02, 0.2 * spread)
    if shared:  # the paper's form (Eq 11-12): KL(q || N(mu_bar, s2)) + (1 / 2 s2) sum_c q_c ||mu_c - mu_bar||^2 per bar
        log_s2 = prior.log_vars[0]
        mu_bar = q_y @ prior.means
        kl_centre = gaussian_kl(mu, sigma ** 2, mu_bar[:, None], log_s2)
        per_bar_spread = (q_y[:, :, None] * (prior.means - mu_bar[:, None]) ** 2 / (2 * log_s2.exp())).sum((1, 2))
        n_bars = bar_mask.sum(1)
        torch.testing.assert_close(attraction, (kl_centre * bar_mask).sum(1))
        torch.testing.assert_close(spread, per_bar_spread * n_bars)


def test_kl_y_with_mi_is_kl_of_the_batch_mean_to_uniform():
    torch.manual_seed(4)
    log_q = torch.log_softmax(torch.randn(6, 2) * 2, -1)
    q_bar = log_q.exp().mean(0)
    expected = 6 * (q_bar * (q_bar / 0.5).log()).sum()
    assert kl_y(log_q, mi=True).item() == pytest.approx(expected.item(), rel=1e-12)
    plain = (log_q.exp() * (log_q - math.log(0.5))).sum()
    assert kl_y(log_q, mi=False).item() == pytest.approx(plain.item(), rel=1e-12)
    # the plain term = the MI-enhanced one + B * MI(x; y) >= it
    assert kl_y(log_q, mi=False).item() > kl_y(log_q, mi=True).item()
    # confident but balanced predictions: no categorical penalty with MI enhancement
    balanced = torch.log(torch.tensor([[0.999, 0.001], [0.001, 0.999]]))
    assert kl_y(balanced, mi=True).item() == pytest.approx(0.0, abs=1e-12)
    assert kl_y(log_q[:0], mi=True).item() == 0.0


def test_gradient_reversal_flips_the_sign():
    x = torch.randn(5, requires_grad=True)
    w = torch.randn(5)
    (grad_reverse(x) * w).sum().backward()
    torch.testing.assert_close(x.grad, -w)
    assert torch.equal(grad_reverse(x.detach()), x.detach())


def test_posterior_sums_to_one_and_favours_the_component_z_sits_on():
    torch.manual_seed(5)
    model = CDGMVAE(TINY).double()
    bar_mask = torch.tensor([[True, True, False]] * 2)
    z_r = model.prior_r.means.detach()[[1, 0]][:, None].expand(2, 3, -1).clone()  # segment 0 on high, 1 on low
    z_k = model.prior_k.means.detach()[[0, 1]][:, None].expand(2, 3, -1).clone()
    z_r = z_r + 0.01 * torch.randn_like(z_r)
    z_r[:, 2] = 1e3  # a filler bar (bar_mask False) must not count
    log_q_a, log_q_v = model.posterior(z_r, z_k, bar_mask)
    for log_q in (log_q_a, log_q_v):
        torch.testing.assert_close(log_q.exp().sum(-1), torch.ones(2))
    assert log_q_a.argmax(-1).tolist() == [1, 0]
    assert log_q_v.argmax(-1).tolist() == [0, 1]
    assert log_q_a.exp()[0, 1].item() > 0.99


def test_classification_loss_uses_labelled_segments_only():
    log_q = torch.log(torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]]))
    labels = torch.tensor([0, 0, -1])
    assert classification_loss(log_q, labels).item() == pytest.approx(-(math.log(0.8) + math.log(0.3)) / 2)
    assert classification_loss(log_q, torch.tensor([-1, -1, -1])).item() == 0.0


def test_beta_and_learning_rate_schedules():
    settings = LossSettings(beta_max=0.5, beta_warmup=10)
    assert [beta_at(s, settings) for s in (0, 5, 10, 50)] == [0.0, 0.25, 0.5, 0.5]
    assert lr_at(0, 100, 10, 1e-3) == pytest.approx(1e-4)
    assert lr_at(9, 100, 10, 1e-3) == pytest.approx(1e-3)
    assert lr_at(99, 100, 10, 1e-3) == pytest.approx(5e-6, rel=0.01)
    lrs = [lr_at(s, 100, 10, 1e-3) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
