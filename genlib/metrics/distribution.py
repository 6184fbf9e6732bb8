"""Distances between sample sets in a feature space: FID, KID, IS, precision/recall.

All statistics are computed in float64 on the device of the first input and returned as
Python floats. Rows are samples, columns are features.
"""

from __future__ import annotations

import torch

from genlib import _checks
from genlib._random import randperm

__all__ = ["frechet_distance", "fid", "kid", "inception_score", "precision_recall"]

# Largest number of pairwise distances held at once by ``precision_recall`` (64 MiB in float64).
_BLOCK_ELEMENTS = 2 ** 23


_float64 = _checks.as_float64  # metrics convert (see that function for the policy)


def _features(a, b, name_a: str, name_b: str, *, min_rows: int = 2):
    a = _float64(a, name_a, ndim=2)
    b = _float64(b, name_b, ndim=2, device=a.device)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"expected {name_a} and {name_b} to have the same feature dimension, "
                         f"got {a.shape[1]} and {b.shape[1]}")
    for t, n in ((a, name_a), (b, name_b)):
        if t.shape[0] < min_rows:
            raise ValueError(f"expected {n} to have at least {min_rows} rows, got shape {tuple(t.shape)}")
    return a, b


def _clip_eigenvalues(w: torch.Tensor) -> torch.Tensor:
    """Zero eigenvalues below the round-off level (as numpy's matrix_rank), so that null
    directions of a singular matrix contribute 0 rather than sqrt(1e-16) = 1e-8 each."""
    tol = w.abs().max().clamp_min(torch.finfo(w.dtype).tiny) * w.shape[0] * torch.finfo(w.dtype).eps
    return torch.where(w > tol, w, torch.zeros_like(w))


def _sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(s)
    return (v * _clip_eigenvalues(w).sqrt()) @ v.T


def _covariance(name: str, s: torch.Tensor, d: int) -> torch.Tensor:
    if s.shape != (d, d):
        raise ValueError(f"expected {name} of shape ({d}, {d}), got {tuple(s.shape)}")
    asym = (s - s.T).abs().max().item()
    if asym > 1e-5 * max(s.abs().max().item(), 1e-12):
        raise ValueError(f"expected {name} to be symmetric, got max |S - S^T| = {asym:.3g}")
    return (s + s.T) / 2


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    r"""Fréchet (2-Wasserstein) distance between two Gaussians.

    .. math::
        d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{Tr}\Sigma_1 + \operatorname{Tr}\Sigma_2
              - 2 \operatorname{Tr}\big(\Sigma_1 \Sigma_2\big)^{1/2}

    The trace term is computed without a general matrix square root: the eigenvalues of
    :math:`\Sigma_1\Sigma_2` equal those of the symmetric PSD matrix
    :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}`, so
    :math:`\operatorname{Tr}(\Sigma_1\Sigma_2)^{1/2} = \sum_i \sqrt{\lambda_i}` with both
    eigen-decompositions done by ``eigh`` and eigenvalues below round-off (|λ| ≤ d·ε·λ_max)
    set to 0. This stays real-valued and accurate for singular covariances (fewer samples
    than dimensions), where ``scipy.linalg.sqrtm`` of the non-symmetric product can return
    complex round-off and loses digits; it is also faster (see ``bench/bench_metrics.py``).

    Args:
        mu1, mu2: means, shape (d,); tensors or NumPy arrays.
        sigma1, sigma2: symmetric PSD covariances, shape (d, d).

    Returns:
        The squared distance as a float (clipped at 0 against round-off).

    Raises:
        TypeError: for non-tensor or non-floating inputs.
        ValueError: for mismatched shapes, asymmetric covariances or non-finite values.

    Example:
        >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), torch.eye(2))
        2.0
    """
    mu1 = _float64(mu1, "mu1", ndim=1)
    dev, d = mu1.device, mu1.shape[0]
    mu2 = _float64(mu2, "mu2", ndim=1, device=dev)
    if mu2.shape != mu1.shape:
        raise ValueError(f"expected mu1 and mu2 of the same shape, got {tuple(mu1.shape)} and {tuple(mu2.shape)}")
    sigma1 = _covariance("sigma1", _float64(sigma1, "sigma1", ndim=2, device=dev), d)
    sigma2 = _covariance("sigma2", _float64(sigma2, "sigma2", ndim=2, device=dev), d)
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eig = _clip_eigenvalues(torch.linalg.eigvalsh((middle + middle.T) / 2))
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * eig.sqrt().sum()
    return max(value.item(), 0.0)


def fid(features_a, features_b) -> float:
    r"""Fréchet distance between Gaussians fitted to two feature sets (FID with any extractor).

    .. math:: \mathrm{FID} = d^2\big(\mathcal N(\hat\mu_a, \hat\Sigma_a), \mathcal N(\hat\mu_b, \hat\Sigma_b)\big)

    with sample means and unbiased (``n - 1``) covariances in float64. FID is biased upwards
    for small sample sizes; compare values computed with the same number of samples.

    Args:
        features_a, features_b: (n_a, d) and (n_b, d) floating tensors, n ≥ 2 each.

    Returns:
        The FID as a float.

    Raises:
        TypeError, ValueError: as :func:`frechet_distance`, or for fewer than 2 rows.

    Example:
        >>> x = torch.randn(500, 8)
        >>> fid(x, x) < 1e-8
        True
    """
    a, b = _features(features_a, features_b, "features_a", "features_b")
    return frechet_distance(a.mean(0), torch.cov(a.T).reshape(a.shape[1], -1),
                            b.mean(0), torch.cov(b.T).reshape(b.shape[1], -1))


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    d, m = x.shape[1], x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within - 2 * kxy.mean()


def kid(features_a, features_b, *, subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    r"""Kernel Inception Distance (Bińkowski et al. 2018) with any feature extractor.

    The unbiased estimate of MMD² with the cubic polynomial kernel
    :math:`k(x, y) = (x^\top y / d + 1)^3` on each of ``subsets`` random subsets of size m:

    .. math::
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)}\sum_{i\ne j}\big[k(x_i,x_j) + k(y_i,y_j)\big]
        - \frac{2}{m^2}\sum_{i,j} k(x_i, y_j)

    Each subset is drawn without replacement from each set. ``subset_size`` is capped at
    ``min(n_a, n_b)``; when it equals both sizes every subset is the whole data and the
    standard deviation is 0. The estimate is unbiased, so it can be slightly negative.

    Args:
        features_a, features_b: (n_a, d) and (n_b, d) floating tensors, n ≥ 2 each.
        subsets: number of subsets averaged.
        subset_size: samples per subset (capped as above).
        generator: source of randomness for the subsets.

    Returns:
        ``(mean, std)`` over subsets (population std), as floats.

    Raises:
        TypeError, ValueError: for bad features, non-positive counts or a bad generator.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mean, std = kid(torch.randn(200, 4), torch.randn(200, 4) + 1, subsets=10, subset_size=100, generator=g)
        >>> mean > 0.1
        True
    """
    a, b = _features(features_a, features_b, "features_a", "features_b")
    _checks.positive_int(subsets, "subsets")
    _checks.positive_int(subset_size, "subset_size")
    _checks.generator_arg(generator)
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"expected subset_size >= 2, got {subset_size}")
    values = torch.empty(subsets, dtype=torch.float64, device=a.device)
    for s in range(subsets):
        ia = randperm(a.shape[0], generator=generator, device=a.device)[:m]
        ib = randperm(b.shape[0], generator=generator, device=a.device)[:m]
        values[s] = _mmd2_unbiased(a[ia], b[ib])
    return values.mean().item(), values.std(correction=0).item()


def inception_score(probs, *, splits: int = 10) -> tuple[float, float]:
    r"""Inception Score (Salimans et al. 2016) of class probabilities from any classifier.

    .. math:: \mathrm{IS} = \exp\Big(\mathbb E_x\, \mathrm{KL}\big(p(y\mid x)\,\Vert\, p(y)\big)\Big),
              \qquad p(y) = \mathbb E_x\, p(y \mid x)

    computed on each of ``splits`` contiguous equal parts (as the original code), with
    :math:`0 \log 0 = 0`. It lies in [1, C] for C classes: C for confident, class-balanced
    predictions, 1 when every prediction is the same.

    Args:
        probs: (N, C) floating tensor; rows are probabilities summing to 1 (±1e-3).
        splits: number of parts, 1 ≤ splits ≤ N.

    Returns:
        ``(mean, std)`` over splits (population std), as floats.

    Raises:
        TypeError, ValueError: for a bad tensor, rows that are not probabilities, or bad splits.

    Example:
        >>> mean, std = inception_score(torch.eye(10).repeat(2, 1), splits=2)
        >>> round(mean, 6), round(std, 6)
        (10.0, 0.0)
    """
    p = _float64(probs, "probs", ndim=2)
    _checks.positive_int(splits, "splits")
    n = p.shape[0]
    if splits > n:
        raise ValueError(f"expected splits <= number of rows ({n}), got {splits}")
    _checks.in_range(p, "probs", 0.0, 1.0)
    err = (p.sum(1) - 1).abs().max().item()
    if err > 1e-3:
        raise ValueError(f"expected each row of probs to sum to 1, got a row sum off by {err:.3g}")
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        py = part.mean(0, keepdim=True)
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, py)).sum(1)
        scores.append(kl.mean().exp())
    scores = torch.stack(scores)
    return scores.mean().item(), scores.std(correction=0).item()


def _sq_dists(q: torch.Tensor, ref: torch.Tensor, ref_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (B, N) by one matrix product (what cdist does, minus the sqrt)."""
    d2 = torch.addmm(ref_sq[None, :], q, ref.T, alpha=-2)  # |r|^2 - 2 q.r
    return d2.add_(q.square().sum(1, keepdim=True)).clamp_min_(0)


def _kth_radii2(x: torch.Tensor, k: int, rows: int) -> torch.Tensor:
    """Squared distance from each row of x to its k-th nearest other row, in row blocks."""
    sq = x.square().sum(1)
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], rows):
        d2 = _sq_dists(x[s:s + rows], x, sq)  # (B, N); the self-distance ~0 is the smallest
        out[s:s + rows] = d2.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def _inside(query: torch.Tensor, ref: torch.Tensor, radii2: torch.Tensor, rows: int) -> torch.Tensor:
    """Whether each query row lies within the ball of some ref row j (squared radius radii2[j])."""
    sq = ref.square().sum(1)
    out = torch.empty(query.shape[0], dtype=torch.bool, device=query.device)
    for s in range(0, query.shape[0], rows):
        out[s:s + rows] = (_sq_dists(query[s:s + rows], ref, sq) <= radii2).any(1)
    return out


def precision_recall(real_features, fake_features, *, k: int = 3) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Each point of a set S carries a ball of radius :math:`r_k(s)`, the distance to its k-th
    nearest neighbour in S (itself excluded). With
    :math:`\mathcal M(S) = \bigcup_{s\in S} B(s, r_k(s))`,

    .. math::
        \mathrm{precision} = \frac{1}{|F|}\sum_{f\in F} [f \in \mathcal M(R)], \qquad
        \mathrm{recall} = \frac{1}{|R|}\sum_{r\in R} [r \in \mathcal M(F)]

    Squared pairwise distances are computed in float64 in row blocks of at most 2²³ entries
    (one matrix product each), so memory stays bounded (~64 MiB per block, a few blocks'
    worth at peak) however large the sets: 10k × 10k needs no 800 MB distance matrix.

    Args:
        real_features: (N, d) floating tensor.
        fake_features: (M, d) floating tensor.
        k: neighbourhood size, 1 ≤ k < min(N, M).

    Returns:
        ``(precision, recall)`` as floats in [0, 1].

    Raises:
        TypeError, ValueError: for bad features or a bad k.

    Example:
        >>> x = torch.randn(300, 2)
        >>> precision_recall(x, x)
        (1.0, 1.0)
    """
    real, fake = _features(real_features, fake_features, "real_features", "fake_features")
    _checks.positive_int(k, "k")
    if k >= min(real.shape[0], fake.shape[0]):
        raise ValueError(f"expected k < number of rows of each set ({real.shape[0]}, {fake.shape[0]}), got k={k}")
    rows = max(1, _BLOCK_ELEMENTS // max(real.shape[0], fake.shape[0]))
    real_radii = _kth_radii2(real, k, rows)
    fake_radii = _kth_radii2(fake, k, rows)
    precision = _inside(fake, real, real_radii, rows).double().mean().item()
    recall = _inside(real, fake, fake_radii, rows).double().mean().item()
    return precision, recall
