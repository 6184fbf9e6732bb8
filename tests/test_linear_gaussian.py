"""LinearGaussian (probabilistic PCA): exact quantities against torch.distributions and identities."""

from __future__ import annotations

import math

import pytest
import torch

from genlib.losses import iwae_bound
from genlib.models.linear_gaussian import LinearGaussian

F64 = torch.float64


@pytest.fixture
def setup():
    g = torch.Generator().manual_seed(0)
    model = LinearGaussian.random(3, 7, sigma=0.6, generator=g)
    x = model.sample(64, generator=g)
    return model, x, g


def test_log_prob_matches_multivariate_normal(setup):
    model, x, _ = setup
    ref = torch.distributions.MultivariateNormal(model.b, model.marginal_cov()).log_prob(x)
    torch.testing.assert_close(model.log_prob(x), ref, rtol=0, atol=1e-10)


def test_posterior_satisfies_bayes_rule_for_any_z(setup):
    model, x, g = setup
    mean, cov = model.posterior(x)
    z = 2 * torch.randn(64, 3, generator=g, dtype=F64)
    log_post = torch.distributions.MultivariateNormal(mean, cov).log_prob(z)
    torch.testing.assert_close(model.log_joint(x, z) - log_post, model.log_prob(x), rtol=0, atol=1e-9)


def test_elbo_gap_is_kl_to_posterior(setup):
    model, x, g = setup
    mu = model.posterior(x)[0] + 0.3 * torch.randn(64, 3, generator=g, dtype=F64)
    logvar = torch.randn(64, 3, generator=g, dtype=F64) - 1
    gap = model.log_prob(x) - model.elbo(x, mu, logvar)
    kl = model.kl_to_posterior(x, mu, logvar)
    assert (gap > 0).all()
    torch.testing.assert_close(gap, kl, rtol=1e-9, atol=1e-10)
    ref = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(mu, torch.diag_embed(logvar.exp())),
        torch.distributions.MultivariateNormal(*model.posterior(x)))
    torch.testing.assert_close(kl, ref, rtol=1e-9, atol=1e-10)


def test_true_posterior_closes_the_gap_and_weights_are_constant(setup):
    model, x, g = setup
    mean, cov = model.posterior(x)
    assert (model.log_prob(x) - model.elbo(x, mean, q_cov=cov)).abs().max() < 1e-9
    log_w = model.log_weights(x, mean, q_cov=cov, k=5, generator=g)
    torch.testing.assert_close(log_w, model.log_prob(x).expand(5, -1), rtol=0, atol=1e-9)


def test_mean_field_gap_formula_and_monte_carlo_elbo(setup):
    model, x, g = setup
    m, lv = model.mean_field_posterior(x)
    prec = model.posterior_precision()
    formula = 0.5 * (torch.diagonal(prec).log().sum() - torch.logdet(prec))
    torch.testing.assert_close(model.kl_to_posterior(x, m, lv), formula.expand(64), rtol=1e-9, atol=1e-12)
    log_w = model.log_weights(x, m, lv, k=4000, generator=g)
    se = log_w.var(0).sum().sqrt() / (math.sqrt(4000) * 64)
    assert abs(log_w.mean() - model.elbo(x, m, lv).mean()) < 4 * se


def test_iwae_bound_approaches_log_p(setup):
    model, x, g = setup
    mu, _ = model.posterior(x)
    zeros = torch.zeros_like(mu)  # a too-wide proposal: bounded weights
    gaps = [(model.log_prob(x) - iwae_bound(model.log_weights(x, mu, zeros, k=k, generator=g),
                                             reduction="none")).mean().item() for k in (1, 100, 2000)]
    assert gaps[0] > gaps[1] > gaps[2] > -0.05


def test_rotation_invariance_of_log_prob(setup):
    model, x, g = setup
    R, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=F64))
    rotated = LinearGaussian(model.W @ R, model.b, model.sigma)
    torch.testing.assert_close(rotated.log_prob(x), model.log_prob(x), rtol=0, atol=1e-10)


W = torch.zeros(5, 2, dtype=F64)
B = torch.zeros(5, dtype=F64)


@pytest.mark.parametrize("call, error, match", [
    (lambda: LinearGaussian(W.float(), B, 0.5), TypeError, "float64"),
    (lambda: LinearGaussian(W, B[:3], 0.5), ValueError, "shape"),
    (lambda: LinearGaussian(W, B, 0.0), ValueError, "sigma > 0"),
    (lambda: LinearGaussian(W, B, 0.5).log_prob(torch.zeros(2, 5)), TypeError, "float64"),
    (lambda: LinearGaussian(W, B, 0.5).log_prob(torch.zeros(2, 4, dtype=F64)), ValueError, r"\(n, 5\)"),
    (lambda: LinearGaussian(W, B, 0.5).elbo(torch.zeros(2, 5, dtype=F64), torch.zeros(2, 2, dtype=F64)),
     ValueError, "exactly one"),
    (lambda: LinearGaussian(W, B, 0.5).elbo(torch.zeros(2, 5, dtype=F64), torch.zeros(2, 2, dtype=F64),
                                            q_cov=torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64)),
     ValueError, "positive definite"),
    (lambda: LinearGaussian(W, B, 0.5).sample(0), ValueError, "n > 0"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
