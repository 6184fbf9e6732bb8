"""Latent-space diagnostics for VAEs."""

from __future__ import annotations

import torch

from genlib import _checks

__all__ = ["active_units"]


def active_units(mu: torch.Tensor, *, threshold: float = 0.01) -> int:
    r"""Number of active latent units (Burda et al. 2016, IWAE paper).

    A latent dimension u is active when its posterior mean varies with the input:

    .. math:: A_u = \operatorname{Cov}_x\big(\mathbb E_{q(z\mid x)}[z_u]\big) > \text{threshold}

    with the unbiased (n − 1) variance over the batch. A collapsed unit has
    :math:`q(z_u \mid x) \approx p(z_u)` for every x, so its mean is constant.

    Args:
        mu: (N, latent_dim) floating tensor of encoder means E_q[z|x], N ≥ 2.
        threshold: activity threshold (Burda et al. use 10⁻²), ≥ 0.

    Returns:
        The number of active dimensions (int).

    Raises:
        TypeError: for a non-floating tensor or a non-numeric threshold.
        ValueError: for a wrong shape, fewer than 2 rows, NaN/inf or a negative threshold.

    Example:
        >>> mu = torch.stack([torch.linspace(-1, 1, 100), torch.zeros(100)], dim=1)
        >>> active_units(mu)
        1
    """
    mu = _checks.tensor(mu, "mu", ndim=2)
    if mu.shape[0] < 2 or mu.shape[1] == 0:
        raise ValueError(f"expected mu of shape (N >= 2, latent_dim >= 1), got {tuple(mu.shape)}")
    _checks.finite(mu, "mu")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"expected threshold to be a number, got {type(threshold).__name__}")
    if not threshold >= 0:
        raise ValueError(f"expected threshold >= 0, got {threshold}")
    var = mu.double().var(dim=0)  # (latent_dim,), unbiased
    return int((var > threshold).sum().item())
