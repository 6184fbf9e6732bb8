"""A deterministic autoencoder with the same MLP layout as :class:`genlib.models.VAE`.

It has a code (latent variable) too; what it lacks is a distribution over codes: no encoder
noise and no prior term, so nothing makes N(0, I) a sensible place to sample codes from.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from genlib import _checks
from genlib.losses import bernoulli_nll
from genlib.nn import make_activation, mlp

__all__ = ["Autoencoder"]


class Autoencoder(nn.Module):
    """MLP autoencoder ``x -> code -> logits``; trained with the Bernoulli NLL (pixel BCE).

    Args:
        input_shape: shape of one example, e.g. ``(1, 28, 28)``.
        hidden_dims: encoder hidden sizes; the decoder mirrors them.
        latent_dim: size of the code.
    """

    def __init__(self, input_shape: int | Sequence[int] = (1, 28, 28), *, hidden_dims: Sequence[int] = (400,),
                 latent_dim: int = 20, activation: str = "relu"):
        super().__init__()
        self.input_shape = _checks.shape(input_shape, "input_shape")
        self.input_dim = math.prod(self.input_shape)
        self.latent_dim = _checks.positive_int(latent_dim, "latent_dim")
        hidden_dims = tuple(hidden_dims)
        if not hidden_dims:
            raise ValueError("expected at least one hidden layer, got hidden_dims=()")
        self.encoder = nn.Sequential(mlp(self.input_dim, hidden_dims[:-1], hidden_dims[-1], activation=activation),
                                     make_activation(activation), nn.Linear(hidden_dims[-1], latent_dim))
        self.decoder = mlp(latent_dim, hidden_dims[::-1], self.input_dim, activation=activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, *input_shape) -> code (B, latent_dim)``."""
        return self.encoder(_checks.flat_batch(x, self.input_shape))  # (B, input_dim) -> (B, latent_dim)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """``code (B, latent_dim) -> logits (B, *input_shape)``."""
        return self.decoder(code).reshape(code.shape[0], *self.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction loss (Bernoulli NLL summed over pixels, batch mean)."""
        recon = bernoulli_nll(self(x), x)
        return {"loss": recon, "recon": recon}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))
