"""genlib.metrics.features: the committed digit classifier behind the book's domain metrics."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

from genlib.data import mnist
from genlib.metrics import features, mnist_classifier


@pytest.fixture(scope="module")
def clf():
    return mnist_classifier()


@pytest.fixture(scope="module")
def test_split():
    return mnist("test")


def test_weights_file_is_the_committed_version():
    path = features._WEIGHTS_PATH
    assert path.name == f"mnist_classifier_v{features.CLASSIFIER_VERSION}.pt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == features.WEIGHTS_SHA256
    assert path.stat().st_size < 1_000_000


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_tampered_weights_raise(tmp_path, monkeypatch, damage):
    copy = tmp_path / features._WEIGHTS_PATH.name
    shutil.copy(features._WEIGHTS_PATH, copy)
    if damage == "flip":
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 0x01
        copy.write_bytes(bytes(data))
    elif damage == "truncate":
        copy.write_bytes(copy.read_bytes()[:1000])
    else:
        copy.unlink()
    monkeypatch.setattr(features, "_WEIGHTS_PATH", copy)
    monkeypatch.setattr(features, "_CACHE", {})
    with pytest.raises(RuntimeError, match="integrity|missing"):
        mnist_classifier()


def test_accuracy_on_the_test_split(clf, test_split):
    x, y = test_split
    acc = (clf.probs(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.97, acc


def test_outputs(clf, test_split):
    x = test_split[0][:50]
    f, p, logits = clf.features(x), clf.probs(x), clf.logits(x)
    assert f.shape == (50, features.FEATURE_DIM) == (50, 128) and f.dtype == torch.float32
    assert p.shape == logits.shape == (50, 10)
    assert (p >= 0).all() and torch.allclose(p.sum(1), torch.ones(50), atol=1e-5)
    assert torch.allclose(p, torch.softmax(logits, 1))
    assert not f.requires_grad and not p.requires_grad


def test_flat_input_and_batching_give_the_same_result(clf, test_split):
    x = test_split[0][:64]
    f = clf.features(x)
    assert torch.allclose(clf.features(x.reshape(64, 784)), f)
    assert torch.allclose(clf.features(x, batch_size=7), f, atol=1e-5)


def test_features_vary_in_every_dimension(clf, test_split):
    """Pre-ReLU features: no constant column (what FID's Gaussian fit wants)."""
    f = clf.features(test_split[0][:500])
    assert (f.std(0) > 1e-3).all()


def test_cached_frozen_and_in_eval_mode(clf):
    assert mnist_classifier() is clf and mnist_classifier("cpu") is clf
    assert mnist_classifier(torch.device("cpu")) is clf and mnist_classifier("cpu:0") is clf
    assert clf.device == torch.device("cpu")
    net = clf.module()
    assert isinstance(net, features.DigitClassifier) and not net.training
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda"), torch.device("cuda", 0)])
def test_cuda_spellings_share_one_key(device):
    assert features._normalise_device(device) == features._normalise_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_spellings_share_one_copy():
    assert mnist_classifier("cuda") is mnist_classifier("cuda:0") is mnist_classifier(torch.device("cuda"))


@pytest.mark.parametrize("mutate", [
    lambda c: c.train(),
    lambda c: c.requires_grad_(True),
    lambda c: c.to("meta"),
    lambda c: c.parameters(),
    lambda c: setattr(c, "body", None),
    lambda c: setattr(c, "_model", None),
])
def test_callers_cannot_change_the_shared_classifier(clf, test_split, mutate):
    x = test_split[0][:16]
    before = clf.probs(x)
    with pytest.raises(AttributeError, match="classifier"):
        mutate(clf)
    assert torch.equal(mnist_classifier().probs(x), before)


def test_editing_a_copy_leaves_the_shared_classifier_alone(clf, test_split):
    x = test_split[0][:16]
    before = clf.features(x)
    net = clf.module()
    net.train().requires_grad_(True)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    assert torch.equal(mnist_classifier().features(x), before)
    assert net(x).requires_grad  # the copy is a plain differentiable module


def test_train_mode_is_restored(test_split):
    model = features._load(features._WEIGHTS_PATH, features.WEIGHTS_SHA256).train()
    x = test_split[0][:20]
    first = model.features(x)
    assert model.training
    assert torch.equal(model.probs(x), model.probs(x))  # dropout is off inside the call
    assert torch.equal(first, model.features(x))


@pytest.mark.parametrize("x, error, match", [
    (torch.rand(4, 28, 28), ValueError, r"\(N, 1, 28, 28\)"),
    (torch.rand(4, 3, 28, 28), ValueError, r"\(N, 1, 28, 28\)"),
    (torch.rand(4, 1, 32, 32), ValueError, r"\(N, 1, 28, 28\)"),
    (torch.rand(4, 783), ValueError, r"\(N, 784\)"),
    (torch.rand(4, 1, 28, 28) * 255, ValueError, r"\[0, 1\]"),
    (torch.rand(4, 1, 28, 28) - 0.5, ValueError, r"\[0, 1\]"),
    (torch.full((4, 1, 28, 28), float("nan")), ValueError, "finite"),
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), TypeError, "floating"),
    (np.zeros((4, 1, 28, 28), dtype=np.float32), TypeError, "torch.Tensor"),
])
@pytest.mark.parametrize("method", ["features", "probs", "logits"])
def test_bad_input(clf, x, error, match, method):
    with pytest.raises(error, match=match):
        getattr(clf, method)(x)
