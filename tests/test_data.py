import pytest
import torch

import genlib
from genlib import data


def test_mnist_split_is_stratified_and_disjoint():
    xtr, ytr = data.mnist("train")
    xte, yte = data.mnist("test")
    xall, _ = data.mnist("all")
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28) and len(xall) == 5000
    assert torch.equal(torch.bincount(ytr), torch.full((10,), 400))
    assert torch.equal(torch.bincount(yte), torch.full((10,), 100))
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    # no test image appears in the training split
    tr = {bytes(r) for r in (xtr.flatten(1) * 255).round().to(torch.uint8).numpy()}
    assert not any(bytes(r) in tr for r in (xte.flatten(1) * 255).round().to(torch.uint8).numpy()[:200])


def test_mnist_options_and_determinism():
    x1, _ = data.mnist("test", flatten=True, binarize=True)
    x2, _ = data.mnist("test", flatten=True, binarize=True)
    assert x1.shape == (1000, 784) and torch.equal(x1, x2)
    assert set(x1.unique().tolist()) <= {0.0, 1.0}


def test_mnist_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.mnist("validation")


def test_digits():
    x, y = data.digits("test")
    assert x.shape[1:] == (1, 8, 8) and x.max() <= 1.0 and len(x) == len(y)


@pytest.mark.parametrize("fn, n_modes, kw", [(data.ring_of_gaussians, 8, {}), (data.grid_of_gaussians, 25, {})])
def test_toy_mixtures(fn, n_modes, kw):
    g = genlib.seed_everything(0)
    x, centers = fn(5000, generator=g, **kw)
    assert x.shape == (5000, 2) and centers.shape == (n_modes, 2)
    nearest = torch.cdist(x, centers).argmin(1)
    counts = torch.bincount(nearest, minlength=n_modes).float()
    assert (counts / 5000 - 1 / n_modes).abs().max() < 0.03  # equal weights
    assert centers.mean(0).abs().max() < 1e-6                # centred on 0


def test_toy_mixture_reproducible_with_generator():
    a, _ = data.ring_of_gaussians(10, generator=torch.Generator().manual_seed(3))
    b, _ = data.ring_of_gaussians(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_grid_geometry():
    _, c = data.grid_of_gaussians(1, side=5, spacing=2.0)
    assert sorted(set(c[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_mixture_1d_density_cdf_sampler():
    m = data.mixture_1d("bimodal")
    grid = torch.linspace(-8, 8, 20001, dtype=torch.float64)
    assert abs(torch.trapezoid(m.pdf(grid), grid).item() - 1) < 1e-6
    u = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    assert torch.allclose(m.cdf(m.icdf(u)), u, atol=1e-9)
    s = m.sample(20000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (20000, 1) and abs(s.mean().item()) < 0.05


def test_batches_cover_everything_once():
    x = torch.arange(10).float().unsqueeze(1)
    y = torch.arange(10)
    seen = torch.cat([b[1] for b in data.batches(x, y, batch_size=3, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(b[0]) for b in data.batches(x, batch_size=3, shuffle=False, drop_last=True)] == [3, 3, 3]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: data.ring_of_gaussians(0), ValueError, "n > 0"),
    (lambda: data.ring_of_gaussians(10, std=-1.0), ValueError, "std"),
    (lambda: data.grid_of_gaussians(10, side=2.5), TypeError, "side"),
    (lambda: data.ring_of_gaussians(10, generator=0), TypeError, "generator"),
    (lambda: data.mixture_1d("pentamodal"), ValueError, "kind"),
    (lambda: data.Mixture1D([0.0, 1.0], [1.0]), ValueError, "stds"),
    (lambda: list(data.batches(torch.zeros(3, 1), torch.zeros(4), batch_size=2)), ValueError, "first dimension"),
    (lambda: list(data.batches(torch.zeros(3, 1), batch_size=0)), ValueError, "batch_size"),
    (lambda: genlib.seed_everything(-1), ValueError, "non-negative"),
    (lambda: genlib.seed_everything(1.5), TypeError, "int"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_seed_everything_reproducible():
    genlib.seed_everything(7)
    a = torch.randn(3)
    g = genlib.seed_everything(7)
    assert torch.equal(a, torch.randn(3))
    assert torch.equal(torch.randn(2, generator=g), torch.randn(2, generator=torch.Generator().manual_seed(7)))


def test_default_device_override(monkeypatch):
    """GENLIB_DEVICE wins over the detection: "meta" is a device no machine detects."""
    monkeypatch.setenv("GENLIB_DEVICE", "meta")
    assert genlib.default_device() == torch.device("meta")
    monkeypatch.setenv("GENLIB_DEVICE", "")  # empty: ignored
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert genlib.default_device() == torch.device(expected)
