r"""Class-conditional GAN players (MLPs) with the three usual ways to give D the label.

The generator always receives the label by **concatenation**: ``G(z, y) = g([z, e(y)])`` with
``e(y)`` the one-hot vector of ``y`` (or a learned embedding). Where the ways differ is the
discriminator (``mode``):

- ``"concat"`` (Mirza & Osindero 2014): the label is concatenated to the input,
  :math:`D(x, y) = d([x, \mathrm{onehot}(y)])`.
- ``"projection"`` (Miyato & Koyama 2018): a shared feature map :math:`\phi`, an
  unconditional head and an inner product with a learned class embedding,
  :math:`D(x, y) = w^\top\phi(x) + b + e_y^\top\phi(x)`. It is the form that follows when the
  logit is to model :math:`\log p(y\mid x, \text{real}) / p(y\mid x, \text{fake})` for a
  softmax classifier, up to terms that depend on x only.
- ``"acgan"`` (Odena et al. 2017): the real/fake logit ignores the label,
  :math:`D(x) = w^\top\phi(x) + b`, and a second head classifies the image,
  :class:`ConditionalMLPDiscriminator.class_logits`; the label enters only through the
  cross-entropy of that head, which D and G both minimise (see :func:`genlib.train.train_cgan`).

Both players return what their unconditional cousins in :mod:`genlib.models.gan` return:
images and *logits* of shape (B,).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genlib import _checks
from genlib._random import randn
from genlib.nn import make_activation, mlp

__all__ = ["ConditionalMLPGenerator", "ConditionalMLPDiscriminator", "CONDITIONING_MODES"]

#: The discriminator's ways of using the label (see the module docstring).
CONDITIONING_MODES = ("concat", "projection", "acgan")

_OUTPUTS = {"linear": None, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _labels(y, n_classes: int, batch: int | None, name: str = "y") -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"expected {name} to be an int64 tensor of class labels, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise TypeError(f"expected {name} of dtype int64 (class labels), got {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"expected {name} of shape (B,), got {tuple(y.shape)}")
    if batch is not None and len(y) != batch:
        raise ValueError(f"expected {batch} labels in {name} (one per row), got {len(y)}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"expected labels in [0, {n_classes}), got values in [{int(y.min())}, {int(y.max())}]")
    return y


class ConditionalMLPGenerator(nn.Module):
    """``G: (z, y) -> x`` with the label concatenated to ``z``.

    Args:
        latent_dim: size of z.
        n_classes: number of classes (labels 0 … n_classes − 1).
        output_shape: shape of one sample, e.g. ``(1, 28, 28)``.
        hidden_dims: hidden layer sizes.
        embed_dim: ``None`` (default) concatenates the one-hot label; an int concatenates a
            learned ``nn.Embedding(n_classes, embed_dim)`` instead.
        output: ``"tanh"`` (data in [-1, 1], default), ``"sigmoid"`` or ``"linear"``.
        activation: hidden activation.

    Example:
        >>> g = ConditionalMLPGenerator(8, 10, (1, 28, 28), hidden_dims=(32,))
        >>> g.sample(torch.arange(10), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([10, 1, 28, 28])
    """

    def __init__(self, latent_dim: int, n_classes: int, output_shape: int | Sequence[int], *,
                 hidden_dims: Sequence[int] = (256, 512), embed_dim: int | None = None, output: str = "tanh",
                 activation: str = "relu"):
        super().__init__()
        self.latent_dim = _checks.positive_int(latent_dim, "latent_dim")
        self.n_classes = _checks.positive_int(n_classes, "n_classes")
        self.output_shape = _checks.shape(output_shape, "output_shape")
        _checks.choice(output, "output", _OUTPUTS)
        if embed_dim is None:
            self.embed, label_dim = None, self.n_classes
        else:
            label_dim = _checks.positive_int(embed_dim, "embed_dim")
            self.embed = nn.Embedding(self.n_classes, label_dim)
        final = _OUTPUTS[output]() if _OUTPUTS[output] is not None else None
        self.net = mlp(self.latent_dim + label_dim, hidden_dims, math.prod(self.output_shape),
                       activation=activation, final_activation=final)

    def _label_code(self, y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.embed is None:
            return F.one_hot(y, self.n_classes).to(dtype)
        return self.embed(y)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim), y (B,) int64 -> x (B, *output_shape)``."""
        _checks.tensor(z, "z", ndim=2)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        y = _labels(y, self.n_classes, len(z))
        h = torch.cat([z, self._label_code(y.to(z.device), z.dtype)], dim=1)
        return self.net(h).reshape(z.shape[0], *self.output_shape)

    def sample(self, labels: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """One sample per entry of ``labels`` (int64, (n,)); z drawn on the parameters' device.

        With gradients: wrap in ``torch.no_grad()`` to evaluate.
        """
        labels = _labels(labels, self.n_classes, None, "labels")
        if len(labels) == 0:
            raise ValueError("expected at least one label, got an empty tensor")
        p = next(self.parameters())
        z = randn(len(labels), self.latent_dim, generator=generator, device=p.device, dtype=p.dtype)
        return self(z, labels.to(p.device))


class ConditionalMLPDiscriminator(nn.Module):
    """``D: (x, y) -> logit`` with LeakyReLU(0.2) hidden layers; the label used as ``mode`` says.

    Args:
        input_shape: shape of one sample.
        n_classes: number of classes.
        hidden_dims: hidden layer sizes (at least one); for ``"projection"`` and ``"acgan"`` the
            last one is the size of the features :math:`\\phi(x)`.
        mode: ``"concat"``, ``"projection"`` or ``"acgan"`` (see the module docstring).
        spectral_norm: spectrally normalise every linear layer (and, for ``"projection"``, the
            class embedding's rows are left unnormalised, as in Miyato & Koyama's code).
        activation: hidden activation.

    Example:
        >>> d = ConditionalMLPDiscriminator((1, 28, 28), 10, hidden_dims=(32,), mode="projection")
        >>> d(torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])).shape
        torch.Size([4])
    """

    def __init__(self, input_shape: int | Sequence[int], n_classes: int, *,
                 hidden_dims: Sequence[int] = (512, 256), mode: str = "projection", spectral_norm: bool = False,
                 activation: str = "leaky_relu"):
        super().__init__()
        self.input_shape = _checks.shape(input_shape, "input_shape")
        self.input_dim = math.prod(self.input_shape)
        self.n_classes = _checks.positive_int(n_classes, "n_classes")
        self.mode = _checks.choice(mode, "mode", CONDITIONING_MODES)
        hidden_dims = tuple(hidden_dims)
        if not hidden_dims:
            raise ValueError("expected at least one hidden layer in hidden_dims, got ()")

        def linear(a: int, b: int) -> nn.Module:
            lin = nn.Linear(a, b)
            return nn.utils.parametrizations.spectral_norm(lin) if spectral_norm else lin

        if self.mode == "concat":
            self.net = mlp(self.input_dim + self.n_classes, hidden_dims, 1, activation=activation,
                           spectral_norm=spectral_norm)
        else:
            self.body = nn.Sequential(mlp(self.input_dim, hidden_dims[:-1], hidden_dims[-1], activation=activation,
                                          spectral_norm=spectral_norm), make_activation(activation))
            self.head = linear(hidden_dims[-1], 1)
            if self.mode == "projection":
                self.embed = nn.Embedding(self.n_classes, hidden_dims[-1])
                nn.init.normal_(self.embed.weight, std=hidden_dims[-1] ** -0.5)
            else:
                self.classifier = linear(hidden_dims[-1], self.n_classes)

    def heads(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(real/fake logits (B,), class logits (B, n_classes) or None)`` in one pass.

        The class logits exist for ``mode="acgan"`` only (None otherwise).
        """
        flat = _checks.flat_batch(x, self.input_shape)
        y = _labels(y, self.n_classes, len(flat)).to(flat.device)
        if self.mode == "concat":
            return self.net(torch.cat([flat, F.one_hot(y, self.n_classes).to(flat.dtype)], 1)).squeeze(1), None
        phi = self.body(flat)
        logit = self.head(phi).squeeze(1)
        if self.mode == "projection":
            return logit + (self.embed(y) * phi).sum(1), None
        return logit, self.classifier(phi)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x (B, *input_shape), y (B,) int64 -> logits (B,)``.

        For ``"acgan"`` the logit does not depend on ``y`` (it is checked, then unused).
        """
        return self.heads(x, y)[0]

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """AC-GAN's classifier head: ``x -> (B, n_classes)`` logits. ``mode="acgan"`` only."""
        if self.mode != "acgan":
            raise ValueError(f"class_logits exists for mode='acgan' only, this discriminator is mode={self.mode!r}")
        return self.classifier(self.body(_checks.flat_batch(x, self.input_shape)))

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, n_classes={self.n_classes}"
