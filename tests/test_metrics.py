"""genlib.metrics against reference implementations (scipy, scikit-image, direct formulas)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genlib import metrics
from genlib.data import grid_of_gaussians, ring_of_gaussians
from genlib.metrics import distribution


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- Fréchet / FID

def _fid_sqrtm(a: np.ndarray, b: np.ndarray) -> float:
    """The classic formula with scipy.linalg.sqrtm (the reference of pytorch-fid)."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _fid_nuclear(a: np.ndarray, b: np.ndarray) -> float:
    """Independent reference valid for singular covariances: with centred data A, B,
    Tr((Σa Σb)^½) = ‖A Bᵀ‖_* / sqrt((na - 1)(nb - 1))."""
    ac, bc = a - a.mean(0), b - b.mean(0)
    na, nb = len(a), len(b)
    nuclear = np.linalg.svd(ac @ bc.T, compute_uv=False).sum() / math.sqrt((na - 1) * (nb - 1))
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + (ac ** 2).sum() / (na - 1)
                 + (bc ** 2).sum() / (nb - 1) - 2 * nuclear)


def test_fid_matches_sqrtm_full_rank():
    g = gen(0)
    a = torch.randn(200, 16, generator=g, dtype=torch.float64)
    b = torch.randn(150, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64) * 0.3 + 0.5
    got = metrics.fid(a, b)
    assert got == pytest.approx(_fid_sqrtm(a.numpy(), b.numpy()), rel=1e-9)
    assert got == pytest.approx(_fid_nuclear(a.numpy(), b.numpy()), rel=1e-9)


def test_fid_singular_covariances():
    """Fewer samples than dimensions: both covariances are singular."""
    g = gen(1)
    a = torch.randn(10, 40, generator=g, dtype=torch.float64)
    b = torch.randn(12, 40, generator=g, dtype=torch.float64) + 0.1
    got = metrics.fid(a, b)
    assert got == pytest.approx(_fid_nuclear(a.numpy(), b.numpy()), rel=1e-10)
    assert got == pytest.approx(_fid_sqrtm(a.numpy(), b.numpy()), rel=1e-6)  # sqrtm is less exact here


def test_frechet_distance_closed_forms():
    assert metrics.frechet_distance(torch.zeros(3), torch.eye(3), torch.ones(3), torch.eye(3)) == pytest.approx(3.0)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    d = metrics.frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([0.0]), torch.tensor([[9.0]]))
    assert d == pytest.approx(1.0 + 1.0)
    # rank-1 covariances along orthogonal axes: Tr((S1 S2)^1/2) = 0
    s1, s2 = torch.diag(torch.tensor([2.0, 0.0])), torch.diag(torch.tensor([0.0, 3.0]))
    assert metrics.frechet_distance(torch.zeros(2), s1, torch.zeros(2), s2) == pytest.approx(5.0)
    # numpy inputs are accepted
    assert metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2)) == pytest.approx(0.0, abs=1e-12)


def test_fid_properties():
    g = gen(2)
    x = torch.randn(300, 8, generator=g)
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-10)
    shifted = metrics.fid(x, x + 1.0)
    assert shifted == pytest.approx(8.0, rel=1e-6)  # a mean shift only
    y = torch.randn(300, 8, generator=g)
    assert metrics.fid(x, y) == pytest.approx(metrics.fid(y, x), rel=1e-9)
    assert isinstance(metrics.fid(x, y), float)


# ---------------------------------------------------------------------------- KID

def _mmd2_direct(x: np.ndarray, y: np.ndarray) -> float:
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    total = 0.0
    for i in range(m):
        for j in range(m):
            if i != j:
                total += k(x[i:i + 1], x[j:j + 1]).item() / (m * (m - 1))
    for i in range(n):
        for j in range(n):
            if i != j:
                total += k(y[i:i + 1], y[j:j + 1]).item() / (n * (n - 1))
    return total - 2 * k(x, y).sum() / (m * n)


def test_kid_matches_direct_formula():
    g = gen(3)
    x = torch.randn(30, 5, generator=g, dtype=torch.float64)
    y = torch.randn(30, 5, generator=g, dtype=torch.float64) * 1.2 + 0.3
    mean, std = metrics.kid(x, y, subsets=3, subset_size=1000, generator=g)  # capped to 30: whole sets
    assert mean == pytest.approx(_mmd2_direct(x.numpy(), y.numpy()), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_reproducible_and_unbiased():
    g = gen(4)
    x, y = torch.randn(400, 4, generator=g), torch.randn(400, 4, generator=g)
    a = metrics.kid(x, y, subsets=20, subset_size=50, generator=gen(9))
    b = metrics.kid(x, y, subsets=20, subset_size=50, generator=gen(9))
    assert a == b
    assert abs(a[0]) < 3 * a[1] / math.sqrt(20) + 1e-3  # same distribution: mean ≈ 0
    far = metrics.kid(x, y + 1.0, subsets=20, subset_size=50, generator=gen(9))
    assert far[0] > 10 * abs(a[0])


# ---------------------------------------------------------------------------- Inception score

def test_inception_score_extremes():
    onehot = torch.eye(10).repeat(10, 1)  # each split of 10 rows has one of each class
    mean, std = metrics.inception_score(onehot, splits=10)
    assert mean == pytest.approx(10.0) and std == pytest.approx(0.0, abs=1e-12)
    mean, std = metrics.inception_score(torch.full((50, 10), 0.1), splits=5)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)
    one_class = torch.zeros(20, 4)
    one_class[:, 2] = 1.0
    assert metrics.inception_score(one_class, splits=2)[0] == pytest.approx(1.0)


def test_inception_score_matches_formula():
    p = torch.softmax(torch.randn(40, 6, generator=gen(5), dtype=torch.float64), dim=1)
    parts = [p[:20], p[20:]]
    ref = [math.exp(float((q * (q.log() - q.mean(0, keepdim=True).log())).sum(1).mean())) for q in parts]
    mean, std = metrics.inception_score(p, splits=2)
    assert mean == pytest.approx(np.mean(ref), rel=1e-10)
    assert std == pytest.approx(np.std(ref), rel=1e-8)


# ---------------------------------------------------------------------------- precision / recall

def _pr_brute(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(x):
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    def inside(q, ref, r):
        d = np.sqrt(((q[:, None] - ref[None]) ** 2).sum(-1))
        return (d <= r[None]).any(1).mean()

    return float(inside(fake, real, radii(real))), float(inside(real, fake, radii(fake)))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_brute_force(k, monkeypatch):
    g = gen(6)
    real = torch.randn(120, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(90, 3, generator=g, dtype=torch.float64) * 0.6 + 0.8
    ref = _pr_brute(real.numpy(), fake.numpy(), k)
    assert metrics.precision_recall(real, fake, k=k) == pytest.approx(ref)
    if k == 3:  # the blocked path: 17 rows per block, uneven last block
        monkeypatch.setattr(distribution, "_BLOCK_ELEMENTS", 17 * 120)
        assert metrics.precision_recall(real, fake, k=k) == pytest.approx(ref)


def test_precision_recall_behaviour():
    g = gen(7)
    real = torch.randn(200, 2, generator=g)
    assert metrics.precision_recall(real, real) == (1.0, 1.0)
    collapsed = real[real[:, 0] > 0.5]  # fakes on part of the real support
    precision, recall = metrics.precision_recall(real, collapsed, k=3)
    assert precision > 0.95 and recall < 0.6
    far = real + 20.0
    assert metrics.precision_recall(real, far) == (0.0, 0.0)


# ---------------------------------------------------------------------------- PSNR / SSIM

def _images(kind: str, shape, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    if kind == "random":
        x = torch.rand(shape, generator=g, dtype=torch.float64)
    else:  # structured: smooth gradients, a bright square and stripes
        h, w = shape[-2:]
        yy, xx = torch.meshgrid(torch.linspace(0, 1, h, dtype=torch.float64),
                                torch.linspace(0, 1, w, dtype=torch.float64), indexing="ij")
        base = 0.5 * xx + 0.3 * torch.sin(12 * yy) ** 2
        base[h // 4:h // 2, w // 3:2 * w // 3] = 0.95
        x = base.expand(shape).clone()
    noise = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    return x, (x + noise).clamp(0, 1)


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 17, 23), (2, 16, 16)])
def test_ssim_and_psnr_match_skimage(kind, shape):
    x, y = _images(kind, shape)
    channel_axis = 0 if len(shape) == 4 else None
    ref_ssim = np.mean([structural_similarity(x[i].numpy(), y[i].numpy(), gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False, data_range=1.0,
                                              channel_axis=channel_axis) for i in range(shape[0])])
    ref_psnr = np.mean([peak_signal_noise_ratio(x[i].numpy(), y[i].numpy(), data_range=1.0) for i in range(shape[0])])
    assert metrics.ssim(x, y) == pytest.approx(ref_ssim, abs=1e-10)
    assert metrics.psnr(x, y) == pytest.approx(ref_psnr, abs=1e-10)
    # float32 inputs and another data range
    assert metrics.ssim(255 * x.float(), 255 * y.float(), data_range=255.0) == pytest.approx(ref_ssim, abs=1e-4)
    assert metrics.psnr(255 * x.float(), 255 * y.float(), data_range=255.0) == pytest.approx(ref_psnr, abs=1e-4)


def test_ssim_psnr_properties():
    x, y = _images("structured", (2, 1, 20, 20))
    assert metrics.ssim(x, x) == 1.0
    assert metrics.ssim(x, y) < 1.0
    assert metrics.ssim(x, y) == pytest.approx(metrics.ssim(y, x))
    assert metrics.psnr(x, x) == math.inf
    assert metrics.psnr(torch.zeros(1, 4, 4), torch.full((1, 4, 4), 0.1)) == pytest.approx(20.0)


# ---------------------------------------------------------------------------- toy mixtures

def test_mode_coverage_on_true_mixtures():
    x, c = ring_of_gaussians(2500, generator=gen(10))
    ring = metrics.mode_coverage(x, c, std=0.02)
    assert ring.modes_covered == 8 and ring.high_quality_fraction > 0.95 and ring.reverse_kl < 0.01
    x, c = grid_of_gaussians(2500, generator=gen(11))
    grid = metrics.mode_coverage(x, c, std=0.05)
    assert grid.modes_covered == 25 and grid.high_quality_fraction > 0.95 and grid.reverse_kl < 0.03
    assert sum(grid.counts) == round(grid.high_quality_fraction * 2500)
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.modes_covered = 3


def test_mode_coverage_collapse():
    x, c = ring_of_gaussians(400, generator=gen(12))
    one_mode = c[2] + 0.01 * torch.randn(100, 2, generator=gen(13))
    r = metrics.mode_coverage(one_mode, c, std=0.02)
    assert r.modes_covered == 1 and r.counts[2] == 100
    assert r.reverse_kl == pytest.approx(math.log(8))
    off = metrics.mode_coverage(torch.zeros(10, 2), c, std=0.02)  # the ring's centre: far from all modes
    assert off.modes_covered == 0 and off.high_quality_fraction == 0 and off.reverse_kl == math.inf
    half = torch.cat([c[:4] + 0.0, torch.zeros(4, 2)])
    h = metrics.mode_coverage(half, c, std=0.02)
    assert h.high_quality_fraction == 0.5 and h.reverse_kl == pytest.approx(math.log(2))


# ---------------------------------------------------------------------------- latent

def test_active_units():
    g = gen(14)
    mu = torch.cat([torch.randn(500, 3, generator=g),            # active (var ≈ 1)
                    0.05 * torch.randn(500, 2, generator=g),     # inactive (var ≈ 0.0025)
                    torch.full((500, 1), 3.0)], dim=1)           # constant
    assert metrics.active_units(mu) == 3
    assert metrics.active_units(mu, threshold=1e-4) == 5
    assert metrics.active_units(mu, threshold=0.0) == 5
