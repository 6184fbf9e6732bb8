"""genlib.image, per-image PSNR/SSIM, the image-to-image networks and their training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlib import image
from genlib.metrics import psnr, ssim
from genlib.models import image2image as i2i
from genlib.models import seeded_generators
from genlib.models.image2image import ImageToImageNet, PatchDiscriminator
from genlib.train_image import train_image_to_image


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _digits(n=64, seed=0):
    """Smooth blob images in [0, 1] (cheap stand-ins for digits)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.arange(28.0)
    cy, cx = 8 + 12 * torch.rand(n, 1, 1, generator=g), 8 + 12 * torch.rand(n, 1, 1, generator=g)
    d2 = (r[None, :, None] - cy) ** 2 + (r[None, None, :] - cx) ** 2
    return torch.exp(-d2 / 18.0).unsqueeze(1)


# --- degradations --------------------------------------------------------------------------------

def test_downsample_upsample_shapes_and_ranges():
    x = _rand(3, 1, 28, 28)
    low = image.downsample(x, 4)
    assert low.shape == (3, 1, 7, 7)
    assert torch.allclose(low[0, 0, 0, 0], x[0, 0, :4, :4].mean())
    for mode in ("bicubic", "bilinear", "nearest"):
        up = image.upsample(low, 4, mode=mode)
        assert up.shape == x.shape
        assert up.min() >= 0 and up.max() <= 1
    assert torch.equal(image.upsample(low, 4, mode="nearest")[..., :4, :4],
                       low[..., :1, :1].expand(3, 1, 4, 4))
    assert torch.equal(image.downsample(x, 1), x)


def test_upsample_matches_interpolate_inside_range():
    low = 0.25 + 0.5 * _rand(2, 1, 7, 7)
    ref = torch.nn.functional.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(image.upsample(low, 4), ref.clamp(0, 1))


def test_degradation_bad_input():
    x = _rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="divisible"):
        image.downsample(x, 3)
    with pytest.raises(TypeError, match="int"):
        image.downsample(x, 2.0)
    with pytest.raises(ValueError, match="> 0"):
        image.upsample(x, 0)
    with pytest.raises(ValueError, match="mode"):
        image.upsample(x, 2, mode="area")
    with pytest.raises(ValueError, match="4 dims"):
        image.downsample(x[0], 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        image.upsample(x.numpy(), 2)
    with pytest.raises(TypeError, match="floating"):
        image.edge_map(torch.zeros(1, 1, 4, 4, dtype=torch.int64))


def test_add_noise_deterministic_and_clipped():
    x = _rand(4, 1, 28, 28)
    a = image.add_noise(x, 0.3, generator=torch.Generator().manual_seed(1))
    b = image.add_noise(x, 0.3, generator=torch.Generator().manual_seed(1))
    c = image.add_noise(x, 0.3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    raw = image.add_noise(x, 0.3, generator=torch.Generator().manual_seed(1), clip=False)
    assert raw.min() < 0 and abs((raw - x).std().item() - 0.3) < 0.02
    assert torch.equal(image.add_noise(x, 0.0), x)
    with pytest.raises(ValueError, match="sigma"):
        image.add_noise(x, -0.1)
    with pytest.raises(TypeError, match="sigma"):
        image.add_noise(x, "0.1")
    with pytest.raises(TypeError, match="generator"):
        image.add_noise(x, 0.1, generator=0)
    with pytest.raises(TypeError, match="clip"):
        image.add_noise(x, 0.1, clip=1)


def test_edge_map_blank_and_step():
    blank = torch.zeros(2, 1, 28, 28)
    assert torch.equal(image.edge_map(blank), blank)
    assert torch.equal(image.edge_map(torch.full((1, 1, 8, 8), 0.7)), torch.zeros(1, 1, 8, 8))
    step = torch.zeros(1, 1, 28, 28)
    step[..., 14:] = 1.0
    e = image.edge_map(step)
    assert e.max() == 1.0 and e.min() == 0.0
    nonzero_cols = torch.nonzero(e[0, 0].sum(0)).flatten().tolist()
    assert nonzero_cols == [13, 14]  # the two columns either side of the step, every row
    assert (e[0, 0][:, 13:15] == 1.0).all()
    binary = image.edge_map(step, threshold=0.5)
    assert set(binary.unique().tolist()) <= {0.0, 1.0} and binary.sum() == 2 * 28
    # per-image scaling: a faint step gives the same map as a strong one; a blank neighbour stays 0
    both = torch.cat([0.1 * step, blank[:1]])
    e2 = image.edge_map(both)
    assert torch.allclose(e2[0], e[0]) and torch.equal(e2[1], blank[0])
    with pytest.raises(ValueError, match="threshold"):
        image.edge_map(step, threshold=1.0)


def test_edge_map_matches_skimage_sobel_direction_free():
    skf = pytest.importorskip("skimage.filters")
    x = _digits(2)
    e = image.edge_map(x)
    for i in range(2):
        ref = skf.sobel(x[i, 0].double().numpy(), mode="nearest")
        ref = ref / ref.max()
        assert np.allclose(e[i, 0].numpy(), ref, atol=1e-5)


def test_box_masks():
    m = image.box_masks(50, 10, generator=torch.Generator().manual_seed(0))
    assert m.shape == (50, 1, 28, 28) and m.dtype == torch.float32
    assert (m.sum((1, 2, 3)) == 100).all()
    assert set(m.unique().tolist()) == {0.0, 1.0}
    rows, cols = m.amax(3)[:, 0], m.amax(2)[:, 0]  # (n, 28): which rows / columns the hole touches
    assert (rows.sum(1) == 10).all() and (cols.sum(1) == 10).all()
    tops = rows.argmax(1)
    assert len(set(tops.tolist())) > 5  # positions vary
    again = image.box_masks(50, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(m, again)
    c = image.box_masks(3, 10, center=True)
    assert (c[:, 0, 9:19, 9:19] == 1).all() and c.sum() == 300
    full = image.box_masks(2, 28)
    assert (full == 1).all()
    with pytest.raises(ValueError, match="size"):
        image.box_masks(2, 29)
    with pytest.raises(TypeError, match="int"):
        image.box_masks(2, 4.0)
    with pytest.raises(ValueError, match="n > 0"):
        image.box_masks(0, 4)


def test_composite():
    known, gen = _rand(4, 1, 28, 28, seed=1), _rand(4, 1, 28, 28, seed=2)
    m = image.box_masks(4, 8, generator=torch.Generator().manual_seed(0))
    y = image.composite(known, gen, m)
    assert torch.equal(y[m == 0], known[m == 0]) and torch.equal(y[m == 1], gen[m == 1])
    with pytest.raises(ValueError, match="masks"):
        image.composite(known, gen, m[:2])


def test_high_frequency_energy():
    x = _rand(8, 1, 28, 28)
    hfe = image.high_frequency_energy(x, reduction="none")
    assert hfe.shape == (8,) and hfe.dtype == torch.float64
    assert abs(hfe.mean().item() - (1 - math.pi * 0.25 ** 2 / 4)) < 0.03  # white noise
    blurred = image.upsample(image.downsample(x, 4), 4)
    assert (image.high_frequency_energy(blurred, reduction="none") < hfe).all()
    digits = _digits(8)
    assert image.high_frequency_energy(image.upsample(image.downsample(digits, 4), 4)) < \
        image.high_frequency_energy(digits)
    const = image.high_frequency_energy(torch.full((3, 1, 28, 28), 0.3), reduction="none")
    assert torch.equal(const, torch.zeros(3, dtype=torch.float64))
    assert image.high_frequency_energy(torch.zeros(1, 1, 28, 28)) == 0.0
    assert math.isclose(image.high_frequency_energy(x), hfe.mean().item())
    # invariant to brightness offset and contrast scale; in [0, 1]
    assert torch.allclose(image.high_frequency_energy(0.5 * x + 0.2, reduction="none"), hfe)
    assert ((hfe >= 0) & (hfe <= 1)).all()
    # a pure horizontal cosine at 0.3 cycles/pixel (0.6 Nyquist): all above 0.5, none above 0.7
    cos = torch.cos(2 * math.pi * 0.3 * torch.arange(20.0)).expand(1, 1, 20, 20)
    assert image.high_frequency_energy(cos, cutoff=0.5) == pytest.approx(1.0)
    assert image.high_frequency_energy(cos, cutoff=0.7) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="cutoff"):
        image.high_frequency_energy(x, cutoff=0.0)
    with pytest.raises(ValueError, match="reduction"):
        image.high_frequency_energy(x, reduction="sum")
    with pytest.raises(ValueError, match="finite"):
        image.high_frequency_energy(torch.full((1, 1, 4, 4), float("nan")))


# --- per-image PSNR / SSIM -----------------------------------------------------------------------

def test_psnr_ssim_reduction_none():
    skm = pytest.importorskip("skimage.metrics")
    x, y = _rand(5, 1, 28, 28, seed=1), _rand(5, 1, 28, 28, seed=2)
    y = (0.7 * x + 0.3 * y).clamp(0, 1)
    for fn in (psnr, ssim):
        per = fn(x, y, reduction="none")
        assert per.shape == (5,) and per.dtype == torch.float64
        assert math.isclose(per.mean().item(), fn(x, y), rel_tol=1e-12)
        assert fn(x, y) == fn(x, y, reduction="mean")
        with pytest.raises(ValueError, match="reduction"):
            fn(x, y, reduction="sum")
    xs, ys = x.double().numpy(), y.double().numpy()
    for i in range(5):
        assert math.isclose(psnr(x, y, reduction="none")[i].item(),
                            skm.peak_signal_noise_ratio(xs[i, 0], ys[i, 0], data_range=1.0), rel_tol=1e-9)
        ref = skm.structural_similarity(xs[i, 0], ys[i, 0], gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0)
        assert math.isclose(ssim(x, y, reduction="none")[i].item(), ref, rel_tol=1e-6)
    assert psnr(x, x, reduction="none").isinf().all()


# --- networks ------------------------------------------------------------------------------------

def test_image_to_image_net_shapes_ranges_and_size():
    net = ImageToImageNet()
    assert sum(p.numel() for p in net.parameters()) < 200_000
    y = net(_rand(4, 1, 28, 28))
    assert y.shape == (4, 1, 28, 28) and ((y > 0) & (y < 1)).all()
    inpaint = ImageToImageNet(2, 1, width=8)
    assert inpaint(_rand(3, 2, 28, 28)).shape == (3, 1, 28, 28)
    lin = ImageToImageNet(width=8, output="linear", seeds=[0])
    clamp = ImageToImageNet(width=8, output="clamp", seeds=[0])
    x = _rand(2, 1, 28, 28)
    assert torch.allclose(clamp(x), lin(x).clamp(0, 1))
    assert ImageToImageNet(width=8)(_rand(2, 1, 16, 12)).shape == (2, 1, 16, 12)


def test_residual_adds_the_input():
    x = _rand(3, 2, 28, 28)
    res = ImageToImageNet(2, 1, width=8, residual=True, output="linear", seeds=[3])
    plain = ImageToImageNet(2, 1, width=8, output="linear", seeds=[3])
    assert torch.allclose(res(x), x[:, :1] + plain(x), atol=1e-6)
    clamped = ImageToImageNet(2, 1, width=8, residual=True, output="clamp", seeds=[3])
    assert torch.allclose(clamped(x), (x[:, :1] + plain(x)).clamp(0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="sigmoid"):
        ImageToImageNet(residual=True)
    with pytest.raises(ValueError, match="out_channels"):
        ImageToImageNet(1, 2, residual=True, output="clamp")


def test_patch_discriminator_shapes():
    d = PatchDiscriminator(2)
    assert d(_rand(4, 2, 28, 28)).shape == (4, 49)
    assert PatchDiscriminator(3, width=8, spectral_norm=True)(_rand(2, 3, 28, 28)).shape == (2, 49)
    dm = PatchDiscriminator(2, width=8, members=3, seeds=[1, 2, 3])
    assert dm(_rand(3, 4, 2, 28, 28)).shape == (3, 4, 49)
    assert dm(_rand(4, 2, 28, 28)).shape == (3, 4, 49)


def test_receptive_field_is_18():
    d = PatchDiscriminator(1, width=4, seeds=[0])
    x = torch.zeros(1, 1, 28, 28, requires_grad=True)
    d(x)[0, 24].backward()  # the centre patch (3, 3) of the 7 x 7 map
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert rows.max() - rows.min() + 1 <= 18


@pytest.mark.parametrize("grouped", [False, True])
def test_members_equal_single_models(monkeypatch, grouped):
    monkeypatch.setattr(i2i, "GROUPED", grouped)
    seeds = [4, 7, 9]
    x = _rand(3, 5, 2, 28, 28)
    gm = ImageToImageNet(2, 1, width=8, members=3, seeds=seeds)
    dm = PatchDiscriminator(3, width=8, members=3, seeds=seeds, spectral_norm=True)
    y, logit = gm(x), dm(torch.cat([x, x[:, :, :1]], 2))
    for i, s in enumerate(seeds):
        alone = ImageToImageNet(2, 1, width=8, seeds=[s])
        d_alone = PatchDiscriminator(3, width=8, seeds=[s], spectral_norm=True)
        for a, b in zip(alone.parameters(), gm.member(i).parameters(), strict=True):
            assert torch.equal(a, b)
        assert torch.allclose(alone(x[i]), y[i], atol=1e-6)
        assert torch.allclose(d_alone(torch.cat([x[i], x[i, :, :1]], 1)), logit[i], atol=1e-5)
        assert torch.equal(d_alone.c1.sn_u, dm.member(i).c1.sn_u)  # advanced by one step each


def test_member_seeds_and_bad_arguments():
    a = ImageToImageNet(width=8, seeds=[1])
    b = ImageToImageNet(width=8, seeds=[1])
    c = ImageToImageNet(width=8, seeds=[2])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.e1.weight, c.e1.weight)
    with pytest.raises(ValueError, match="one seed per member"):
        ImageToImageNet(width=8, seeds=[1, 2])
    with pytest.raises(ValueError, match="distinct"):
        ImageToImageNet(width=8, members=2, seeds=[1, 1])
    with pytest.raises(TypeError, match="seeds"):
        ImageToImageNet(width=8, seeds=3)
    with pytest.raises(TypeError, match="int"):
        ImageToImageNet(width=8.0)
    with pytest.raises(ValueError, match="output"):
        ImageToImageNet(output="tanh")
    with pytest.raises(ValueError, match="members > 0"):
        PatchDiscriminator(2, members=0)
    with pytest.raises(TypeError, match="spectral_norm"):
        PatchDiscriminator(2, spectral_norm=1)
    net = ImageToImageNet(width=8, members=2, seeds=[0, 1])
    with pytest.raises(ValueError, match=r"\(2, N, 1, H, W\)"):
        net(torch.zeros(3, 2, 1, 28, 28))
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(2, 1, 26, 26))
    with pytest.raises(TypeError, match="floating"):
        net(torch.zeros(2, 1, 28, 28, dtype=torch.long))
    with pytest.raises(ValueError, match="0 <= i < 2"):
        net.member(2)


# --- training ------------------------------------------------------------------------------------

def _sr_data(n=128):
    x = _digits(n)
    return image.upsample(image.downsample(x, 4), 4), x


def test_training_lowers_l1_and_baseline_needs_no_disc():
    c, x = _sr_data()
    gen = ImageToImageNet(width=8, residual=True, output="clamp", seeds=[0])
    hist = train_image_to_image(gen, None, c, x, steps=60, batch_size=32, lr_g=2e-3,
                                generator=torch.Generator().manual_seed(0))
    assert len(hist["pixel"]) == 60 and hist["g_adv"] == [] and hist["d_loss"] == []
    assert np.mean(hist["pixel"][-10:]) < 0.8 * np.mean(hist["pixel"][:5])
    assert not gen.training
    with torch.no_grad():
        assert psnr(gen(c), x) > psnr(c, x)


def test_adversarial_run_shares_minibatches_with_baseline():
    c, x = _sr_data(64)
    seen = {}
    for adv in (0.0, 1.0):
        gen = ImageToImageNet(width=4, seeds=[0])
        disc = PatchDiscriminator(2, width=4, seeds=[1])
        idx_log = []
        orig = gen.forward

        def spy(t, orig=orig, idx_log=idx_log):
            idx_log.append(t.detach().clone())
            return orig(t)
        gen.forward = spy
        hist = train_image_to_image(gen, disc, c, x, steps=3, batch_size=8, adv_weight=adv,
                                    generator=torch.Generator().manual_seed(5))
        seen[adv] = idx_log
        assert len(hist["d_loss"]) == (3 if adv else 0)
    # one G forward per step, on the same conditions in both runs
    assert len(seen[0.0]) == len(seen[1.0]) == 3
    assert all(torch.equal(a, b) for a, b in zip(seen[0.0], seen[1.0]))


def test_masked_training_keeps_known_pixels_and_hole_loss():
    x = _digits(32)
    m = image.box_masks(32, 10, generator=torch.Generator().manual_seed(0))
    cond = torch.cat([x * (1 - m), m], 1)
    gen = ImageToImageNet(2, 1, width=4, seeds=[0])
    disc = PatchDiscriminator(3, width=4, seeds=[1])
    seen = []

    def cb(step):
        with torch.no_grad():
            seen.append(image.composite(cond[:, :1], gen(cond), m))
    hist = train_image_to_image(gen, disc, cond, x, steps=2, batch_size=8, adv_weight=0.5, masks=m,
                                generator=torch.Generator().manual_seed(0), callback=cb, callback_every=1)
    out = seen[-1]
    assert torch.equal(out[m == 0], x[m == 0])  # untouched outside the hole
    # the recorded pixel loss is the hole-only L1 of the step's minibatch
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(32, (8,), generator=g)
    gen0 = ImageToImageNet(2, 1, width=4, seeds=[0])
    with torch.no_grad():
        y = image.composite(cond[idx, :1], gen0(cond[idx]), m[idx])
    expected = ((y - x[idx]).abs() * m[idx]).sum() / m[idx].sum()
    assert math.isclose(hist["pixel"][0], expected.item(), rel_tol=1e-5)
    assert len(hist["d_loss"]) == 2 and len(hist["g_adv"]) == 2


def test_members_training_equals_single_runs():
    c, x = _sr_data(64)
    seeds, data_seeds = [0, 1, 2], [10, 11, 12]
    gm = ImageToImageNet(width=4, members=3, seeds=seeds)
    dm = PatchDiscriminator(2, width=4, members=3, seeds=[5, 6, 7])
    hist = train_image_to_image(gm, dm, c, x, steps=3, batch_size=8, adv_weight=1.0, loss="lsgan",
                                generator=seeded_generators(data_seeds))
    assert len(hist["pixel"]) == 3 and len(hist["pixel"][0]) == 3
    for i in range(3):
        g1 = ImageToImageNet(width=4, seeds=[seeds[i]])
        d1 = PatchDiscriminator(2, width=4, seeds=[5 + i])
        h1 = train_image_to_image(g1, d1, c, x, steps=3, batch_size=8, adv_weight=1.0, loss="lsgan",
                                  generator=torch.Generator().manual_seed(data_seeds[i]))
        assert np.allclose([p[i] for p in hist["pixel"]], h1["pixel"], rtol=1e-4)
        assert np.allclose([d[i] for d in hist["d_loss"]], h1["d_loss"], rtol=1e-4)
        for a, b in zip(g1.parameters(), gm.member(i).parameters()):
            assert torch.allclose(a, b, atol=1e-5)
    one = train_image_to_image(ImageToImageNet(width=4, members=3, seeds=seeds), None, c, x, steps=2,
                               batch_size=8, generator=torch.Generator().manual_seed(0))
    assert len(one["pixel"][0]) == 3


def test_training_bad_input():
    c, x = _sr_data(16)
    gen, disc = ImageToImageNet(width=4, seeds=[0]), PatchDiscriminator(2, width=4, seeds=[1])
    kw = {"steps": 1, "batch_size": 4}
    with pytest.raises(ValueError, match="discriminator"):
        train_image_to_image(gen, None, c, x, adv_weight=1.0, **kw)
    with pytest.raises(ValueError, match="same N"):
        train_image_to_image(gen, disc, c[:8], x, **kw)
    with pytest.raises(ValueError, match="masks of shape"):
        train_image_to_image(gen, disc, c, x, masks=torch.ones(16, 2, 28, 28), **kw)
    with pytest.raises(ValueError, match="0s and 1s"):
        train_image_to_image(gen, disc, c, x, masks=torch.full((16, 1, 28, 28), 0.5), **kw)
    with pytest.raises(ValueError, match="pixel_loss"):
        train_image_to_image(gen, disc, c, x, pixel_loss="l3", **kw)
    with pytest.raises(ValueError, match="loss"):
        train_image_to_image(gen, disc, c, x, loss="bce", **kw)
    with pytest.raises(ValueError, match="adv_weight"):
        train_image_to_image(gen, disc, c, x, adv_weight=-1.0, **kw)
    with pytest.raises(ValueError, match="same number of members"):
        train_image_to_image(gen, PatchDiscriminator(2, width=4, members=2), c, x, **kw)
    with pytest.raises(ValueError, match="1 generators"):
        train_image_to_image(gen, disc, c, x, generator=seeded_generators([0, 1]), **kw)
    with pytest.raises(TypeError, match="generator"):
        train_image_to_image(gen, disc, c, x, generator=0, **kw)
    with pytest.raises(TypeError, match="torch.Tensor"):
        train_image_to_image(gen, disc, c.numpy(), x, **kw)
    with pytest.raises(TypeError, match="nn.Module"):
        train_image_to_image(lambda t: t, None, c, x, **kw)
    with pytest.raises(ValueError, match="callback_every"):
        train_image_to_image(gen, disc, c, x, callback=print, **kw)
