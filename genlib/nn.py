"""Shared building blocks: small MLPs with optional spectral normalisation."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["mlp", "make_activation", "Reshape"]

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh,
                "elu": nn.ELU, "silu": nn.SiLU}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (see :func:`mlp`)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"expected activation in {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


def mlp(in_dim: int, hidden_dims: Sequence[int], out_dim: int, *, activation: str = "relu",
        spectral_norm: bool = False, final_activation: nn.Module | None = None) -> nn.Sequential:
    """A fully connected network ``in_dim -> hidden_dims... -> out_dim``.

    Args:
        in_dim, out_dim: sizes of input and output.
        hidden_dims: sizes of the hidden layers (may be empty: a linear map).
        activation: ``"relu"``, ``"leaky_relu"`` (slope 0.2), ``"tanh"``, ``"elu"`` or ``"silu"``.
        spectral_norm: wrap every linear layer in :func:`torch.nn.utils.parametrizations.spectral_norm`.
        final_activation: appended after the last layer if given (e.g. ``nn.Tanh()``).
    """
    make_activation(activation)  # validates the name
    dims = [in_dim, *hidden_dims, out_dim]
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ValueError(f"expected positive integer layer sizes, got {dims}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        lin = nn.Linear(a, b)
        layers.append(nn.utils.parametrizations.spectral_norm(lin) if spectral_norm else lin)
        if i < len(dims) - 2:
            layers.append(make_activation(activation))
    if final_activation is not None:
        layers.append(final_activation)
    return nn.Sequential(*layers)


class Reshape(nn.Module):
    """Reshape the non-batch dimensions: ``(B, *) -> (B, *shape)``."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
