r"""A linear-Gaussian latent-variable model (probabilistic PCA, Tipping & Bishop 1999).

It is the one deep-generative-model shape in which *everything is exact*, which makes it the
test bench for variational bounds (ELBO, IWAE):

.. math::
    z \sim \mathcal N(0, I_k),\qquad x\mid z \sim \mathcal N(Wz + b,\ \sigma^2 I_d).

Marginal likelihood (Gaussian, since x is a linear function of Gaussians):

.. math::
    p(x) = \mathcal N(x;\ b,\ C),\qquad C = WW^\top + \sigma^2 I_d.

Posterior (Gaussian, by completing the square), with precision
:math:`\Lambda = I_k + W^\top W/\sigma^2`:

.. math::
    p(z\mid x) = \mathcal N\big(z;\ \Lambda^{-1} W^\top (x-b)/\sigma^2,\ \Lambda^{-1}\big).

ELBO of a Gaussian :math:`q(z\mid x) = \mathcal N(\mu, \Sigma_q)`, in closed form because
:math:`\log p(x\mid z)` is quadratic in z:

.. math::
    \mathcal L(q) = -\tfrac d2\log(2\pi\sigma^2)
    - \frac{\|x-b-W\mu\|^2 + \operatorname{tr}(W^\top W\,\Sigma_q)}{2\sigma^2}
    - \tfrac12\big(\operatorname{tr}\Sigma_q + \|\mu\|^2 - k - \log\det\Sigma_q\big),

and :math:`\log p(x) - \mathcal L(q) = \mathrm{KL}(q\,\|\,p(z\mid x)) \ge 0`.

Everything is computed in float64; inputs must be float64 tensors on the model's device
(no silent casting).
"""

from __future__ import annotations

import math

import torch

from genlib import _checks
from genlib._random import randn
from genlib.losses import LOG_2PI, diag_gaussian_log_prob

__all__ = ["LinearGaussian"]


_float64 = _checks.require_float64  # exact models refuse casts (see that function for the policy)


class LinearGaussian:
    r"""Probabilistic PCA: :math:`z\sim\mathcal N(0, I_k)`, :math:`x\mid z\sim\mathcal N(Wz+b, \sigma^2 I_d)`.

    Args:
        W: (d, k) float64 loading matrix (decoder weights).
        b: (d,) float64 offset (decoder bias, the data mean).
        sigma: observation noise standard deviation σ > 0 (not a variance).

    Raises:
        TypeError: if ``W`` or ``b`` is not a float64 tensor, or ``sigma`` not a number.
        ValueError: for wrong shapes, non-finite values, different devices or σ ≤ 0.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = LinearGaussian.random(2, 5, sigma=0.5, generator=g)
        >>> x = model.sample(3, generator=g)
        >>> mean, cov = model.posterior(x)
        >>> gap = model.log_prob(x) - model.elbo(x, mean, q_cov=cov)   # ~0: exact posterior
        >>> bool(gap.abs().max() < 1e-10)
        True
    """

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma: float):
        _float64(W, "W", ndim=2)
        _float64(b, "b", ndim=1, device=W.device)
        if b.shape[0] != W.shape[0]:
            raise ValueError(f"expected b of shape ({W.shape[0]},) to match W {tuple(W.shape)}, got {tuple(b.shape)}")
        self.W, self.b = W, b
        self.sigma = _checks.positive_float(sigma, "sigma")

    @classmethod
    def random(cls, latent_dim: int, data_dim: int, *, sigma: float, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> "LinearGaussian":
        """A model with W and b drawn i.i.d. from N(0, 1) (float64, on ``device``)."""
        _checks.positive_int(latent_dim, "latent_dim")
        _checks.positive_int(data_dim, "data_dim")
        _checks.generator_arg(generator)
        W = randn(data_dim, latent_dim, generator=generator, device=device, dtype=torch.float64)
        b = randn(data_dim, generator=generator, device=device, dtype=torch.float64)
        return cls(W, b, sigma)

    def __repr__(self) -> str:
        return (f"LinearGaussian(latent_dim={self.latent_dim}, data_dim={self.data_dim}, sigma={self.sigma:g}, "
                f"device={self.device})")

    # -- sizes and the fixed matrices ------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    @property
    def data_dim(self) -> int:
        return self.W.shape[0]

    @property
    def device(self) -> torch.device:
        return self.W.device

    def to(self, device: torch.device | str) -> "LinearGaussian":
        """A copy of the model on ``device``."""
        return LinearGaussian(self.W.to(device), self.b.to(device), self.sigma)

    def marginal_cov(self) -> torch.Tensor:
        r""":math:`C = WW^\top + \sigma^2 I_d`, (d, d): the covariance of x."""
        eye = torch.eye(self.data_dim, dtype=torch.float64, device=self.device)
        return self.W @ self.W.T + self.sigma ** 2 * eye

    def posterior_precision(self) -> torch.Tensor:
        r""":math:`\Lambda = I_k + W^\top W/\sigma^2`, (k, k): the inverse posterior covariance (same for every x)."""
        eye = torch.eye(self.latent_dim, dtype=torch.float64, device=self.device)
        return eye + self.W.T @ self.W / self.sigma ** 2

    # -- checks ------------------------------------------------------------------------------
    def _x(self, x: torch.Tensor) -> torch.Tensor:
        _float64(x, "x", ndim=2, device=self.device)
        if x.shape[1] != self.data_dim:
            raise ValueError(f"expected x of shape (n, {self.data_dim}), got {tuple(x.shape)}")
        return x

    def _q(self, x: torch.Tensor, q_mean: torch.Tensor, q_logvar: torch.Tensor | None,
           q_cov: torch.Tensor | None) -> torch.Tensor:
        """Validate (q_mean, q_logvar | q_cov); return the (n, k, k) covariance of q."""
        n, k = x.shape[0], self.latent_dim
        _float64(q_mean, "q_mean", ndim=2, device=self.device)
        if q_mean.shape != (n, k):
            raise ValueError(f"expected q_mean of shape ({n}, {k}), got {tuple(q_mean.shape)}")
        if (q_logvar is None) == (q_cov is None):
            raise ValueError("expected exactly one of q_logvar (diagonal q) and q_cov (full-covariance q)")
        if q_logvar is not None:
            _float64(q_logvar, "q_logvar", ndim=2, device=self.device)
            _checks.same_shape(q_mean, q_logvar, "q_mean", "q_logvar")
            return torch.diag_embed(q_logvar.exp())
        _float64(q_cov, "q_cov", ndim=(2, 3), device=self.device)
        if q_cov.shape[-2:] != (k, k) or (q_cov.ndim == 3 and q_cov.shape[0] != n):
            raise ValueError(f"expected q_cov of shape ({k}, {k}) or ({n}, {k}, {k}), got {tuple(q_cov.shape)}")
        if not torch.allclose(q_cov, q_cov.mT) or torch.linalg.cholesky_ex(q_cov).info.any():
            raise ValueError("expected q_cov to be symmetric positive definite")
        return q_cov.expand(n, k, k)

    # -- exact quantities --------------------------------------------------------------------
    def sample(self, n: int, *, generator: torch.Generator | None = None, return_latents: bool = False):
        """Draw ``n`` data points x (n, d); with ``return_latents=True`` return ``(x, z)``."""
        _checks.positive_int(n, "n")
        _checks.generator_arg(generator)
        z = randn(n, self.latent_dim, generator=generator, device=self.device, dtype=torch.float64)
        eps = randn(n, self.data_dim, generator=generator, device=self.device, dtype=torch.float64)
        x = z @ self.W.T + self.b + self.sigma * eps
        return (x, z) if return_latents else x

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""Exact :math:`\log p(x) = \log\mathcal N(x; b, WW^\top+\sigma^2 I)`, (n,) (nats)."""
        x = self._x(x)
        L = torch.linalg.cholesky(self.marginal_cov())
        r = torch.linalg.solve_triangular(L, (x - self.b).T, upper=False)  # (d, n): L^{-1}(x - b)
        logdet = 2 * torch.log(torch.diagonal(L)).sum()
        return -0.5 * (r.pow(2).sum(0) + logdet + self.data_dim * LOG_2PI)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Exact posterior :math:`p(z\mid x) = \mathcal N(\Lambda^{-1}W^\top(x-b)/\sigma^2, \Lambda^{-1})`.

        Returns:
            ``(mean (n, k), cov (k, k))``; the covariance does not depend on x.
        """
        x = self._x(x)
        cov = torch.linalg.inv(self.posterior_precision())
        cov = 0.5 * (cov + cov.T)
        mean = (x - self.b) @ self.W @ cov / self.sigma ** 2  # rows: Λ^{-1} Wᵀ (x - b) / σ²
        return mean, cov

    def mean_field_posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The best *diagonal* Gaussian q, :math:`\arg\min_q \mathrm{KL}(q\,\|\,p(z\mid x))`.

        Its mean is the posterior mean and its variances are :math:`1/\Lambda_{jj}` (the inverse
        diagonal of the posterior precision, never larger than the posterior's marginal variances).

        Returns:
            ``(mean (n, k), logvar (n, k))``.
        """
        mean, _ = self.posterior(x)
        logvar = -torch.log(torch.diagonal(self.posterior_precision()))
        return mean, logvar.expand_as(mean).clone()

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(x, z) = \log\mathcal N(z; 0, I) + \log\mathcal N(x; Wz + b, \sigma^2 I)`.

        Args:
            x: (n, d).
            z: (n, k), or (S, n, k) for S latent samples per data point.

        Returns:
            (n,) or (S, n).
        """
        x = self._x(x)
        _float64(z, "z", ndim=(2, 3), device=self.device)
        if z.shape[-2:] != (x.shape[0], self.latent_dim):
            raise ValueError(f"expected z of shape (n, k) or (S, n, k) with n={x.shape[0]}, k={self.latent_dim}, "
                             f"got {tuple(z.shape)}")
        log_prior = diag_gaussian_log_prob(z)                                    # (S, n) or (n,)
        log_lik = diag_gaussian_log_prob(x, z @ self.W.T + self.b, math.log(self.sigma ** 2))
        return log_prior + log_lik

    @staticmethod
    def log_q(z: torch.Tensor, q_mean: torch.Tensor, q_logvar: torch.Tensor) -> torch.Tensor:
        r"""Encoder density :math:`\log\mathcal N(z; \mu, \operatorname{diag} e^{\texttt{logvar}})`,
        summed over latent dims; z is (n, k) or (S, n, k), the result (n,) or (S, n)."""
        _checks.tensor(z, "z", ndim=(2, 3))
        _checks.same_shape(q_mean, q_logvar, "q_mean", "q_logvar")
        if z.shape[-2:] != q_mean.shape:
            raise ValueError(f"expected z of shape {tuple(q_mean.shape)} or (S, *that), got {tuple(z.shape)}")
        return diag_gaussian_log_prob(z, q_mean, q_logvar)

    def log_weights(self, x: torch.Tensor, q_mean: torch.Tensor, q_logvar: torch.Tensor | None = None, *,
                    q_cov: torch.Tensor | None = None, k: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Importance log-weights :math:`\log p(x, z_s) - \log q(z_s\mid x)` for :math:`z_s\sim q`, shape (k, n).

        Their mean over s estimates the ELBO (:meth:`elbo` gives it exactly);
        :func:`genlib.losses.iwae_bound` turns them into the IWAE-k bound. With the true posterior
        as q every weight equals p(x).

        Args:
            x: (n, d).
            q_mean, q_logvar, q_cov: the Gaussian q, as in :meth:`elbo`.
            k: samples per data point (keyword-only).
            generator: drives the draws of z.
        """
        x = self._x(x)
        cov = self._q(x, q_mean, q_logvar, q_cov)
        _checks.positive_int(k, "k")
        _checks.generator_arg(generator)
        eps = randn(k, *q_mean.shape, generator=generator, device=self.device, dtype=torch.float64)
        if q_logvar is not None:
            z = q_mean + torch.exp(0.5 * q_logvar) * eps  # (k, n, latent_dim), reparameterised
            log_q = self.log_q(z, q_mean, q_logvar)
        else:
            scale_tril = torch.linalg.cholesky(cov)  # (n, latent_dim, latent_dim)
            z = q_mean + (scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
            log_q = torch.distributions.MultivariateNormal(q_mean, scale_tril=scale_tril).log_prob(z)
        return self.log_joint(x, z) - log_q

    # -- the variational bound in closed form -----------------------------------------------
    def elbo(self, x: torch.Tensor, q_mean: torch.Tensor, q_logvar: torch.Tensor | None = None, *,
             q_cov: torch.Tensor | None = None) -> torch.Tensor:
        r"""Exact ELBO of the Gaussian :math:`q(z\mid x)=\mathcal N(\mu, \Sigma_q)`, (n,) (nats).

        .. math::
            \mathcal L = \underbrace{-\tfrac d2\log(2\pi\sigma^2)
            - \tfrac{\|x-b-W\mu\|^2 + \operatorname{tr}(W^\top W\Sigma_q)}{2\sigma^2}}_{\mathbb E_q\log p(x\mid z)}
            - \underbrace{\tfrac12\big(\operatorname{tr}\Sigma_q + \|\mu\|^2 - k - \log\det\Sigma_q\big)}_{\mathrm{KL}(q\,\|\,p(z))}

        Args:
            x: (n, d).
            q_mean: (n, k) means μ of q.
            q_logvar: (n, k) log-variances of a diagonal q, or
            q_cov: (k, k) or (n, k, k) covariances of a full-covariance q (give exactly one).
        """
        x = self._x(x)
        cov = self._q(x, q_mean, q_logvar, q_cov)  # (n, k, k)
        d, s2 = self.data_dim, self.sigma ** 2
        resid = x - self.b - q_mean @ self.W.T
        trace_term = torch.einsum("ij,nji->n", self.W.T @ self.W, cov)  # tr(WᵀW Σ_q)
        expected_loglik = -0.5 * d * math.log(2 * math.pi * s2) - (resid.pow(2).sum(1) + trace_term) / (2 * s2)
        logdet_q = 2 * torch.log(torch.diagonal(torch.linalg.cholesky(cov), dim1=-2, dim2=-1)).sum(-1)
        kl_prior = 0.5 * (torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + q_mean.pow(2).sum(1)
                          - self.latent_dim - logdet_q)
        return expected_loglik - kl_prior

    def kl_to_posterior(self, x: torch.Tensor, q_mean: torch.Tensor, q_logvar: torch.Tensor | None = None, *,
                        q_cov: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`\mathrm{KL}(q(z\mid x)\,\|\,p(z\mid x))` between Gaussians, (n,): the ELBO's gap.

        .. math::
            \tfrac12\big[\operatorname{tr}(\Lambda\Sigma_q) + (m-\mu)^\top\Lambda(m-\mu) - k
            - \log\det\Lambda - \log\det\Sigma_q\big],\quad m = \mathbb E[z\mid x]

        Same arguments as :meth:`elbo`.
        """
        x = self._x(x)
        cov = self._q(x, q_mean, q_logvar, q_cov)
        m, _ = self.posterior(x)
        prec = self.posterior_precision()
        delta = m - q_mean
        logdet_prec = 2 * torch.log(torch.diagonal(torch.linalg.cholesky(prec))).sum()
        logdet_q = 2 * torch.log(torch.diagonal(torch.linalg.cholesky(cov), dim1=-2, dim2=-1)).sum(-1)
        trace_term = torch.einsum("ij,nji->n", prec, cov)
        maha = ((delta @ prec) * delta).sum(1)
        return 0.5 * (trace_term + maha - self.latent_dim - logdet_prec - logdet_q)
