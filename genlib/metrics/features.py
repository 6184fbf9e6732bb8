r"""The committed MNIST digit classifier that defines the book's *domain* metrics.

FID, KID, the Inception Score and precision/recall need a feature extractor. The usual one,
Inception-v3 trained on ImageNet, cannot be downloaded offline and knows little about
28×28 digits, so the book uses a small CNN trained on the 4,000 training images of
:func:`genlib.data.mnist` instead ("domain FID"). Its weights are a file inside the package,
``mnist_classifier_v1.pt``, produced by ``scripts/train_mnist_classifier.py`` and checked
against :data:`WEIGHTS_SHA256` every time they are loaded.

**Versioning rule.** This network *defines* the numbers the chapters report: any change to
the architecture, the training script or the weights changes every domain FID. Such a change
therefore bumps :data:`CLASSIFIER_VERSION`, writes a new file
``mnist_classifier_v{N}.pt`` and updates :data:`WEIGHTS_SHA256`; an existing file is never
overwritten in place.

Example:
    >>> from genlib.data import mnist
    >>> clf = mnist_classifier()
    >>> x, y = mnist("test")
    >>> clf.features(x[:8]).shape, clf.probs(x[:8]).shape
    (torch.Size([8, 128]), torch.Size([8, 10]))
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import torch
from torch import nn

from genlib import _checks

__all__ = ["DigitClassifier", "FrozenClassifier", "mnist_classifier", "CLASSIFIER_VERSION", "WEIGHTS_SHA256",
           "FEATURE_DIM"]

#: Version of the classifier; bumped with any change to its architecture, training or weights.
CLASSIFIER_VERSION = 1
#: SHA-256 of ``mnist_classifier_v1.pt`` (printed by ``scripts/train_mnist_classifier.py``).
WEIGHTS_SHA256 = "44bf63546c48aa5061ee67186373d35d27ef05c33c61b5c2a4ad47c5a198595f"
#: Size of the penultimate layer returned by :meth:`DigitClassifier.features`.
FEATURE_DIM = 128

_WEIGHTS_PATH = Path(__file__).with_name(f"mnist_classifier_v{CLASSIFIER_VERSION}.pt")
_CACHE: dict[torch.device, "FrozenClassifier"] = {}  # one loaded classifier per device, filled on first use


class DigitClassifier(nn.Module):
    """A small CNN for 28×28 digits in [0, 1] (188k parameters).

    Layout (shapes for one image)::

        (1, 28, 28) -conv3x3,32-ReLU-maxpool2-> (32, 14, 14)
                    -conv3x3,64-ReLU-maxpool2-> (64, 7, 7)
                    -conv3x3/2,64-ReLU->        (64, 4, 4) -flatten-> 1024
                    -linear->                   128   (the features)
                    -ReLU-dropout-linear->      10    (the logits)

    The evaluation methods :meth:`logits`, :meth:`features` and :meth:`probs` validate their
    input, run in eval mode under ``torch.no_grad()`` in batches on the classifier's device,
    and return their result on the input's device. :meth:`forward` is the plain differentiable
    map ``x (N, 1, 28, 28) -> logits (N, 10)`` used for training.

    Args:
        dropout: dropout rate before the last layer (active in training mode only).
    """

    def __init__(self, *, dropout: float = 0.25):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),               # (N, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),              # (N, 64, 7, 7)
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),       # (N, 1024)
            nn.Linear(64 * 4 * 4, FEATURE_DIM),                                       # (N, 128)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logits, ``x (N, 1, 28, 28) -> (N, 10)``; no input checks."""
        return self.head(self.dropout(torch.relu(self.body(x))))

    # -- evaluation -------------------------------------------------------------------------
    @staticmethod
    def _validate(x) -> torch.Tensor:
        _checks.tensor(x, "x")
        if x.ndim == 2 and x.shape[1] == 784:
            x = x.reshape(-1, 1, 28, 28)  # (N, 784) -> (N, 1, 28, 28)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape (N, 1, 28, 28) or (N, 784), got shape {tuple(x.shape)}")
        _checks.finite(x, "x")
        _checks.in_range(x, "x", 0.0, 1.0)
        return x

    @torch.no_grad()
    def _evaluate(self, x, fn, batch_size: int) -> torch.Tensor:
        x = self._validate(x)
        _checks.positive_int(batch_size, "batch_size")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            out = [fn(xb.to(device=device, dtype=torch.float32)).to(x.device)
                   for xb in x.split(batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out)

    def logits(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Class logits, ``x (N, 1, 28, 28) or (N, 784) in [0, 1] -> (N, 10)``.

        Raises:
            TypeError: if ``x`` is not a floating-point tensor.
            ValueError: for another shape, non-finite values or values outside [0, 1].
        """
        return self._evaluate(x, self.forward, batch_size)

    def features(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate-layer features, ``(N, 1, 28, 28) -> (N, 128)``: the feature space of the
        book's domain FID/KID and precision/recall. Same checks as :meth:`logits`.

        They are the outputs of the 128-unit linear layer *before* its ReLU: every dimension
        varies (about a quarter of the units never fire on MNIST, so after the ReLU those
        columns would be constant zeros) and the values are closer to Gaussian, which is what
        the Fréchet distance assumes.
        """
        return self._evaluate(x, self.body, batch_size)

    def probs(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        r"""Class probabilities :math:`p(y\mid x)`, ``(N, 10)``, rows sum to one (for the
        Inception Score and classifier confidence). Same checks as :meth:`logits`."""
        return self._evaluate(x, lambda xb: torch.softmax(self.forward(xb), dim=1), batch_size)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path, expected_sha256: str) -> DigitClassifier:
    """Build the classifier on the CPU and load ``path`` after checking its SHA-256."""
    if not path.is_file():
        raise RuntimeError(f"the digit classifier's weights are missing: expected a file at {path} "
                           "(reinstall genlib, or run scripts/train_mnist_classifier.py)")
    digest = _sha256(path)
    if digest != expected_sha256:
        raise RuntimeError(f"the digit classifier's weights {path.name} fail their integrity check: "
                           f"expected SHA-256 {expected_sha256}, got {digest}. The file is corrupted or was "
                           "replaced; reinstall genlib (a retrained classifier needs a version bump).")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitClassifier()
    # stored as float16 or float32; the module computes in float32
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.requires_grad_(False)
    return model.eval()


class FrozenClassifier:
    """A read-only view of the committed classifier: evaluation methods only.

    :func:`mnist_classifier` returns this instead of the module, so that no caller can change
    what later callers get: there is no ``.train()``, ``.to()``, ``.requires_grad_()`` or
    ``.parameters()`` to call, and no attribute can be set. Every method evaluates in eval
    mode under ``torch.no_grad()`` (see :class:`DigitClassifier`).

    For a differentiable network (an adversarial or guidance experiment, say), take
    :meth:`module`: a fresh copy that the caller owns.
    """

    __slots__ = ("_model",)

    def __init__(self, model: DigitClassifier):
        object.__setattr__(self, "_model", model)

    def __setattr__(self, name, value):
        raise AttributeError(f"the shared digit classifier is read-only (cannot set {name!r}); "
                             "use .module() for a copy of your own")

    def __getattr__(self, name):  # only reached for names the class does not define
        raise AttributeError(f"the shared digit classifier has no {name!r}: it offers features, probs, "
                             "logits, device and module() (a DigitClassifier copy of your own)")

    def __repr__(self) -> str:
        return f"FrozenClassifier(version={CLASSIFIER_VERSION}, device={self.device})"

    @property
    def device(self) -> torch.device:
        """The device the network runs on."""
        return next(self._model.parameters()).device

    def logits(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Class logits (N, 10); see :meth:`DigitClassifier.logits`."""
        return self._model.logits(x, batch_size=batch_size)

    def features(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """The 128-D features of the domain metrics (N, 128); see :meth:`DigitClassifier.features`."""
        return self._model.features(x, batch_size=batch_size)

    def probs(self, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Class probabilities (N, 10); see :meth:`DigitClassifier.probs`."""
        return self._model.probs(x, batch_size=batch_size)

    def module(self) -> DigitClassifier:
        """A fresh copy of the network (eval mode, gradients off) that the caller may change."""
        return copy.deepcopy(self._model)


def _normalise_device(device) -> torch.device:
    """One key per physical device: ``"cuda"``, ``"cuda:0"`` and ``torch.device("cuda")`` agree."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cpu":
        return torch.device("cpu")
    if device.index is None:
        index = torch.cuda.current_device() if device.type == "cuda" and torch.cuda.is_available() else 0
        return torch.device(device.type, index)
    return device


def mnist_classifier(device: torch.device | str | None = None) -> FrozenClassifier:
    """The committed digit classifier (version :data:`CLASSIFIER_VERSION`), read-only.

    Loaded once per device and process, after checking the weights' SHA-256; later calls
    return the same view of the same network (``"cuda"``, ``"cuda:0"`` and
    ``torch.device("cuda")`` are one device). The view cannot be switched to training mode,
    moved or edited, so no chapter can change what later calls see; :meth:`FrozenClassifier.module`
    gives a private copy of the network.

    Args:
        device: where the network lives (default: the CPU, like :func:`genlib.data.mnist`).
            Inputs on another device are moved batch by batch and results come back to them.

    Returns:
        A :class:`FrozenClassifier` with :meth:`~FrozenClassifier.features` (N, 128),
        :meth:`~FrozenClassifier.probs` (N, 10) and :meth:`~FrozenClassifier.logits` (N, 10).

    Raises:
        RuntimeError: if the weights file is missing or its SHA-256 differs from
            :data:`WEIGHTS_SHA256`.
    """
    key = _normalise_device(device)
    if key not in _CACHE:
        _CACHE[key] = FrozenClassifier(_load(_WEIGHTS_PATH, WEIGHTS_SHA256).to(key))
    return _CACHE[key]
