"""genlib.losses against torch.distributions / torch.nn.functional, and their properties."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D

from genlib import losses

torch.set_default_dtype(torch.float32)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = torch.randn(16, 5, generator=_g(), dtype=torch.float64), torch.randn(16, 5, generator=_g(1), dtype=torch.float64)
    q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
    p = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    ref = D.kl_divergence(q, p)
    assert torch.allclose(losses.gaussian_kl(mu, logvar, reduction="none"), ref, rtol=1e-12)
    assert torch.allclose(losses.gaussian_kl(mu, logvar), ref.mean())
    assert torch.allclose(losses.gaussian_kl(mu, logvar, reduction="sum"), ref.sum())


def test_gaussian_kl_nonnegative_and_zero_at_prior():
    mu, logvar = torch.randn(100, 4, generator=_g()) * 3, torch.randn(100, 4, generator=_g(1)) * 3
    assert (losses.gaussian_kl(mu, logvar, reduction="none") >= 0).all()
    assert losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0


def test_bernoulli_nll_matches_references():
    logits = torch.randn(8, 1, 4, 4, generator=_g(), dtype=torch.float64) * 4
    x = torch.rand(8, 1, 4, 4, generator=_g(1), dtype=torch.float64).round()
    ref = -D.Independent(D.Bernoulli(logits=logits), 3).log_prob(x)
    assert torch.allclose(losses.bernoulli_nll(logits, x, reduction="none"), ref, rtol=1e-10)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 8
    assert torch.allclose(losses.bernoulli_nll(logits, x), bce)


def test_bernoulli_nll_stable_at_extreme_logits():
    logits = torch.tensor([[1e4, -1e4, 80.0, -80.0]])
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    out = losses.bernoulli_nll(logits, x)
    assert torch.isfinite(out) and out.item() < 1e-30 + 1e-6
    assert torch.isfinite(losses.bernoulli_nll(logits, 1 - x))


def test_gaussian_nll_matches_normal_log_prob():
    mean, x = torch.randn(6, 10, generator=_g(), dtype=torch.float64), torch.randn(6, 10, generator=_g(1), dtype=torch.float64)
    for logvar in (0.0, -2.3, 1.7):
        ref = -D.Independent(D.Normal(mean, math.exp(0.5 * logvar)), 1).log_prob(x)
        assert torch.allclose(losses.gaussian_nll(mean, x, logvar=logvar, reduction="none"), ref, rtol=1e-10)
    lv = torch.randn(6, 10, generator=_g(2), dtype=torch.float64)
    ref = -D.Independent(D.Normal(mean, (0.5 * lv).exp()), 1).log_prob(x)
    assert torch.allclose(losses.gaussian_nll(mean, x, logvar=lv, reduction="none"), ref, rtol=1e-10)


def test_gaussian_kl_per_dim_matches_torch_distributions_and_sums_to_gaussian_kl():
    mu = torch.randn(6, 4, generator=_g(), dtype=torch.float64)
    logvar = torch.randn(6, 4, generator=_g(1), dtype=torch.float64)
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0))  # (6, 4), per dim
    per_dim = losses.gaussian_kl_per_dim(mu, logvar)
    assert per_dim.shape == (6, 4) and torch.allclose(per_dim, ref, rtol=1e-12)
    assert torch.allclose(losses.gaussian_kl(mu, logvar, reduction="none"), per_dim.sum(1), rtol=1e-12)


def test_diag_gaussian_log_prob_matches_normal():
    x = torch.randn(3, 5, 4, generator=_g(), dtype=torch.float64)
    mean = torch.randn(5, 4, generator=_g(1), dtype=torch.float64)
    logvar = torch.randn(5, 4, generator=_g(2), dtype=torch.float64)
    normal = D.Normal(mean, (0.5 * logvar).exp())
    assert torch.allclose(losses.gaussian_log_prob_per_dim(x, mean, logvar), normal.log_prob(x), rtol=1e-12)
    out = losses.diag_gaussian_log_prob(x, mean, logvar)  # summed over the last dim, broadcast
    assert out.shape == (3, 5) and torch.allclose(out, normal.log_prob(x).sum(-1), rtol=1e-12)
    std = D.Normal(0.0, 1.0).log_prob(x).sum(-1)  # the defaults are the standard normal
    assert torch.allclose(losses.diag_gaussian_log_prob(x), std, rtol=1e-12)
    # a scalar log-variance, as an isotropic decoder has
    iso = D.Normal(mean, math.exp(0.25)).log_prob(x).sum(-1)
    assert torch.allclose(losses.diag_gaussian_log_prob(x, mean, 0.5), iso, rtol=1e-12)


def test_gaussian_nll_is_minus_the_shared_log_density():
    mean, x = torch.randn(4, 6, generator=_g()), torch.randn(4, 6, generator=_g(1))
    ref = -losses.diag_gaussian_log_prob(x, mean, -1.0)
    assert torch.equal(losses.gaussian_nll(mean, x, logvar=-1.0, reduction="none"), ref)


def test_gaussian_kl_overflows_only_beyond_float32_range():
    assert torch.isinf(losses.gaussian_kl(torch.zeros(1, 1), torch.tensor([[89.0]])))  # documented
    big = losses.gaussian_kl(torch.zeros(1, 1, dtype=torch.float64), torch.tensor([[89.0]], dtype=torch.float64))
    assert torch.isfinite(big)


def test_gaussian_kl_stable_at_extreme_logvar():
    out = losses.gaussian_kl(torch.zeros(1, 2), torch.tensor([[-60.0, 60.0]]))
    assert torch.isfinite(out)


# -- GAN losses ------------------------------------------------------------------------------

R = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
FK = torch.tensor([-2.0, 0.3, 1.0], dtype=torch.float64)


def test_bce_discriminator_loss_is_binary_cross_entropy():
    ref = F.binary_cross_entropy_with_logits(R, torch.ones_like(R)) + F.binary_cross_entropy_with_logits(FK, torch.zeros_like(FK))
    for kind in ("minimax", "nonsaturating"):
        assert torch.allclose(losses.discriminator_loss(R, FK, kind=kind), ref)


def test_gan_losses_match_their_formulas():
    s = torch.sigmoid
    assert torch.allclose(losses.generator_loss(FK, kind="minimax"), torch.log(1 - s(FK)).mean())
    assert torch.allclose(losses.generator_loss(FK, kind="nonsaturating"), -torch.log(s(FK)).mean())
    assert torch.allclose(losses.generator_loss(FK, kind="lsgan"), 0.5 * ((FK - 1) ** 2).mean())
    for kind in ("hinge", "wasserstein"):
        assert torch.allclose(losses.generator_loss(FK, kind=kind), -FK.mean())
    assert torch.allclose(losses.discriminator_loss(R, FK, kind="lsgan"), 0.5 * ((R - 1) ** 2).mean() + 0.5 * (FK ** 2).mean())
    assert torch.allclose(losses.discriminator_loss(R, FK, kind="hinge"),
                          torch.clamp(1 - R, min=0).mean() + torch.clamp(1 + FK, min=0).mean())
    assert torch.allclose(losses.discriminator_loss(R, FK, kind="wasserstein"), FK.mean() - R.mean())


def test_saturating_gradient_vanishes_when_d_rejects_fakes():
    logit = torch.tensor([-12.0], requires_grad=True)  # D(G(z)) ~ 6e-6
    (g_sat,) = torch.autograd.grad(losses.generator_loss(logit, kind="minimax"), logit)
    (g_ns,) = torch.autograd.grad(losses.generator_loss(logit, kind="nonsaturating"), logit)
    assert abs(g_sat.item()) < 1e-4 and abs(g_ns.item()) > 0.99


def test_losses_accept_column_logits():
    assert torch.allclose(losses.discriminator_loss(R[:, None], FK[:, None], kind="hinge"),
                          losses.discriminator_loss(R, FK, kind="hinge"))


def test_gradient_penalty_zero_for_unit_norm_linear_critic():
    w = torch.randn(5, generator=_g())
    w = w / w.norm()
    critic = lambda x: x @ w  # noqa: E731
    real, fake = torch.randn(64, 5, generator=_g(1)), torch.randn(64, 5, generator=_g(2))
    assert losses.gradient_penalty(critic, real, fake, generator=_g(3)).item() < 1e-10
    assert abs(losses.r1_penalty(critic, real).item() - 1.0) < 1e-5


def test_gradient_penalty_matches_direct_formula():
    critic = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(10, 3, generator=_g(1)), torch.randn(10, 3, generator=_g(2))
    gp = losses.gradient_penalty(critic, real, fake, generator=_g(3))
    eps = torch.rand(10, 1, generator=_g(3))
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    assert torch.allclose(gp, ((grad.norm(dim=1) - 1) ** 2).mean(), atol=1e-6)
    gp.backward()  # differentiable w.r.t. the critic's parameters
    assert critic[0].weight.grad is not None


def test_iwae_bound():
    lw = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    assert torch.allclose(losses.iwae_bound(lw, reduction="none"),
                          torch.log((lw.exp()).mean(0)))
    assert torch.allclose(losses.iwae_bound(lw[:1], reduction="none"), lw[0])  # K = 1: the ELBO
    # the sample dimension may be the last one; a 1-D input is one example (a scalar)
    assert torch.allclose(losses.iwae_bound(lw.T, dim=1, reduction="none"), losses.iwae_bound(lw, reduction="none"))
    assert torch.allclose(losses.iwae_bound(lw[:, 0]), torch.log(lw[:, 0].exp().mean()))
    assert losses.iwae_bound(lw, reduction="sum") == losses.iwae_bound(lw, reduction="none").sum()


@pytest.mark.parametrize("call, exc, match", [
    (lambda: losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "same shape"),
    (lambda: losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3), reduction="avg"), ValueError, "reduction"),
    (lambda: losses.gaussian_kl([0.0], torch.zeros(1)), TypeError, "torch.Tensor"),
    (lambda: losses.bernoulli_nll(torch.zeros(2, 3), torch.full((2, 3), 2.0)), ValueError, r"in \[0, 1\]"),
    (lambda: losses.bernoulli_nll(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)), TypeError, "floating"),
    (lambda: losses.gaussian_nll(torch.zeros(2, 3), torch.zeros(2, 3), logvar="1"), TypeError, "logvar"),
    (lambda: losses.discriminator_loss(R, FK, kind="relativistic"), ValueError, "kind"),
    (lambda: losses.generator_loss(FK, kind="wgan"), ValueError, "kind"),
    (lambda: losses.generator_loss(torch.zeros(0), kind="hinge"), ValueError, "non-empty"),
    (lambda: losses.gradient_penalty("critic", torch.zeros(2, 2), torch.zeros(2, 2)), TypeError, "callable"),
    (lambda: losses.gradient_penalty(lambda x: x.sum(1), torch.zeros(2, 2), torch.zeros(3, 2)), ValueError, "same shape"),
    (lambda: losses.iwae_bound(torch.zeros(4, 3), dim=2), ValueError, "dim"),
    (lambda: losses.iwae_bound(torch.zeros(4), reduction="avg"), ValueError, "reduction"),
    (lambda: losses.gaussian_kl_per_dim(torch.zeros(2, 3), torch.zeros(3)), ValueError, "same shape"),
    (lambda: losses.diag_gaussian_log_prob(torch.zeros(2, 3), "0"), TypeError, "mean"),
    (lambda: losses.diag_gaussian_log_prob(torch.zeros(2, 3), 0.0, None), TypeError, "logvar"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# -- members=True: one loss per member of a batched model ------------------------------------

RS = torch.randn(3, 8, 1, generator=_g(5), dtype=torch.float64)   # (S, B, 1) logits on real data
FS = torch.randn(3, 6, 1, generator=_g(6), dtype=torch.float64)   # (S, B', 1) on fakes


@pytest.mark.parametrize("kind", losses.GAN_LOSSES)
@pytest.mark.parametrize("layout", ["column", "flat"])
def test_member_losses_are_the_plain_loss_of_each_members_slice(kind, layout):
    r, f = (RS, FS) if layout == "column" else (RS[..., 0], FS[..., 0])
    d = losses.discriminator_loss(r, f, kind=kind, members=True)
    g = losses.generator_loss(f, kind=kind, members=True)
    assert d.shape == g.shape == (3,)
    for s in range(3):
        torch.testing.assert_close(d[s], losses.discriminator_loss(r[s], f[s], kind=kind), rtol=0, atol=1e-14)
        torch.testing.assert_close(g[s], losses.generator_loss(f[s], kind=kind), rtol=0, atol=1e-14)


def _batched_critic(seeds=(0, 1, 2)):
    from genlib.models import BatchedMLP
    return BatchedMLP(3, (8,), 1, seeds=list(seeds), activation="tanh").double()


def test_member_gradient_penalty_and_r1_equal_each_members_plain_penalty():
    critic = _batched_critic()
    real = torch.randn(3, 10, 3, generator=_g(1), dtype=torch.float64)
    fake = torch.randn(3, 10, 3, generator=_g(2), dtype=torch.float64)
    gp = losses.gradient_penalty(critic, real, fake, generator=_g(3), members=True)
    r1 = losses.r1_penalty(critic, real, members=True)
    gens = [_g(10 + s) for s in range(3)]  # one stream per member: the plain draw of each
    gp_streams = losses.gradient_penalty(critic, real, fake, generator=gens, members=True)
    eps = torch.rand(3, 10, 1, generator=_g(3), dtype=torch.float64)  # the one-generator draw
    assert gp.shape == r1.shape == gp_streams.shape == (3,)
    for s in range(3):
        alone = critic.member(s)
        g = _g(3)
        torch.rand(s * 10, generator=g, dtype=torch.float64)  # skip the earlier members' ε
        torch.testing.assert_close(gp[s], losses.gradient_penalty(alone, real[s], fake[s], generator=g),
                                   rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gp_streams[s], losses.gradient_penalty(alone, real[s], fake[s],
                                                                          generator=_g(10 + s)),
                                   rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(r1[s], losses.r1_penalty(alone, real[s]), rtol=1e-10, atol=1e-12)
        # and against the formula, with the same ε
        x = (eps[s] * real[s] + (1 - eps[s]) * fake[s]).requires_grad_(True)
        (grad,) = torch.autograd.grad(alone(x).sum(), x)
        torch.testing.assert_close(gp[s], ((grad.norm(dim=1) - 1) ** 2).mean(), rtol=1e-10, atol=1e-12)
    # differentiable w.r.t. the critic's parameters, each member's penalty only through its own
    (g_w,) = torch.autograd.grad(gp[1], critic.weights[0])
    assert g_w[1].abs().sum() > 0 and g_w[0].abs().sum() == 0 and g_w[2].abs().sum() == 0


@pytest.mark.parametrize("call, exc, match", [
    (lambda: losses.discriminator_loss(R, FK, kind="hinge", members=True), ValueError, r"\(S, B\) or \(S, B, 1\)"),
    (lambda: losses.generator_loss(FK, kind="hinge", members=True), ValueError, "members=True"),
    (lambda: losses.generator_loss(torch.zeros(2, 3, 2), kind="hinge", members=True), ValueError, r"\(S, B, 1\)"),
    (lambda: losses.discriminator_loss(RS, FS[:2], kind="lsgan", members=True), ValueError, "same number of members"),
    (lambda: losses.generator_loss(torch.zeros(2, 0), kind="lsgan", members=True), ValueError, "non-empty"),
    (lambda: losses.generator_loss(FS, kind="lsgan", members=1), TypeError, "bool"),
    (lambda: losses.gradient_penalty(_batched_critic(), torch.zeros(3, 2), torch.zeros(3, 2), members=True),
     ValueError, "at least 3 dims"),
    (lambda: losses.gradient_penalty(_batched_critic(), torch.zeros(3, 2, 3), torch.zeros(3, 2, 3),
                                     generator=[_g(), _g()], members=True), ValueError, "list of 3 generators"),
    (lambda: losses.gradient_penalty(_batched_critic(), torch.zeros(3, 2, 3), torch.zeros(3, 2, 3),
                                     generator=0, members=True), TypeError, "generator"),
    (lambda: losses.gradient_penalty(_batched_critic(), torch.zeros(3, 2, 3), torch.zeros(3, 2, 3),
                                     generator=[_g()] * 3), TypeError, "generator"),
    (lambda: losses.r1_penalty(_batched_critic(), torch.zeros(2, 3), members=True), ValueError, "at least 3 dims"),
])
def test_member_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("coupled", [False, True])
def test_penalties_need_a_critic_without_coupling_between_examples(coupled):
    """The documented caveat: the penalties read per-example gradients off one backward pass of the
    summed outputs; with BatchNorm (training mode) in the critic, that is not each example's own."""
    torch.manual_seed(0)
    layers = [torch.nn.Linear(2, 8)] + ([torch.nn.BatchNorm1d(8)] if coupled else []) + [torch.nn.Tanh(),
                                                                                           torch.nn.Linear(8, 1)]
    critic = torch.nn.Sequential(*layers).double().train()
    x = torch.randn(6, 2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: critic(t).squeeze(1), x)  # (B, B, 2)
    own = torch.stack([jac[b, b] for b in range(len(x))])  # ∇_{x_b} D(x)_b
    expected = own.pow(2).sum(1).mean()
    if coupled:
        assert (jac.sum(0) - own).abs().max() > 1e-3  # other examples' terms leak in
        assert not torch.isclose(losses.r1_penalty(critic, x), expected)
    else:
        torch.testing.assert_close(losses.r1_penalty(critic, x), expected)
        torch.testing.assert_close(losses.r1_penalty(critic, x[None], members=True)[0], expected)
