r"""Metrics for class-conditional generators: does each sample belong to the class it was asked for?

Unconditional metrics (FID, precision/recall) compare two *sets* of images and never see the
labels, so a generator that ignores its label can score as well as one that obeys it. The
functions here read the requested labels:

- :func:`conditional_accuracy`: how often a fixed classifier agrees with the requested label
  (overall and per class);
- :func:`intra_class_fid`: FID computed within each class, then averaged (Miyato & Koyama 2018);
- :func:`within_class_diversity`: mean pairwise feature distance within each class, to compare
  with the same statistic of real images (a collapsed class has a small one).

GAN-train / GAN-test (Shmelkov et al. 2018) need a classifier *trained* on generated (or real)
images, which is a modelling choice rather than a formula; chapters build it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genlib import _checks
from genlib.metrics.distribution import fid

__all__ = ["ConditionalAccuracy", "conditional_accuracy", "intra_class_fid", "within_class_diversity"]


def _labels(labels, n: int, name: str, n_classes: int | None = None) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"expected {name} to be an int64 tensor, got {type(labels).__name__}")
    if labels.dtype != torch.int64:
        raise TypeError(f"expected {name} of dtype int64, got {labels.dtype}")
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"expected {name} of shape ({n},) (one label per row), got {tuple(labels.shape)}")
    if n and int(labels.min()) < 0:
        raise ValueError(f"expected non-negative labels in {name}, got {int(labels.min())}")
    if n_classes is not None and n and int(labels.max()) >= n_classes:
        raise ValueError(f"expected labels in [0, {n_classes}) in {name}, got {int(labels.max())}")
    return labels


@dataclass(frozen=True)
class ConditionalAccuracy:
    """Result of :func:`conditional_accuracy`.

    Attributes:
        overall: fraction of all samples classified as their requested class.
        per_class: that fraction for the samples requested of each class (NaN for a class
            nobody asked for), a tuple of floats indexed by class.
    """

    overall: float
    per_class: tuple[float, ...]

    @property
    def worst_class(self) -> float:
        """The lowest per-class accuracy (classes nobody asked for are ignored)."""
        return min(v for v in self.per_class if v == v)


def conditional_accuracy(scores: torch.Tensor, requested: torch.Tensor) -> ConditionalAccuracy:
    r"""Agreement of a classifier with the labels the generator was asked for.

    .. math:: \mathrm{acc} = \frac1N\sum_i \mathbb 1\big[\arg\max_k s_{ik} = y_i\big],\qquad
              \mathrm{acc}_k = \frac{\sum_i \mathbb 1[\arg\max s_i = k,\ y_i = k]}{\sum_i \mathbb 1[y_i = k]}

    with :math:`s_i` the classifier's scores (probabilities or logits: only the arg max counts)
    for sample i and :math:`y_i` its requested label. Chance level is the frequency of the
    requested class (1/K for balanced requests). A generator that ignores its label scores
    about chance however good its images are; the metric is only as good as the classifier
    (check the classifier's own accuracy on real test images first).

    Args:
        scores: (N, K) floating tensor.
        requested: (N,) int64 labels in [0, K).

    Returns:
        A :class:`ConditionalAccuracy` (overall and per class).

    Raises:
        TypeError: non-floating scores, labels that are not an int64 tensor.
        ValueError: wrong shapes, labels outside [0, K), no rows.

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        >>> acc = conditional_accuracy(probs, torch.tensor([0, 1, 1]))
        >>> round(acc.overall, 3), acc.per_class
        (0.667, (1.0, 0.5))
    """
    s = _checks.tensor(scores, "scores", ndim=2)
    if s.shape[0] == 0:
        raise ValueError("expected at least one row in scores, got 0")
    y = _labels(requested, s.shape[0], "requested", s.shape[1]).to(s.device)
    hit = (s.argmax(1) == y).double()
    k = s.shape[1]
    counts = torch.bincount(y, minlength=k).double()
    hits = torch.bincount(y, weights=hit, minlength=k)
    per_class = torch.where(counts > 0, hits / counts.clamp_min(1), torch.full_like(hits, float("nan")))
    return ConditionalAccuracy(float(hit.mean()), tuple(float(v) for v in per_class))


def intra_class_fid(fake_features: torch.Tensor, fake_labels: torch.Tensor, real_features: torch.Tensor,
                    real_labels: torch.Tensor) -> tuple[float, tuple[float, ...]]:
    r"""FID within each class, and its mean over classes (intra-FID).

    .. math:: \text{intra-FID} = \frac1K \sum_{k=1}^K \mathrm{FID}\big(\{f(x): y = k\}_\text{fake},
              \{f(x): y = k\}_\text{real}\big)

    where the fake samples of class k are those *requested* as k. A generator that draws good
    images of the wrong class, or ignores its label, has a large intra-FID even when its
    overall FID is small. FID is biased upwards at small sample sizes (and per-class sets are
    small): compare models with the same number of samples per class.

    Args:
        fake_features, real_features: (n, d) floating features (same d).
        fake_labels, real_labels: (n,) int64 labels; every class present in either set must
            have at least 2 rows in both.

    Returns:
        ``(mean over classes, per-class FIDs)``; the classes are those present in
        ``real_labels``, in increasing order.

    Raises:
        TypeError, ValueError: as :func:`~genlib.metrics.fid`, for label tensors of the wrong
            type or length, and for a class with fewer than 2 samples on either side.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> f, y = torch.randn(400, 3, generator=g), torch.arange(400) % 2
        >>> mean, per_class = intra_class_fid(f, y, f, y)
        >>> mean < 1e-8, len(per_class)
        (True, 2)
    """
    ff = _checks.tensor(fake_features, "fake_features", ndim=2)
    rf = _checks.tensor(real_features, "real_features", ndim=2)
    fy = _labels(fake_labels, ff.shape[0], "fake_labels").to(ff.device)
    ry = _labels(real_labels, rf.shape[0], "real_labels").to(rf.device)
    classes = torch.unique(ry).tolist()
    extra = sorted(set(torch.unique(fy).tolist()) - set(classes))
    if extra:
        raise ValueError(f"expected every requested class among the real labels, got classes {extra} "
                         "with no real images")
    values = []
    for k in classes:
        a, b = ff[fy == k], rf[ry == k]
        if len(a) < 2 or len(b) < 2:
            raise ValueError(f"expected at least 2 fake and 2 real rows of class {k}, got {len(a)} and {len(b)}")
        values.append(fid(a, b))
    return sum(values) / len(values), tuple(values)


def within_class_diversity(features: torch.Tensor, labels: torch.Tensor) -> tuple[float, tuple[float, ...]]:
    r"""Mean pairwise Euclidean distance between the features of samples of the same class.

    .. math:: \mathrm{div}_k = \frac{1}{n_k(n_k-1)} \sum_{i \ne j,\ y_i = y_j = k} \lVert f_i - f_j\rVert_2,
              \qquad \mathrm{div} = \frac1K\sum_k \mathrm{div}_k

    Collapse inside a class (every "7" the same "7") drives :math:`\mathrm{div}_k` towards 0
    while conditional accuracy stays perfect; compare with the same statistic of real images
    of that class (a ratio near 1 is healthy). The value depends on the feature extractor.

    Args:
        features: (n, d) floating tensor.
        labels: (n,) int64 labels; every class present needs at least 2 rows.

    Returns:
        ``(mean over classes, per-class values)`` for the classes present, in increasing order.

    Raises:
        TypeError, ValueError: wrong types or shapes, a class with a single row.

    Example:
        >>> f = torch.tensor([[0.0], [1.0], [5.0], [5.0]])
        >>> within_class_diversity(f, torch.tensor([0, 0, 1, 1]))
        (0.5, (1.0, 0.0))
    """
    f = _checks.as_float64(features, "features", ndim=2)
    y = _labels(labels, f.shape[0], "labels").to(f.device)
    values = []
    for k in torch.unique(y).tolist():
        fk = f[y == k]
        n = len(fk)
        if n < 2:
            raise ValueError(f"expected at least 2 rows of class {k}, got {n}")
        d = torch.cdist(fk, fk, compute_mode="donot_use_mm_for_euclid_dist")  # exact zeros on the diagonal
        values.append(float(d.sum() / (n * (n - 1))))
    return sum(values) / len(values), tuple(values)
