"""genlib.train: the loops do what their docstrings promise (tiny models, a few steps each)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlib import _random, data, losses, models, train


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _vae(seed=0):
    torch.manual_seed(seed)
    return models.VAE((1, 8, 8), hidden_dims=(16,), latent_dim=3)


def _digits():
    x, _ = data.digits("train")
    xv, _ = data.digits("test")
    return x[:256], xv[:128]


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# -- train_vae --------------------------------------------------------------------------------

def test_x_val_does_not_change_the_trained_weights():
    x, xv = _digits()
    a, b = _vae(), _vae()
    train.train_vae(a, x, epochs=2, batch_size=64, generator=_g(3))
    hist = train.train_vae(b, x, epochs=2, batch_size=64, x_val=xv, generator=_g(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # the evaluation uses its own fixed generator, so it is reproducible after training
    ev = train.evaluate_vae(b, xv, generator=_g(train.VAL_SEED))
    assert hist["val_loss"][-1] == pytest.approx(ev["loss"], rel=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_x_val_does_not_change_the_weights_on_cuda():
    x, xv = (t.to("cuda") for t in _digits())
    a, b = _vae().to("cuda"), _vae().to("cuda")
    train.train_vae(a, x, epochs=1, batch_size=64, generator=_g(3))  # a CPU generator drives CUDA draws
    train.train_vae(b, x, epochs=1, batch_size=64, x_val=xv, generator=_g(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_val_loss_is_the_beta_one_negative_elbo_whatever_the_training_beta():
    x, xv = _digits()
    hist = train.train_vae(_vae(), x, epochs=2, batch_size=64, beta=4.0, free_bits=0.5, x_val=xv,
                           generator=_g())
    for loss, recon, kl in zip(hist["val_loss"], hist["val_recon"], hist["val_kl"]):
        assert loss == pytest.approx(recon + kl, rel=1e-6)
    # while the training loss is the beta-weighted objective (free bits only raise the KL term)
    for loss, recon, kl in zip(hist["loss"], hist["recon"], hist["kl"]):
        assert loss >= recon + 4.0 * kl - 1e-3


def test_callable_beta_is_called_with_the_epoch():
    x, _ = _digits()
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.0 if epoch == 0 else 2.0

    hist = train.train_vae(_vae(), x, epochs=3, batch_size=64, beta=schedule, generator=_g())
    assert seen == [0, 1, 2] and hist["beta"] == [0.0, 2.0, 2.0]
    assert hist["loss"][0] == pytest.approx(hist["recon"][0], rel=1e-6)  # beta = 0: no KL term
    assert hist["loss"][1] == pytest.approx(hist["recon"][1] + 2.0 * hist["kl"][1], rel=1e-6)


def test_clip_grad_limits_the_update():
    x, _ = _digits()
    moved = {}
    for clip in (None, 1e-9):
        model = _vae()
        before = _weights(model)
        train.train_vae(model, x, epochs=1, batch_size=64, clip_grad=clip, generator=_g())
        moved[clip] = sum((p - q).abs().sum().item() for p, q in zip(model.parameters(), before))
    # Adam is scale-invariant until the gradient norm falls to its eps: clipped to 1e-9, it barely moves
    assert moved[1e-9] < 0.05 * moved[None]


def test_train_vae_rejects_a_negative_beta_from_a_schedule():
    x, _ = _digits()
    with pytest.raises(ValueError, match="beta"):
        train.train_vae(_vae(), x, epochs=1, beta=lambda e: -1.0, generator=_g())


# -- train_gan --------------------------------------------------------------------------------

def _players(seed=0):
    torch.manual_seed(seed)
    return models.MLPGenerator(2, 2, hidden_dims=(16,)), models.MLPDiscriminator(2, hidden_dims=(16,))


class CountingDisc(nn.Module):
    def __init__(self, disc):
        super().__init__()
        self.disc, self.calls = disc, 0

    def forward(self, x):
        self.calls += 1
        return self.disc(x)


def test_tensor_real_draws_minibatches_with_the_generator(monkeypatch):
    real, _ = data.ring_of_gaussians(500, generator=_g())
    calls = []
    original = _random.randint

    def spy(high, shape, *, generator=None, device=None):
        calls.append((high, tuple(shape), generator, device))
        return original(high, shape, generator=generator, device=device)

    monkeypatch.setattr(train, "randint", spy)
    g = _g(1)
    gen, disc = _players()
    hist = train.train_gan(gen, disc, real, steps=3, batch_size=32, d_steps=2, generator=g)
    assert len(hist["d_loss"]) == 3
    assert len(calls) == 6 and all(c == (500, (32,), g, real.device) for c in calls)
    # reproducible: the same seed gives the same run, another seed another run
    runs = {}
    for seed in (1, 1, 2):
        gen, disc = _players()
        runs.setdefault(seed, []).append(train.train_gan(gen, disc, real, steps=3, batch_size=32,
                                                         generator=_g(seed))["d_loss"])
    assert runs[1][0] == runs[1][1] and runs[1][0] != runs[2][0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tensor_real_on_cuda_with_a_cpu_generator():
    real, _ = data.ring_of_gaussians(500, generator=_g())
    gen, disc = (m.to("cuda") for m in _players())
    hist = train.train_gan(gen, disc, real.to("cuda"), steps=2, batch_size=16, generator=_g())
    assert len(hist["g_loss"]) == 2


def test_d_steps_discriminator_updates_per_generator_update():
    real, _ = data.ring_of_gaussians(200, generator=_g())
    gen, disc = _players()
    counting = CountingDisc(disc)
    train.train_gan(gen, counting, real, steps=2, batch_size=16, d_steps=3, generator=_g())
    assert counting.calls == 2 * (3 * 2 + 1)  # per step: d_steps × (real, fake) + one for G


@pytest.mark.parametrize("penalty", ["r1_weight", "gp_weight"])
def test_penalties_enter_the_discriminator_loss(penalty):
    real, _ = data.ring_of_gaussians(200, generator=_g())
    d_loss = {}
    for w in (0.0, 10.0):
        gen, disc = _players()
        d_loss[w] = train.train_gan(gen, disc, real, steps=1, batch_size=16, generator=_g(),
                                    **{penalty: w})["d_loss"][0]
    # same initial players, same data: the difference is exactly the weighted penalty
    gen, disc = _players()
    x = real[_random.randint(len(real), (16,), generator=_g())]
    if penalty == "r1_weight":
        expected = 10.0 * losses.r1_penalty(disc, x).item()
    else:
        g = _g()
        _random.randint(len(real), (16,), generator=g)  # the minibatch draw comes first
        fake = gen.sample(16, generator=g).detach()
        expected = 10.0 * losses.gradient_penalty(disc, x, fake, generator=g).item()
    assert expected > 0 and d_loss[10.0] - d_loss[0.0] == pytest.approx(expected, rel=1e-4)


def test_callback_fires_every_callback_every_steps():
    real, _ = data.ring_of_gaussians(200, generator=_g())
    gen, disc = _players()
    seen = []
    train.train_gan(gen, disc, real, steps=5, batch_size=16, callback=seen.append, callback_every=2,
                    generator=_g())
    assert seen == [2, 4]


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"callback": print}, ValueError, "callback_every"),
    ({"callback": print, "callback_every": 0}, ValueError, "callback_every"),
    ({"callback": "print", "callback_every": 1}, TypeError, "callable"),
    ({"r1_weight": -1.0}, ValueError, "r1_weight"),
    ({"loss": "wgan"}, ValueError, "loss"),
    ({"d_steps": 0}, ValueError, "d_steps"),
])
def test_train_gan_bad_input(kwargs, exc, match):
    real, _ = data.ring_of_gaussians(50, generator=_g())
    gen, disc = _players()
    with pytest.raises(exc, match=match):
        train.train_gan(gen, disc, real, steps=1, batch_size=8, **kwargs)


# -- ema_update -------------------------------------------------------------------------------

@pytest.mark.parametrize("decay", [0.0, 0.5, 1.0])
def test_ema_update_endpoints(decay):
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    w_a, w_b = a.weight.detach().clone(), b.weight.detach().clone()
    train.ema_update(a, b, decay=decay)
    assert torch.allclose(a.weight, decay * w_a + (1 - decay) * w_b)


@pytest.mark.parametrize("call, match", [
    (lambda: train.ema_update(nn.Linear(2, 2), nn.Linear(2, 2), decay=1.5), "decay"),
    (lambda: train.ema_update(nn.Linear(2, 2), nn.Linear(2, 2), decay=-0.1), "decay"),
    (lambda: train.ema_update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), decay=0.9),
     "same parameters"),
    (lambda: train.ema_update(nn.Linear(2, 3), nn.Linear(2, 2), decay=0.9), "same parameters"),
    (lambda: train.ema_update(nn.BatchNorm1d(2), nn.LayerNorm(2), decay=0.9), "same buffers"),
])
def test_ema_update_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- fit / train_autoencoder ------------------------------------------------------------------

def test_train_autoencoder_is_fit():
    x, _ = _digits()
    torch.manual_seed(0)
    a = models.Autoencoder((1, 8, 8), hidden_dims=(16,), latent_dim=3)
    b = models.Autoencoder((1, 8, 8), hidden_dims=(16,), latent_dim=3)
    b.load_state_dict(a.state_dict())
    ha = train.train_autoencoder(a, x, epochs=2, batch_size=64, generator=_g())
    hb = train.fit(b, x, epochs=2, batch_size=64, generator=_g())
    assert ha == hb and sorted(ha) == ["loss", "recon"] and ha["loss"][-1] < ha["loss"][0]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_passes_the_generator_to_models_that_sample():
    x, _ = _digits()
    model = _vae()
    hist = train.fit(model, x, epochs=1, batch_size=64, generator=_g())
    assert {"loss", "recon", "kl", "elbo"} <= set(hist)
    again = _vae()
    assert train.fit(again, x, epochs=1, batch_size=64, generator=_g()) == hist  # reproducible


# -- the GAN step functions and the batched loop: bad input -----------------------------------

def _batched_players(seeds=(0, 1, 2)):
    gen = models.BatchedGenerator(2, (8,), 2, seeds=list(seeds))
    return gen, models.BatchedMLP(2, (8,), 1, seeds=[10 + s for s in seeds])


@pytest.mark.parametrize("make, kwargs, exc, match", [
    (_batched_players, {"generator": [_g(), _g()]}, ValueError, "list of 3 generators"),
    (_batched_players, {"generator": [_g(), _g(), 3]}, TypeError, "torch.Generator"),
    (_batched_players, {"generator": 3}, TypeError, "generator"),
    (_players, {"generator": [_g()]}, TypeError, "batched models"),
    (lambda: (_batched_players()[0], _players()[1]), {}, ValueError, "both plain modules or both batched"),
    (lambda: (_batched_players()[0], _batched_players((0, 1))[1]), {}, ValueError, "n_seeds=3 and disc.n_seeds=2"),
    (_players, {"ema_decay": 1.5, "ema": _players()[0]}, ValueError, "ema_decay"),
    (_players, {"ema": models.MLPGenerator(2, 2)}, ValueError, "parameters of gen"),
    (_players, {"ema": "gen"}, TypeError, "ema"),
    (_batched_players, {"real": torch.zeros(50, 1, 2)}, ValueError, r"\(N, d\)"),
])
def test_train_gan_batched_bad_input(make, kwargs, exc, match):
    gen, disc = make()
    real = kwargs.pop("real", data.ring_of_gaussians(50, generator=_g())[0])
    with pytest.raises(exc, match=match):
        train.train_gan(gen, disc, real, steps=1, batch_size=8, **kwargs)


def test_train_gan_rejects_gen_as_its_own_ema():
    gen, disc = _players()
    with pytest.raises(ValueError, match="copy of gen"):
        train.train_gan(gen, disc, torch.zeros(8, 2), steps=1, batch_size=4, ema=gen)


def test_train_gan_batched_callable_real_is_called_once_or_per_member():
    calls = []

    def real(n, generator=None):
        calls.append((n, generator))
        return torch.randn(n, 2, generator=generator)

    gen, disc = _batched_players()
    train.train_gan(gen, disc, real, steps=1, batch_size=8, generator=_g())
    gens = models.seeded_generators([0, 1, 2])
    train.train_gan(gen, disc, real, steps=1, batch_size=8, generator=gens)
    assert [n for n, _ in calls] == [24, 8, 8, 8] and [g for _, g in calls[1:]] == gens


@pytest.mark.parametrize("call, exc, match", [
    (lambda g, d, o: train.discriminator_step(g, d, o, torch.zeros(2, 8, 2), loss="hinge"), ValueError,
     r"\(3, B, d\)"),
    (lambda g, d, o: train.discriminator_step(g, d, o, torch.zeros(8, 2), loss="hinge"), ValueError, "3 dims"),
    (lambda g, d, o: train.discriminator_step(g, d, o, torch.zeros(3, 8, 2), loss="wgan"), ValueError, "loss"),
    (lambda g, d, o: train.discriminator_step(g, d, o, torch.zeros(3, 8, 2), loss="hinge", gp_weight=-1),
     ValueError, "gp_weight"),
    (lambda g, d, o: train.discriminator_step(g, d, "adam", torch.zeros(3, 8, 2), loss="hinge"), TypeError,
     "opt_d"),
    (lambda g, d, o: train.discriminator_step(g, d, o, torch.zeros(3, 8, 2), loss="hinge", generator=[_g()]),
     ValueError, "list of 3"),
    (lambda g, d, o: train.generator_step(g, d, o, batch_size=0, loss="hinge"), ValueError, "batch_size"),
    (lambda g, d, o: train.generator_step(g, "disc", o, batch_size=4, loss="hinge"), TypeError, "nn.Module"),
])
def test_step_functions_bad_input(call, exc, match):
    gen, disc = _batched_players()
    opt = torch.optim.Adam(disc.parameters())
    with pytest.raises(exc, match=match):
        call(gen, disc, opt)


def test_step_functions_need_a_generator_with_sample():
    _, disc = _batched_players()
    net = models.BatchedMLP(2, (8,), 2, seeds=[0, 1, 2])  # a BatchedMLP has no sample()
    with pytest.raises(TypeError, match="sample"):
        train.generator_step(net, disc, torch.optim.Adam(net.parameters()), batch_size=4, loss="hinge")
