"""genlib.train's GAN loop: the step functions, batched members equal runs alone, EMA, Q4's loop."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from genlib import data, train
from genlib.models import BatchedGenerator, BatchedMLP, MLPDiscriminator, MLPGenerator, seeded_generators

SEEDS = [3, 0, 7]
REAL = data.ring_of_gaussians(400, generator=torch.Generator().manual_seed(0))[0].double()


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _batched(seeds, *, spectral_norm=False):
    gen = BatchedGenerator(2, (16,), 2, seeds=seeds).double()
    disc = BatchedMLP(2, (16,), 1, seeds=[100 + s for s in seeds], activation="leaky_relu",
                      spectral_norm=spectral_norm).double()
    return gen, disc


CONFIGS = {
    "nonsaturating": {"loss": "nonsaturating"},
    "wgan-gp": {"loss": "wasserstein", "gp_weight": 10.0, "d_steps": 2},
    "hinge-r1-sn": {"loss": "hinge", "r1_weight": 1.0, "spectral_norm": True},
    "lsgan-ema": {"loss": "lsgan", "ema": True},
}


@pytest.mark.parametrize("name", CONFIGS)
def test_batched_train_gan_equals_each_member_trained_alone(name):
    cfg = dict(CONFIGS[name])
    sn, use_ema = cfg.pop("spectral_norm", False), cfg.pop("ema", False)
    kw = {"steps": 12, "batch_size": 32, "lr_g": 1e-3, "lr_d": 1e-3, **cfg}
    gen, disc = _batched(SEEDS, spectral_norm=sn)
    ema = copy.deepcopy(gen) if use_ema else None
    hist = train.train_gan(gen, disc, REAL, generator=seeded_generators(SEEDS), ema=ema, ema_decay=0.9, **kw)
    assert len(hist["d_loss"]) == 12 and all(len(h) == 3 for h in hist["d_loss"] + hist["g_loss"])
    for i, seed in enumerate(SEEDS):
        gen1, disc1 = _batched([seed], spectral_norm=sn)
        ema1 = copy.deepcopy(gen1) if use_ema else None
        hist1 = train.train_gan(gen1, disc1, REAL, generator=_g(seed), ema=ema1, ema_decay=0.9, **kw)
        pairs = [(gen, gen1), (disc, disc1)] + ([(ema, ema1)] if use_ema else [])
        for batched, alone in pairs:
            for a, b in zip(batched.parameters(), alone.parameters(), strict=True):
                torch.testing.assert_close(a[i], b[0], rtol=0, atol=1e-10)
            for a, b in zip(batched.buffers(), alone.buffers(), strict=True):  # spectral norm's u, v
                torch.testing.assert_close(a[i], b[0], rtol=0, atol=1e-10)
        for key in ("d_loss", "g_loss"):
            assert [h[i] for h in hist[key]] == pytest.approx([h[0] for h in hist1[key]], abs=1e-10)
    assert any(h[0] != h[1] for h in hist["g_loss"])  # the members are different runs


def test_a_hand_written_q04_style_loop_agrees_with_train_gan():
    """book/q04's train_gans: BatchedMLP players, BCE on logits, detach in the D step, summed
    member losses; the same weights and draws (indices, z for D, z for G from one generator)."""
    steps, batch, lr, latent = 10, 64, 1e-3, 2
    gen_net = BatchedMLP(latent, (16,), 2, seeds=SEEDS).double()  # G: z -> x
    disc = BatchedMLP(2, (16,), 1, seeds=[100 + s for s in SEEDS], activation="leaky_relu").double()
    gen = BatchedGenerator(latent, (16,), 2, seeds=SEEDS).double()
    disc_ref = copy.deepcopy(disc)
    opt_g = torch.optim.Adam(gen_net.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc_ref.parameters(), lr=lr, betas=(0.5, 0.999))
    g, n = _g(1), len(SEEDS)
    d_hist, g_hist = [], []
    for _ in range(steps):
        x_real = REAL[torch.randint(len(REAL), (n, batch), generator=g)]
        z_d = torch.randn(n, batch, latent, generator=g, dtype=torch.float64)
        d_loss = F.softplus(-disc_ref(x_real)).mean((1, 2)) + F.softplus(disc_ref(gen_net(z_d).detach())).mean((1, 2))
        opt_d.zero_grad(set_to_none=True)
        d_loss.sum().backward()  # summed over seeds: S independent updates
        opt_d.step()
        z_g = torch.randn(n, batch, latent, generator=g, dtype=torch.float64)
        g_loss = F.softplus(-disc_ref(gen_net(z_g))).mean((1, 2))
        opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        opt_g.step()
        d_hist.append(d_loss.tolist()), g_hist.append(g_loss.tolist())
    hist = train.train_gan(gen, disc, REAL, steps=steps, batch_size=batch, loss="nonsaturating", lr_g=lr, lr_d=lr,
                           generator=_g(1))
    for a, b in zip(gen.net.parameters(), gen_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    for a, b in zip(disc.parameters(), disc_ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    assert hist["d_loss"] == [pytest.approx(h, abs=1e-10) for h in d_hist]
    assert hist["g_loss"] == [pytest.approx(h, abs=1e-10) for h in g_hist]


@pytest.mark.parametrize("batched", [False, True])
def test_d_steps_runs_k_discriminator_updates_per_generator_update(monkeypatch, batched):
    calls = []
    d_step, g_step = train.discriminator_step, train.generator_step

    def counting_d(*args, **kwargs):
        calls.append("D")
        return d_step(*args, **kwargs)

    def counting_g(*args, **kwargs):
        calls.append("G")
        return g_step(*args, **kwargs)

    monkeypatch.setattr(train, "discriminator_step", counting_d)
    monkeypatch.setattr(train, "generator_step", counting_g)
    if batched:
        gen, disc = _batched([0, 1])
    else:
        torch.manual_seed(0)
        gen, disc = MLPGenerator(2, 2, hidden_dims=(8,)).double(), MLPDiscriminator(2, hidden_dims=(8,)).double()
    steps = []
    disc_before = [p.detach().clone() for p in disc.parameters()]
    train.train_gan(gen, disc, REAL, steps=3, batch_size=8, d_steps=4, generator=_g(), callback=steps.append,
                    callback_every=1)
    assert "".join(calls) == "DDDDG" * 3 and steps == [1, 2, 3]
    assert all(not torch.equal(a, b) for a, b in zip(disc_before, disc.parameters()))


@pytest.mark.parametrize("batched", [False, True])
def test_each_step_leaves_the_other_players_grads_untouched(batched):
    if batched:
        gen, disc = _batched([0, 1])
        real = REAL[:16].expand(2, -1, -1)
    else:
        torch.manual_seed(0)
        gen, disc = MLPGenerator(2, 2, hidden_dims=(8,)).double(), MLPDiscriminator(2, hidden_dims=(8,)).double()
        real = REAL[:16]
    opt_g, opt_d = (torch.optim.Adam(m.parameters()) for m in (gen, disc))
    for p in gen.parameters():
        p.grad = torch.randn_like(p)
    kept = [(p.grad, p.grad.clone()) for p in gen.parameters()]
    d_loss = train.discriminator_step(gen, disc, opt_d, real, loss="wasserstein", gp_weight=10.0, generator=_g())
    assert d_loss.shape == ((2,) if batched else ())
    assert all(p.grad is g and torch.equal(g, c) for p, (g, c) in zip(gen.parameters(), kept))  # detach()
    assert all(p.grad is not None for p in disc.parameters())
    kept = [(p.grad, p.grad.clone()) for p in disc.parameters()]
    g_loss = train.generator_step(gen, disc, opt_g, batch_size=16, loss="nonsaturating", generator=_g())
    assert g_loss.shape == d_loss.shape and not g_loss.requires_grad
    assert all(p.grad is g and torch.equal(g, c) for p, (g, c) in zip(disc.parameters(), kept))


def test_ema_is_the_closed_form_running_average():
    gen, disc = _batched([0, 1])
    ema, decay, steps = copy.deepcopy(gen), 0.8, 5
    thetas = [[p.detach().clone() for p in gen.parameters()]]
    train.train_gan(gen, disc, REAL, steps=steps, batch_size=16, lr_g=1e-2, ema=ema, ema_decay=decay,
                    generator=_g(), callback=lambda _: thetas.append([p.detach().clone() for p in gen.parameters()]),
                    callback_every=1)
    for k, p_ema in enumerate(ema.parameters()):
        # ema_T = d^T θ_0 + (1 - d) Σ_{t=1..T} d^(T-t) θ_t
        expected = decay**steps * thetas[0][k] + sum((1 - decay) * decay ** (steps - t) * thetas[t][k]
                                                     for t in range(1, steps + 1))
        torch.testing.assert_close(p_ema, expected, rtol=0, atol=1e-12)
        assert not torch.allclose(p_ema, thetas[-1][k])  # not simply the last weights
