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


# --- random streams, the callback's modes, d_loss (review of the GAN loop) -----------------------

def _plain(seed=0):
    torch.manual_seed(seed)
    return MLPGenerator(2, 2, hidden_dims=(8,)).double(), MLPDiscriminator(2, hidden_dims=(8,)).double()


def test_default_draws_are_one_stream_in_the_documented_order():
    """Regression of the default path: per iteration, for each D update the minibatch indices, z, ε;
    then z of the G update, all from ``generator`` (the zoo's GAN and the chapters rely on it)."""
    from genlib._random import rand, randint, randn

    gen, disc = _plain()
    g = _g(4)
    train.train_gan(gen, disc, REAL, steps=3, batch_size=8, loss="wasserstein", gp_weight=10.0, d_steps=2,
                    generator=g)
    replay = _g(4)
    for _ in range(3):
        for _ in range(2):
            randint(len(REAL), (8,), generator=replay)
            randn(8, 2, generator=replay, dtype=torch.float64)
            rand(8, 1, generator=replay, dtype=torch.float64)
        randn(8, 2, generator=replay, dtype=torch.float64)
    assert torch.equal(g.get_state(), replay.get_state())


def _recording(gen, disc_seed_real):
    """Log every minibatch (callable ``real``) and the latent stream's state before every z draw."""
    batches, z_states = [], []
    pool = disc_seed_real

    def real(n, generator=None):
        x = pool[torch.randint(len(pool), (n,), generator=generator)]
        batches.append(x)
        return x

    sample = gen.sample

    def logged_sample(n, generator=None):
        gens = generator if isinstance(generator, list) else [generator]
        z_states.append(torch.stack([gg.get_state() for gg in gens]))
        return sample(n, generator=generator)

    gen.sample = logged_sample
    return real, batches, z_states


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("separate", [True, False])
def test_separate_streams_turning_the_gp_on_leaves_data_and_z_identical(batched, separate):
    runs = []
    for gp in (0.0, 10.0):
        gen, disc = _batched([0, 1]) if batched else _plain()
        real, batches, z_states = _recording(gen, REAL)
        if batched:
            streams = {"generator": seeded_generators([1, 2]), "data_generator": seeded_generators([3, 4]),
                       "latent_generator": seeded_generators([5, 6]), "penalty_generator": seeded_generators([7, 8])}
        else:
            streams = {"generator": _g(1), "data_generator": _g(3), "latent_generator": _g(5),
                       "penalty_generator": _g(7)}
        if not separate:
            streams = {"generator": streams["generator"]}
        train.train_gan(gen, disc, real, steps=4, batch_size=8, loss="wasserstein", gp_weight=gp, d_steps=2,
                        **streams)
        runs.append((batches, z_states, [p.detach().clone() for p in disc.parameters()], streams))
    (b0, z0, w0, s0), (b1, z1, w1, s1) = runs
    n_calls = 8 * (2 if batched else 1)  # a list of streams: one call of real per member
    assert len(b0) == len(b1) == n_calls and len(z0) == len(z1) == 12  # 2 D + 1 G z draws per step
    same_data = all(torch.equal(a, b) for a, b in zip(b0, b1))
    same_z = all(torch.equal(a, b) for a, b in zip(z0, z1))
    assert not all(torch.equal(a, b) for a, b in zip(w0, w1))  # the penalty changed the training
    if separate:
        assert same_data and same_z
        gens = s0["generator"] if batched else [s0["generator"]]
        fresh = seeded_generators([1, 2]) if batched else [_g(1)]
        assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(gens, fresh))  # not used
        pens = [s0["penalty_generator"], s1["penalty_generator"]]
        pens = [p if batched else [p] for p in pens]
        assert not all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(*pens))  # ε only with GP
    else:  # one stream: ε shifts every later minibatch and z (why the streams exist)
        assert torch.equal(b0[0], b1[0]) and not same_data and not same_z


@pytest.mark.parametrize("batched", [False, True])
def test_step_functions_take_a_latent_and_a_penalty_stream(batched):
    gen, disc = _batched([0, 1]) if batched else _plain()
    real = REAL[:8].expand(2, -1, -1) if batched else REAL[:8]
    opt_d, opt_g = torch.optim.Adam(disc.parameters()), torch.optim.Adam(gen.parameters())
    g, zg, eg = _g(0), _g(1), _g(2)
    train.discriminator_step(gen, disc, opt_d, real, loss="wasserstein", gp_weight=10.0, generator=g,
                             latent_generator=zg, penalty_generator=eg)
    train.generator_step(gen, disc, opt_g, batch_size=8, loss="wasserstein", generator=g, latent_generator=zg)
    assert torch.equal(g.get_state(), _g(0).get_state())  # both draws went to their own streams
    assert not torch.equal(zg.get_state(), _g(1).get_state())
    assert not torch.equal(eg.get_state(), _g(2).get_state())
    with pytest.raises(TypeError):
        train.generator_step(gen, disc, opt_g, batch_size=8, loss="wasserstein", latent_generator="seed")


def test_d_loss_history_keeps_the_last_of_the_d_steps_losses(monkeypatch):
    returned = []
    d_step = train.discriminator_step

    def recording(*args, **kwargs):
        out = d_step(*args, **kwargs)
        returned.append(out.item())
        return out

    monkeypatch.setattr(train, "discriminator_step", recording)
    gen, disc = _plain()
    hist = train.train_gan(gen, disc, REAL, steps=3, batch_size=8, d_steps=3, generator=_g())
    assert hist["d_loss"] == returned[2::3]


class _BNGenerator(torch.nn.Module):
    """A generator with BatchNorm (batch statistics in training mode)."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                       torch.nn.Linear(8, 2))

    def forward(self, z):
        return self.net(z)

    def sample(self, n, generator=None):
        return self(torch.randn(n, 2, generator=generator, dtype=next(self.parameters()).dtype))


def test_callback_runs_in_eval_mode_and_training_resumes_in_train_mode(monkeypatch):
    modes, d_modes = [], []
    d_step = train.discriminator_step

    def recording(gen, disc, *args, **kwargs):
        d_modes.append((gen.training, disc.training))
        return d_step(gen, disc, *args, **kwargs)

    monkeypatch.setattr(train, "discriminator_step", recording)
    gen, disc = _plain()
    ema = copy.deepcopy(gen)
    train.train_gan(gen, disc, REAL, steps=4, batch_size=8, ema=ema, generator=_g(), callback_every=2,
                    callback=lambda s: modes.append((gen.training, disc.training, ema.training)))
    assert modes == [(False, False, False)] * 2
    assert d_modes == [(True, True)] * 4 and ema.training  # ema's own mode restored


@pytest.mark.parametrize("players", ["batchnorm-generator", "spectral-norm-critic", "mlp"])
def test_a_sampling_callback_does_not_change_training(players):
    """With eval mode in the callback, sampling G (BatchNorm running stats) or calling a spectrally
    normalised D (power iteration) there leaves the run bit-identical to one without callback; for
    MLPs eval and train compute the same, so a callback changes nothing either way."""
    results = []
    for with_callback in (False, True):
        if players == "spectral-norm-critic":
            gen, disc = _batched([0, 1], spectral_norm=True)
        elif players == "batchnorm-generator":
            torch.manual_seed(0)
            gen, disc = _BNGenerator().double(), MLPDiscriminator(2, hidden_dims=(8,)).double()
        else:
            gen, disc = _plain()
        probe = REAL[:16].expand(2, -1, -1) if players == "spectral-norm-critic" else REAL[:16]

        def callback(step, gen=gen, disc=disc, probe=probe):
            with torch.no_grad():
                gen.sample(16, generator=_g(99))
                disc(probe)

        kw = {"callback": callback, "callback_every": 1} if with_callback else {}
        hist = train.train_gan(gen, disc, REAL, steps=5, batch_size=8, generator=_g(), **kw)
        results.append((hist, [t.detach().clone() for m in (gen, disc) for t in (*m.parameters(), *m.buffers())]))
    (h0, t0), (h1, t1) = results
    assert h0 == h1 and all(torch.equal(a, b) for a, b in zip(t0, t1, strict=True))
