"""Bad input to genlib.metrics and HMM raises ValueError/TypeError saying what was expected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlib import metrics
from genlib.models.hmm import HMM

F = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
P = torch.softmax(torch.randn(20, 5, generator=torch.Generator().manual_seed(1)), dim=1)
IMG = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(2))
NAN_F = F.clone()
NAN_F[3, 1] = float("nan")
EYE = torch.eye(4)
U = torch.full((2,), 0.5)
HMM_OK = HMM(U, torch.full((2, 2), 0.5), torch.full((2, 3), 1 / 3))

CASES = [
    # (id, call, exception, message regex)
    ("fd-mu-list", lambda: metrics.frechet_distance([0.0] * 4, EYE, torch.zeros(4), EYE), TypeError, "torch.Tensor"),
    ("fd-mu-shapes", lambda: metrics.frechet_distance(torch.zeros(4), EYE, torch.zeros(3), EYE), ValueError, "same shape"),
    ("fd-sigma-shape", lambda: metrics.frechet_distance(torch.zeros(4), torch.eye(3), torch.zeros(4), EYE),
     ValueError, r"sigma1 of shape \(4, 4\)"),
    ("fd-asymmetric", lambda: metrics.frechet_distance(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]),
                                                       torch.zeros(2), torch.eye(2)), ValueError, "symmetric"),
    ("fd-int-dtype", lambda: metrics.frechet_distance(torch.zeros(2, dtype=torch.int64), torch.eye(2),
                                                      torch.zeros(2), torch.eye(2)), TypeError, "floating"),
    ("fid-1d", lambda: metrics.fid(F[:, 0], F[:, 0]), ValueError, "2 dims"),
    ("fid-dims", lambda: metrics.fid(F, F[:, :3]), ValueError, "same feature dimension"),
    ("fid-one-row", lambda: metrics.fid(F[:1], F), ValueError, "at least 2 rows"),
    ("fid-empty", lambda: metrics.fid(F[:0], F), ValueError, "non-empty"),
    ("fid-nan", lambda: metrics.fid(NAN_F, F), ValueError, "finite"),
    ("fid-numpy-int", lambda: metrics.fid(np.ones((5, 2), dtype=np.int64), F[:, :2]), TypeError, "floating"),
    ("kid-subsets-0", lambda: metrics.kid(F, F, subsets=0), ValueError, "subsets > 0"),
    ("kid-size-float", lambda: metrics.kid(F, F, subset_size=10.0), TypeError, "subset_size to be an int"),
    ("kid-size-1", lambda: metrics.kid(F, F, subset_size=1), ValueError, "subset_size >= 2"),
    ("kid-generator", lambda: metrics.kid(F, F, generator=0), TypeError, "torch.Generator"),
    ("is-not-prob", lambda: metrics.inception_score(P * 2, splits=2), ValueError, r"in \[0, 1\]|sum to 1"),
    ("is-row-sum", lambda: metrics.inception_score(P * 0.5, splits=2), ValueError, "sum to 1"),
    ("is-negative", lambda: metrics.inception_score(P - 0.5, splits=2), ValueError, r"in \[0, 1\]"),
    ("is-splits-big", lambda: metrics.inception_score(P, splits=21), ValueError, "splits <= number of rows"),
    ("is-splits-0", lambda: metrics.inception_score(P, splits=0), ValueError, "splits > 0"),
    ("is-1d", lambda: metrics.inception_score(P[0]), ValueError, "2 dims"),
    ("pr-k-too-large", lambda: metrics.precision_recall(F, F[:5], k=5), ValueError, "k < number of rows"),
    ("pr-k-zero", lambda: metrics.precision_recall(F, F, k=0), ValueError, "k > 0"),
    ("pr-k-bool", lambda: metrics.precision_recall(F, F, k=True), TypeError, "k to be an int"),
    ("pr-dims", lambda: metrics.precision_recall(F, F[:, :2]), ValueError, "same feature dimension"),
    ("psnr-shape", lambda: metrics.psnr(IMG, IMG[:1]), ValueError, "same shape"),
    ("psnr-2d", lambda: metrics.psnr(IMG[0, 0], IMG[0, 0]), ValueError, "3 or 4 dims"),
    ("psnr-uint8", lambda: metrics.psnr((IMG * 255).to(torch.uint8), (IMG * 255).to(torch.uint8)), TypeError, "floating"),
    ("psnr-range", lambda: metrics.psnr(IMG, IMG, data_range=0.0), ValueError, "data_range > 0"),
    ("ssim-small", lambda: metrics.ssim(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)), ValueError, "at least 11x11"),
    ("ssim-nan", lambda: metrics.ssim(IMG * float("nan"), IMG), ValueError, "finite"),
    ("ssim-range-str", lambda: metrics.ssim(IMG, IMG, data_range="1"), TypeError, "data_range to be a number"),
    ("mc-dims", lambda: metrics.mode_coverage(F[:, :2], torch.zeros(8, 3), std=0.1), ValueError, "same dimension"),
    ("mc-std", lambda: metrics.mode_coverage(F[:, :2], torch.zeros(8, 2), std=-1.0), ValueError, "std > 0"),
    ("mc-empty", lambda: metrics.mode_coverage(F[:0, :2], torch.zeros(8, 2), std=0.1), ValueError, "non-empty"),
    ("au-one-row", lambda: metrics.active_units(F[:1]), ValueError, "N >= 2"),
    ("au-threshold", lambda: metrics.active_units(F, threshold=-0.1), ValueError, "threshold >= 0"),
    ("au-3d", lambda: metrics.active_units(F.view(20, 2, 2)), ValueError, "2 dims"),
    ("hmm-not-stochastic", lambda: HMM(torch.tensor([0.5, 0.6]), torch.eye(2), torch.eye(2)), ValueError, "sum to 1"),
    ("hmm-negative", lambda: HMM(U, torch.tensor([[1.5, -0.5], [0.5, 0.5]]), torch.eye(2)), ValueError, "non-negative"),
    ("hmm-trans-shape", lambda: HMM(U, torch.full((2, 3), 1 / 3), torch.eye(2)), ValueError, r"trans of shape \(2, 2\)"),
    ("hmm-float-seq", lambda: HMM_OK.log_likelihood(torch.zeros(2, 3)), TypeError, "int64"),
    ("hmm-symbol-range", lambda: HMM_OK.log_likelihood(torch.tensor([[0, 3]])), ValueError, r"symbols in \[0, 3\)"),
    ("hmm-empty-seq", lambda: HMM_OK.log_likelihood([torch.tensor([0]), torch.zeros(0, dtype=torch.int64)]),
     ValueError, "non-empty"),
    ("hmm-list-of-lists", lambda: HMM_OK.log_likelihood([[0, 1]]), TypeError, "1-D int64 tensor"),
    ("hmm-fit-iters", lambda: HMM_OK.fit(torch.tensor([[0, 1]]), iters=0), ValueError, "iters > 0"),
]


@pytest.mark.parametrize("call, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
