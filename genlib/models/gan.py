"""The two players of a GAN as small MLPs (for 1-D/2-D toys and flattened MNIST).

The discriminator returns *logits* of shape (B,): apply losses from :mod:`genlib.losses`,
never a sigmoid followed by ``log``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from genlib import _checks
from genlib._random import randn
from genlib.nn import mlp

__all__ = ["MLPGenerator", "MLPDiscriminator"]

_OUTPUTS = {"linear": None, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLPGenerator(nn.Module):
    """``G: z ~ N(0, I) -> x``, a push-forward of the latent distribution.

    Args:
        latent_dim: size of z.
        output_shape: shape of one sample, e.g. ``2`` or ``(1, 28, 28)``.
        hidden_dims: hidden layer sizes.
        output: ``"linear"`` (toy data), ``"tanh"`` (data in [-1, 1]) or ``"sigmoid"`` (data in [0, 1]).
        activation: hidden activation.
    """

    def __init__(self, latent_dim: int, output_shape: int | Sequence[int], *, hidden_dims: Sequence[int] = (128, 128),
                 output: str = "linear", activation: str = "relu"):
        super().__init__()
        self.latent_dim = _checks.positive_int(latent_dim, "latent_dim")
        self.output_shape = _checks.shape(output_shape, "output_shape")
        _checks.choice(output, "output", _OUTPUTS)
        final = _OUTPUTS[output]() if _OUTPUTS[output] is not None else None
        self.net = mlp(latent_dim, hidden_dims, math.prod(self.output_shape), activation=activation,
                       final_activation=final)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim) -> x (B, *output_shape)``."""
        _checks.tensor(z, "z", ndim=2)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z).reshape(z.shape[0], *self.output_shape)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` samples (with gradients; wrap in ``torch.no_grad()`` to evaluate).

        z is drawn in the parameters' dtype and on their device.
        """
        _checks.positive_int(n, "n")
        p = next(self.parameters())
        return self(randn(n, self.latent_dim, generator=generator, device=p.device, dtype=p.dtype))


class MLPDiscriminator(nn.Module):
    """``D: x -> logit`` with LeakyReLU(0.2) hidden layers.

    Args:
        input_shape: shape of one sample.
        hidden_dims: hidden layer sizes.
        spectral_norm: spectrally normalise every linear layer (Miyato et al. 2018).
        activation: hidden activation.
    """

    def __init__(self, input_shape: int | Sequence[int], *, hidden_dims: Sequence[int] = (128, 128),
                 spectral_norm: bool = False, activation: str = "leaky_relu"):
        super().__init__()
        self.input_shape = _checks.shape(input_shape, "input_shape")
        self.input_dim = math.prod(self.input_shape)
        self.net = mlp(self.input_dim, hidden_dims, 1, activation=activation, spectral_norm=spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, *input_shape) -> logits (B,)``."""
        return self.net(_checks.flat_batch(x, self.input_shape)).squeeze(1)
