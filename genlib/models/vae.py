r"""A variational autoencoder with MLP encoder and decoder (Kingma & Welling 2014).

Generative model :math:`p(z)=\mathcal N(0, I)`, :math:`p_\theta(x\mid z)` Bernoulli (logits) or
Gaussian (means) per pixel; inference network :math:`q_\phi(z\mid x)=\mathcal N(\mu_\phi(x),
\operatorname{diag}\exp(\texttt{logvar}_\phi(x)))`. Training maximises the ELBO

.. math::
    \mathcal L(x) = \mathbb E_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)]
    - \mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z)) \le \log p_\theta(x).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import nn

from genlib import _checks
from genlib._random import randn
from genlib.losses import bernoulli_nll, diag_gaussian_log_prob, gaussian_kl, gaussian_kl_per_dim, gaussian_nll
from genlib.nn import make_activation, mlp

__all__ = ["VAE", "VAEOutput"]


class VAEOutput(NamedTuple):
    """What :meth:`VAE.forward` returns: the decoder output, the posterior's parameters and z."""

    recon: torch.Tensor   # decoder output: logits (Bernoulli) or means (Gaussian), (B, *input_shape)
    mu: torch.Tensor      # (B, latent_dim)
    logvar: torch.Tensor  # (B, latent_dim)
    z: torch.Tensor       # (B, latent_dim), the reparameterised sample


class VAE(nn.Module):
    """MLP VAE.

    Args:
        input_shape: shape of one example, e.g. ``(1, 28, 28)`` or ``784``.
        hidden_dims: hidden layer sizes of the encoder; the decoder mirrors them.
        latent_dim: size of z.
        likelihood: ``"bernoulli"`` (decoder outputs logits) or ``"gaussian"`` (decoder outputs means).
        decoder_logvar: for ``"gaussian"``: a fixed log σ² (float), or ``"learned"`` for one
            learned scalar.
        activation: hidden activation (see :func:`genlib.nn.mlp`).

    Attributes:
        encoder: the shared trunk ``x -> h``; ``fc_mu`` and ``fc_logvar`` map h to the posterior.
        decoder: ``z -> recon`` (flat).

    Example:
        >>> vae = VAE((1, 28, 28), hidden_dims=(64,), latent_dim=2)
        >>> out = vae(torch.rand(5, 1, 28, 28))
        >>> out.recon.shape, out.mu.shape
        (torch.Size([5, 1, 28, 28]), torch.Size([5, 2]))
    """

    def __init__(self, input_shape: int | Sequence[int] = (1, 28, 28), *, hidden_dims: Sequence[int] = (400,),
                 latent_dim: int = 20, likelihood: str = "bernoulli", decoder_logvar: float | str = 0.0,
                 activation: str = "relu"):
        super().__init__()
        self.input_shape = _checks.shape(input_shape, "input_shape")
        self.input_dim = math.prod(self.input_shape)
        self.latent_dim = _checks.positive_int(latent_dim, "latent_dim")
        self.likelihood = _checks.choice(likelihood, "likelihood", ("bernoulli", "gaussian"))
        hidden_dims = tuple(hidden_dims)
        if not hidden_dims:
            raise ValueError("expected at least one hidden layer, got hidden_dims=()")
        # encoder trunk: Linear + activation for every hidden layer (the last one included)
        self.encoder = nn.Sequential(mlp(self.input_dim, hidden_dims[:-1], hidden_dims[-1], activation=activation),
                                     make_activation(activation))
        self.fc_mu = nn.Linear(hidden_dims[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden_dims[-1], latent_dim)
        self.decoder = mlp(latent_dim, hidden_dims[::-1], self.input_dim, activation=activation)
        if decoder_logvar == "learned":
            self.decoder_logvar = nn.Parameter(torch.zeros(()))
        elif isinstance(decoder_logvar, (int, float)) and not isinstance(decoder_logvar, bool):
            self.register_buffer("decoder_logvar", torch.tensor(float(decoder_logvar)))
        else:
            raise ValueError(f"expected decoder_logvar to be a float or 'learned', got {decoder_logvar!r}")

    # -- the two networks -------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return _checks.flat_batch(x, self.input_shape)  # (B, *input_shape) -> (B, input_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, *input_shape) -> (mu, logvar)``, each (B, latent_dim)."""
        h = self.encoder(self._flat(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, latent_dim) -> recon (B, *input_shape)``: logits or Gaussian means."""
        return self.decoder(z).reshape(z.shape[0], *self.input_shape)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None,
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`z = \mu + \sigma\odot\varepsilon`, :math:`\varepsilon\sim\mathcal N(0, I)`: a sample
        of q(z|x) that is a differentiable function of (mu, logvar). ``noise`` overrides ε."""
        eps = randn(*mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) if noise is None else noise
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator=generator)
        return VAEOutput(self.decode(z), mu, logvar, z)

    # -- objectives -------------------------------------------------------------------------
    def nll(self, recon: torch.Tensor, x: torch.Tensor, *, reduction: str = "none") -> torch.Tensor:
        """−log p(x|z) given the decoder output, summed over pixels."""
        if self.likelihood == "bernoulli":
            return bernoulli_nll(recon, x, reduction=reduction)
        return gaussian_nll(recon, x, logvar=self.decoder_logvar, reduction=reduction)

    def loss(self, x: torch.Tensor, *, beta: float = 1.0, free_bits: float = 0.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        r"""One-sample estimate of the (β-weighted) negative ELBO, averaged over the batch.

        ``loss = recon + beta * kl_term`` where ``recon`` = E[−log p(x|z)] and the KL term is
        :math:`\sum_j \max(\lambda, \overline{\mathrm{KL}_j})` with λ = ``free_bits`` (nats per
        latent dimension, Kingma et al. 2016); with ``free_bits=0`` it is the plain KL.

        Args:
            x: a batch (B, *input_shape).
            beta: weight of the KL term, ≥ 0.
            free_bits: λ ≥ 0, nats per latent dimension.
            generator: drives the reparameterisation noise.

        Returns:
            dict with ``loss`` (to minimise), ``recon``, ``kl`` (the unclipped KL) and
            ``elbo`` = −(recon + kl), all batch means.

        Raises:
            ValueError: for a negative (or NaN) ``beta`` or ``free_bits``.
        """
        for value, what in ((beta, "beta"), (free_bits, "free_bits")):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"expected {what} to be a number, got {type(value).__name__}")
            if not value >= 0:
                raise ValueError(f"expected {what} >= 0, got {value!r}")
        out = self(x, generator=generator)
        recon = self.nll(out.recon, x).mean()
        kl_per_dim = gaussian_kl_per_dim(out.mu, out.logvar).mean(dim=0)  # (B, D) -> (D,), batch means
        kl = kl_per_dim.sum()
        kl_term = kl_per_dim.clamp(min=free_bits).sum() if free_bits > 0 else kl
        return {"loss": recon + beta * kl_term, "recon": recon, "kl": kl, "elbo": -(recon + kl)}

    @torch.no_grad()
    def elbo(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-example one-sample ELBO estimate, (B,) (nats)."""
        out = self(x, generator=generator)
        return -(self.nll(out.recon, x) + gaussian_kl(out.mu, out.logvar, reduction="none"))

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, *, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Importance log-weights :math:`\log p(x, z_s) - \log q(z_s\mid x)` for :math:`z_s\sim q`, shape (k, B).

        :math:`\log p(x, z) = \log\mathcal N(z; 0, I) + \log p_\theta(x\mid z)`; both Gaussians
        are :func:`genlib.losses.diag_gaussian_log_prob`. Feed the weights to
        :func:`genlib.losses.iwae_bound` for the IWAE-k bound on log p(x); their mean over s is
        a k-sample ELBO estimate.

        Args:
            x: a batch (B, *input_shape).
            k: samples per example (keyword-only, like :meth:`genlib.models.LinearGaussian.log_weights`).
            generator: drives the draws of z (one (B, latent_dim) draw per sample, in order).
        """
        _checks.positive_int(k, "k")
        _checks.generator_arg(generator)
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        out = []
        for _ in range(k):
            eps = randn(*mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + std * eps                                   # (B, latent_dim)
            log_q = diag_gaussian_log_prob(z, mu, logvar)        # (B,)
            log_prior = diag_gaussian_log_prob(z)                # (B,)
            out.append(log_prior - self.nll(self.decode(z), x) - log_q)
        return torch.stack(out)                                  # (k, B)

    # -- using the model --------------------------------------------------------------------
    def mean_image(self, recon: torch.Tensor) -> torch.Tensor:
        """The decoder's mean E[x|z] from its raw output (sigmoid of logits for Bernoulli)."""
        return torch.sigmoid(recon) if self.likelihood == "bernoulli" else recon

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws of the prior; returns mean images (B, *input_shape)."""
        _checks.positive_int(n, "n")
        device = next(self.parameters()).device
        z = randn(n, self.latent_dim, generator=generator, device=device)
        return self.mean_image(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: the deterministic reconstruction E[x | z = mu(x)]."""
        mu, _ = self.encode(x)
        return self.mean_image(self.decode(mu))
