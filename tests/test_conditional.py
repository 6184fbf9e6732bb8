"""Class-conditional GAN players, their training loop and the zoo entry's config."""

from __future__ import annotations

import pytest
import torch

from genlib import zoo
from genlib.models import CONDITIONING_MODES, ConditionalMLPDiscriminator, ConditionalMLPGenerator
from genlib.train import train_cgan


def _toy(n=60, d=6, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = torch.tanh(0.3 * torch.randn(n, d, generator=g) + y[:, None].float() - 1)  # separable classes
    return x, y


def test_generator_shapes_range_and_label_dependence():
    torch.manual_seed(0)
    gen = ConditionalMLPGenerator(4, 3, (1, 2, 3), hidden_dims=(16,))
    z = torch.randn(5, 4)
    a = gen(z, torch.zeros(5, dtype=torch.int64))
    b = gen(z, torch.full((5,), 2))
    assert a.shape == (5, 1, 2, 3) and a.abs().max() <= 1
    assert not torch.allclose(a, b)  # the label changes the image for the same z


def test_generator_sample_is_seeded_and_embedding_option_works():
    torch.manual_seed(0)
    gen = ConditionalMLPGenerator(4, 3, 6, hidden_dims=(8,), embed_dim=5)
    labels = torch.tensor([0, 1, 2, 1])
    a = gen.sample(labels, generator=torch.Generator().manual_seed(1))
    b = gen.sample(labels, generator=torch.Generator().manual_seed(1))
    assert a.shape == (4, 6) and torch.equal(a, b)
    assert gen.embed.weight.shape == (3, 5)


@pytest.mark.parametrize("mode", CONDITIONING_MODES)
def test_discriminator_modes_shapes_and_label_use(mode):
    torch.manual_seed(0)
    disc = ConditionalMLPDiscriminator(6, 3, hidden_dims=(16, 8), mode=mode)
    x = torch.randn(7, 6)
    y0, y1 = torch.zeros(7, dtype=torch.int64), torch.ones(7, dtype=torch.int64)
    logit, cls = disc.heads(x, y0)
    assert logit.shape == (7,) and torch.equal(disc(x, y0), logit)
    if mode == "acgan":
        assert cls.shape == (7, 3) and torch.equal(disc.class_logits(x), cls)
        assert torch.equal(disc(x, y1), logit)  # AC-GAN's real/fake logit ignores the label
    else:
        assert cls is None
        assert not torch.allclose(disc(x, y1), logit)  # the label enters the logit
        with pytest.raises(ValueError, match="acgan"):
            disc.class_logits(x)


def test_projection_is_head_plus_inner_product_with_the_class_embedding():
    torch.manual_seed(0)
    disc = ConditionalMLPDiscriminator(6, 3, hidden_dims=(8,), mode="projection")
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    phi = disc.body(x)
    expected = disc.head(phi).squeeze(1) + (disc.embed.weight[y] * phi).sum(1)
    assert torch.allclose(disc(x, y), expected)  # implementation check: Miyato & Koyama's form


@pytest.mark.parametrize("bad, error", [(torch.tensor([0.0, 1.0]), TypeError), ([0, 1], TypeError),
                                        (torch.tensor([0, 3]), ValueError), (torch.tensor([-1, 0]), ValueError),
                                        (torch.tensor([[0, 1]]), ValueError), (torch.tensor([0, 1, 2]), ValueError)])
def test_bad_labels_are_rejected(bad, error):
    gen = ConditionalMLPGenerator(4, 3, 6, hidden_dims=(8,))
    disc = ConditionalMLPDiscriminator(6, 3, hidden_dims=(8,))
    with pytest.raises(error):
        gen(torch.randn(2, 4), bad)
    with pytest.raises(error):
        disc(torch.randn(2, 6), bad)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mode"):
        ConditionalMLPDiscriminator(6, 3, mode="film")
    with pytest.raises(ValueError, match="hidden"):
        ConditionalMLPDiscriminator(6, 3, hidden_dims=())
    with pytest.raises(ValueError, match="output"):
        ConditionalMLPGenerator(4, 3, 6, output="relu")
    with pytest.raises(ValueError):
        ConditionalMLPGenerator(4, 0, 6)
    with pytest.raises(ValueError, match="at least one"):
        ConditionalMLPGenerator(4, 3, 6).sample(torch.zeros(0, dtype=torch.int64))


@pytest.mark.parametrize("mode", CONDITIONING_MODES)
def test_train_cgan_is_deterministic_and_records_history(mode):
    x, y = _toy()

    def run():
        torch.manual_seed(0)
        g = ConditionalMLPGenerator(4, 3, 6, hidden_dims=(16,))
        d = ConditionalMLPDiscriminator(6, 3, hidden_dims=(16,), mode=mode)
        hist = train_cgan(g, d, x, y, steps=5, batch_size=8, lr_g=1e-3, lr_d=1e-3,
                          generator=torch.Generator().manual_seed(3))
        return g, hist

    (g1, h1), (g2, h2) = run(), run()
    assert h1 == h2 and len(h1["d_loss"]) == 5
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    assert ("d_class" in h1) == (mode == "acgan")
    assert not g1.training


def test_modes_see_the_same_draws():
    """Runs that differ only in D's mode draw the same minibatches, fake labels and z."""
    x, y = _toy()
    seen = {}
    for mode in ("concat", "acgan"):
        torch.manual_seed(0)
        g = ConditionalMLPGenerator(4, 3, 6, hidden_dims=(8,))
        d = ConditionalMLPDiscriminator(6, 3, hidden_dims=(8,), mode=mode)
        gen_stream = torch.Generator().manual_seed(5)
        train_cgan(g, d, x, y, steps=4, batch_size=8, generator=gen_stream)
        seen[mode] = torch.rand(1, generator=gen_stream)  # where the stream ended
    assert torch.equal(seen["concat"], seen["acgan"])


def test_acgan_classifier_learns_the_classes():
    """AC-GAN's auxiliary head is a classifier: on separable toy data it learns the labels."""
    x, y = _toy(n=150, d=4, k=3)
    torch.manual_seed(0)
    g = ConditionalMLPGenerator(4, 3, 4, hidden_dims=(32,))
    d = ConditionalMLPDiscriminator(4, 3, hidden_dims=(32,), mode="acgan")
    train_cgan(g, d, x, y, steps=300, batch_size=32, lr_g=2e-3, lr_d=2e-3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        acc = (d.class_logits(x).argmax(1) == y).float().mean()
    assert acc > 0.8  # chance is 1/3


def test_train_cgan_rejects_bad_input():
    x, y = _toy()
    g = ConditionalMLPGenerator(4, 3, 6, hidden_dims=(8,))
    d = ConditionalMLPDiscriminator(6, 3, hidden_dims=(8,))
    with pytest.raises(TypeError, match="ConditionalMLPGenerator"):
        train_cgan(torch.nn.Linear(2, 2), d, x, y, steps=1)
    with pytest.raises(ValueError, match="n_classes"):
        train_cgan(g, ConditionalMLPDiscriminator(6, 4, hidden_dims=(8,)), x, y, steps=1)
    with pytest.raises(ValueError, match="labels"):
        train_cgan(g, d, x, y[:-1], steps=1)
    with pytest.raises(ValueError, match="aux_weight"):
        train_cgan(g, d, x, y, steps=1, aux_weight=-1.0)
    with pytest.raises(ValueError, match="loss"):
        train_cgan(g, d, x, y, steps=1, loss="bce")
    with pytest.raises(ValueError, match="callback_every"):
        train_cgan(g, d, x, y, steps=1, callback=lambda step: None)


def test_mnist_cgan_config(monkeypatch):
    """The zoo entry builds the documented players and passes its config to get_or_train."""
    seen = {}

    def fake_get_or_train(name, *, build, train, config, seed, device):
        seen.update(name=name, config=config, seed=seed)
        return build()

    monkeypatch.setattr(zoo, "get_or_train", fake_get_or_train)
    pair = zoo.mnist_cgan(seed=2)
    assert seen["name"] == "mnist_cgan" and "mnist_cgan" in zoo.VERSIONS and seen["seed"] == 2
    assert seen["config"]["mode"] == "acgan" == pair.discriminator.mode
    assert isinstance(pair.generator, ConditionalMLPGenerator) and pair.generator.n_classes == 10
    x = pair.sample(torch.arange(10), generator=torch.Generator().manual_seed(0))
    assert x.shape == (10, 1, 28, 28)
    with pytest.raises(ValueError):
        zoo.mnist_cgan(seed=-1)
