"""Smoke tests: shapes, parameter counts, one training step per model, and a few properties."""

import math

import pytest
import torch

import genlib
from genlib import data, losses, models, train


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_vae_shapes_and_parameter_count():
    vae = models.VAE((1, 28, 28), hidden_dims=(400,), latent_dim=20)
    n = sum(p.numel() for p in vae.parameters())
    assert n == (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    out = vae(torch.rand(3, 1, 28, 28, generator=_g()), generator=_g())
    assert out.recon.shape == (3, 1, 28, 28) and out.mu.shape == out.logvar.shape == out.z.shape == (3, 20)
    assert vae.sample(4, generator=_g()).shape == (4, 1, 28, 28)
    assert vae.reconstruct(torch.rand(2, 784, generator=_g())).shape == (2, 1, 28, 28)


def test_vae_loss_is_negative_elbo_with_closed_form_kl():
    vae = models.VAE(16, hidden_dims=(8,), latent_dim=3)
    x = torch.rand(5, 16, generator=_g()).round()
    parts = vae.loss(x, generator=_g(1))
    mu, logvar = vae.encode(x)
    z = vae.reparameterize(mu, logvar, generator=_g(1))
    recon = losses.bernoulli_nll(vae.decode(z), x)
    assert torch.allclose(parts["recon"], recon)
    assert torch.allclose(parts["kl"], losses.gaussian_kl(mu, logvar))
    assert torch.allclose(parts["loss"], recon + parts["kl"])
    assert torch.allclose(parts["elbo"], -parts["loss"])


def test_vae_free_bits_only_raises_the_kl_term():
    vae = models.VAE(16, hidden_dims=(8,), latent_dim=3)
    x = torch.rand(5, 16, generator=_g()).round()
    plain, fb = vae.loss(x, generator=_g(1)), vae.loss(x, free_bits=10.0, generator=_g(1))
    assert torch.allclose(plain["kl"], fb["kl"]) and fb["loss"] >= plain["loss"]
    assert torch.allclose(fb["loss"], plain["recon"] + 30.0)  # every dim clamped at 10 nats


def test_vae_log_weights_match_torch_distributions():
    """log p(z) + log p(x|z) - log q(z|x), recomputed with torch.distributions on the same draws."""
    from torch import distributions as D

    vae = models.VAE(16, hidden_dims=(8,), latent_dim=3)
    x = torch.rand(7, 16, generator=_g()).round()
    lw = vae.log_weights(x, k=5, generator=_g(2))
    assert lw.shape == (5, 7)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
        prior = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
        g = _g(2)
        for s in range(5):  # the documented order: one (B, latent_dim) draw per sample
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)
            lik = D.Independent(D.Bernoulli(logits=vae.decode(z)), 1)
            ref = prior.log_prob(z) + lik.log_prob(x) - q.log_prob(z)
            assert torch.allclose(lw[s], ref, atol=1e-4)


def test_vae_log_weights_k_is_keyword_only():
    import inspect

    params = inspect.signature(models.VAE.log_weights).parameters
    assert params["k"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["generator"].kind is inspect.Parameter.KEYWORD_ONLY
    vae = models.VAE(16, hidden_dims=(8,), latent_dim=3)
    x = torch.rand(2, 16, generator=_g()).round()
    with pytest.raises(TypeError, match="positional"):
        vae.log_weights(x, 3)
    with pytest.raises(TypeError, match="k"):
        vae.log_weights(x)


def test_gaussian_vae_learned_variance():
    vae = models.VAE(4, hidden_dims=(8,), latent_dim=2, likelihood="gaussian", decoder_logvar="learned")
    assert any(n == "decoder_logvar" for n, _ in vae.named_parameters())
    vae.loss(torch.randn(3, 4, generator=_g()))["loss"].backward()
    assert vae.decoder_logvar.grad is not None


def test_train_vae_learns_on_digits():
    genlib.seed_everything(0)
    x, _ = data.digits("train")
    xv, _ = data.digits("test")
    vae = models.VAE((1, 8, 8), hidden_dims=(64,), latent_dim=4)
    hist = train.train_vae(vae, x, epochs=4, batch_size=64, x_val=xv, generator=_g())
    assert len(hist["loss"]) == 4 and len(hist["val_loss"]) == 4
    assert hist["val_loss"][-1] < hist["val_loss"][0]


def test_autoencoder_step():
    ae = models.Autoencoder((1, 8, 8), hidden_dims=(32,), latent_dim=3)
    x, _ = data.digits("test")
    assert ae.encode(x[:5]).shape == (5, 3) and ae(x[:5]).shape == (5, 1, 8, 8)
    hist = train.train_autoencoder(ae, x, epochs=3, batch_size=64, generator=_g())
    assert hist["loss"][-1] < hist["loss"][0]


def test_gan_players_and_training_step_on_ring():
    gen = models.MLPGenerator(4, 2, hidden_dims=(32,))
    disc = models.MLPDiscriminator(2, hidden_dims=(32,), spectral_norm=True)
    assert gen.sample(6, generator=_g()).shape == (6, 2) and disc(torch.zeros(6, 2)).shape == (6,)
    before = [p.detach().clone() for p in gen.parameters()]
    hist = train.train_gan(gen, disc, lambda n, generator: data.ring_of_gaussians(n, generator=generator)[0],
                           steps=3, batch_size=16, loss="hinge", gp_weight=1.0, generator=_g())
    assert len(hist["d_loss"]) == 3 and all(math.isfinite(v) for v in hist["g_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, gen.parameters()))


def test_gan_output_ranges():
    z = torch.randn(50, 3, generator=_g()) * 10
    assert models.MLPGenerator(3, (1, 4, 4), output="tanh")(z).abs().max() <= 1
    s = models.MLPGenerator(3, 5, output="sigmoid")(z)
    assert s.min() >= 0 and s.max() <= 1


def test_models_share_one_input_shape_rule():
    for model in (models.VAE((1, 4, 4), hidden_dims=(8,), latent_dim=2),
                  models.Autoencoder((1, 4, 4), hidden_dims=(8,), latent_dim=2),
                  models.MLPDiscriminator((1, 4, 4), hidden_dims=(8,))):
        assert model.input_shape == (1, 4, 4) and model.input_dim == 16
        flat = torch.rand(3, 16, generator=_g())
        a = model.encode(flat) if hasattr(model, "encode") else model(flat)
        b = model.encode(flat.reshape(3, 1, 4, 4)) if hasattr(model, "encode") else model(flat.reshape(3, 1, 4, 4))
        assert torch.equal(a[0] if isinstance(a, tuple) else a, b[0] if isinstance(b, tuple) else b)
        with pytest.raises(ValueError, match="16 values"):
            model.encode(torch.zeros(3, 15)) if hasattr(model, "encode") else model(torch.zeros(3, 15))
    assert models.MLPGenerator(2, 5).output_shape == (5,)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: models.VAE(784, latent_dim=0), ValueError, "latent_dim"),
    (lambda: models.VAE(784, likelihood="poisson"), ValueError, "likelihood"),
    (lambda: models.VAE(784, hidden_dims=()), ValueError, "hidden"),
    (lambda: models.VAE(784, hidden_dims=(8,), latent_dim=2)(torch.zeros(2, 100)), ValueError, "784 values"),
    (lambda: models.MLPGenerator(4, 2)(torch.zeros(3, 5)), ValueError, r"\(B, 4\)"),
    (lambda: models.MLPGenerator(4, 2, output="relu"), ValueError, "output"),
    (lambda: genlib.nn.mlp(2, [3], 1, activation="gelu"), ValueError, "activation"),
    (lambda: train.train_gan(models.MLPGenerator(2, 2), models.MLPDiscriminator(2), "data", steps=1),
     TypeError, "real"),
    (lambda: models.VAE((1, 0, 28)), ValueError, "input_shape"),
    (lambda: models.Autoencoder("784"), ValueError, "input_shape"),
    (lambda: models.MLPGenerator(2, 2.5), TypeError, "output_shape"),
    (lambda: models.MLPDiscriminator((2, True)), ValueError, "input_shape"),
    (lambda: models.VAE(4, hidden_dims=(8,), latent_dim=2).loss(torch.rand(2, 4), beta=-1.0), ValueError, "beta"),
    (lambda: models.VAE(4, hidden_dims=(8,), latent_dim=2).loss(torch.rand(2, 4), beta=float("nan")),
     ValueError, "beta"),
    (lambda: models.VAE(4, hidden_dims=(8,), latent_dim=2).loss(torch.rand(2, 4), free_bits=-3.0),
     ValueError, "free_bits"),
    (lambda: models.VAE(4, hidden_dims=(8,), latent_dim=2).loss(torch.rand(2, 4), beta="1"), TypeError, "beta"),
    (lambda: models.VAE(4, hidden_dims=(8,), latent_dim=2).log_weights(torch.rand(2, 4), k=0), ValueError, "k"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
