"""Conditional metrics: accuracy against the requested label, intra-class FID, within-class diversity."""

from __future__ import annotations

import math

import pytest
import torch

from genlib.metrics import conditional_accuracy, fid, intra_class_fid, within_class_diversity


def test_conditional_accuracy_counts_agreement_per_class():
    scores = torch.eye(3)[torch.tensor([0, 0, 1, 2, 2, 1])]  # predicted classes 0 0 1 2 2 1
    acc = conditional_accuracy(scores, torch.tensor([0, 1, 1, 2, 0, 1]))
    assert acc.overall == pytest.approx(4 / 6)
    assert acc.per_class == pytest.approx((0.5, 2 / 3, 1.0))
    assert acc.worst_class == pytest.approx(0.5)


def test_label_ignoring_predictions_score_chance():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(10_000, 10, generator=g)  # a classifier's verdict unrelated to the request
    acc = conditional_accuracy(scores, torch.arange(10_000) % 10)
    assert abs(acc.overall - 0.1) < 0.015  # chance = 1/K


def test_unrequested_class_is_nan_and_ignored_by_worst():
    acc = conditional_accuracy(torch.eye(3)[[0, 1]], torch.tensor([0, 1]))
    assert math.isnan(acc.per_class[2]) and acc.worst_class == 1.0


def test_intra_class_fid_is_mean_of_per_class_fids_and_sees_swapped_labels():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(600) % 3
    real = torch.randn(600, 4, generator=g) + 3 * torch.nn.functional.one_hot(y, 4)[:, :4].float()
    fake = torch.randn(600, 4, generator=g) + 3 * torch.nn.functional.one_hot(y, 4)[:, :4].float()
    mean, per = intra_class_fid(fake, y, real, y)
    assert mean == pytest.approx(sum(per) / 3)
    assert per[1] == pytest.approx(fid(fake[y == 1], real[y == 1]))  # implementation check
    swapped, _ = intra_class_fid(fake, (y + 1) % 3, real, y)  # right images, wrong labels
    assert fid(fake, real) < 0.5 and mean < 0.5 and swapped > 10  # overall FID cannot see it


def test_within_class_diversity_detects_collapse_inside_a_class():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    varied = torch.randn(200, 5, generator=g)
    collapsed = varied.clone()
    collapsed[y == 1] = varied[y == 1][0]  # every sample of class 1 identical
    m, per = within_class_diversity(varied, y)
    mc, perc = within_class_diversity(collapsed, y)
    assert per[1] > 2.5 and perc[1] == 0.0 and perc[0] == per[0]
    # E||a - b|| for a, b ~ N(0, I_5): sqrt(2) * E[chi_5] = 2 * Gamma(3) / Gamma(2.5)
    assert per[0] == pytest.approx(2 * math.gamma(3) / math.gamma(2.5), rel=0.05)


@pytest.mark.parametrize("call", [
    lambda: conditional_accuracy(torch.zeros(3, 2), torch.tensor([0.0, 1.0, 0.0])),
    lambda: conditional_accuracy(torch.zeros(3, 2), [0, 1, 0]),
    lambda: conditional_accuracy(torch.zeros(3, 2, dtype=torch.int64), torch.tensor([0, 1, 0])),
])
def test_type_errors(call):
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize("call", [
    lambda: conditional_accuracy(torch.zeros(3, 2), torch.tensor([0, 1])),
    lambda: conditional_accuracy(torch.zeros(3, 2), torch.tensor([0, 1, 2])),
    lambda: conditional_accuracy(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64)),
    lambda: intra_class_fid(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]), torch.randn(4, 2),
                            torch.tensor([0, 0, 0, 0])),
    lambda: intra_class_fid(torch.zeros(3, 2), torch.tensor([0, 0, 1]), torch.randn(4, 2),
                            torch.tensor([0, 0, 1, 1])),
    lambda: within_class_diversity(torch.zeros(3, 2), torch.tensor([0, 0, 1])),
    lambda: within_class_diversity(torch.zeros(3, 2), torch.tensor([0, -1, 1])),
])
def test_value_errors(call):
    with pytest.raises(ValueError):
        call()
