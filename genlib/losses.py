r"""Losses for VAEs and GANs, as pure functions with the maths in each docstring.

Conventions: every per-example quantity is *summed* over the non-batch dimensions (pixels,
latent dimensions); ``reduction`` then acts over the batch only. Discriminators output
*logits* (real numbers), never probabilities, so every loss is computed in a numerically
stable form.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from genlib import _checks
from genlib._random import rand

__all__ = ["gaussian_kl", "gaussian_kl_per_dim", "diag_gaussian_log_prob", "gaussian_log_prob_per_dim",
           "bernoulli_nll", "gaussian_nll", "discriminator_loss", "generator_loss", "gradient_penalty",
           "r1_penalty", "iwae_bound", "GAN_LOSSES", "LOG_2PI"]

#: The values of ``kind`` accepted by :func:`discriminator_loss` and :func:`generator_loss`.
GAN_LOSSES = ("minimax", "nonsaturating", "lsgan", "hinge", "wasserstein")
#: log(2π), the constant of every Gaussian log-density in genlib.
LOG_2PI = math.log(2 * math.pi)


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    _checks.choice(reduction, "reduction", ("mean", "sum", "none"))
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


def _sum_non_batch(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(dim=1) if t.ndim > 1 else t


def _as_tensor(v, like: torch.Tensor, name: str) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected {name} to be a float or tensor, got {type(v).__name__}")
    return torch.tensor(float(v), dtype=like.dtype, device=like.device)


def gaussian_log_prob_per_dim(x: torch.Tensor, mean: float | torch.Tensor = 0.0,
                              logvar: float | torch.Tensor = 0.0) -> torch.Tensor:
    r"""Element-wise log-density of independent Gaussians, constants included (no sum).

    .. math::
        \log\mathcal N(x_i; m_i, \sigma_i^2) = -\tfrac12\Big[\frac{(x_i - m_i)^2}{\sigma_i^2}
        + \log\sigma_i^2 + \log 2\pi\Big],\qquad \log\sigma_i^2 = \texttt{logvar}_i

    Args:
        x: points, any shape.
        mean, logvar: floats or tensors broadcastable with ``x`` (default: the standard normal).

    Returns:
        A tensor of the broadcast shape of ``x``, ``mean`` and ``logvar``.

    Example:
        >>> round(gaussian_log_prob_per_dim(torch.zeros(1)).item(), 4)   # -log(2π)/2
        -0.9189
    """
    _checks.tensor(x, "x")
    mean, logvar = _as_tensor(mean, x, "mean"), _as_tensor(logvar, x, "logvar")
    return -0.5 * ((x - mean).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)


def diag_gaussian_log_prob(x: torch.Tensor, mean: float | torch.Tensor = 0.0,
                           logvar: float | torch.Tensor = 0.0) -> torch.Tensor:
    r"""Log-density of a diagonal Gaussian, summed over the **last** dimension.

    :math:`\log\mathcal N(x; m, \operatorname{diag}\sigma^2) = \sum_j \log\mathcal N(x_j; m_j, \sigma_j^2)`
    (see :func:`gaussian_log_prob_per_dim`); e.g. x of shape (B, D) or (K, B, D) gives (B,) or
    (K, B). Every Gaussian density of genlib's models (encoder, prior, linear-Gaussian
    decoder) is this function.

    Example:
        >>> z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
        >>> ref = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        >>> torch.allclose(diag_gaussian_log_prob(z), ref)
        True
    """
    _checks.tensor(x, "x", min_ndim=1)
    return gaussian_log_prob_per_dim(x, mean, logvar).sum(-1)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Element-wise KL from :math:`\mathcal N(\mu_j, \sigma_j^2)` to :math:`\mathcal N(0, 1)` (no sum).

    .. math::
        \mathrm{KL}_j = \tfrac12\big(\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1\big) \ge 0

    The KL of each latent dimension, as posterior-collapse diagnostics and free bits need it.
    In float32 it overflows to ``inf`` for ``logvar`` > 88.7 (:math:`e^{88.7}` exceeds the
    float32 range, and so does the KL itself); compute in float64 if you need such values.

    Args:
        mu, logvar: tensors of the same shape, e.g. (B, D).

    Returns:
        A tensor of that shape.

    Example:
        >>> gaussian_kl_per_dim(torch.tensor([0.0, 1.0]), torch.zeros(2))
        tensor([0.0000, 0.5000])
    """
    _checks.tensor(mu, "mu")
    _checks.tensor(logvar, "logvar")
    _checks.same_shape(mu, logvar, "mu", "logvar")
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""KL divergence from a diagonal Gaussian posterior to the standard normal prior.

    .. math::
        \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
        = \tfrac12 \sum_j \big(\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1\big),
        \qquad \log\sigma_j^2 = \texttt{logvar}_j

    Args:
        mu: (B, D) posterior means.
        logvar: (B, D) posterior log-variances (not standard deviations).
        reduction: over the batch: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B,)).

    Returns:
        A scalar, or (B,) for ``reduction="none"``; the sum over dimensions of
        :func:`gaussian_kl_per_dim` (same float32 overflow for ``logvar`` > 88.7).

    Example:
        >>> gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 2)).item()
        0.0
    """
    _checks.tensor(mu, "mu", min_ndim=1)
    _checks.tensor(logvar, "logvar", min_ndim=1)
    return _reduce(_sum_non_batch(gaussian_kl_per_dim(mu, logvar)), reduction)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""Negative log-likelihood of ``x`` under independent Bernoullis with the given logits.

    .. math::
        -\log p(x\mid \ell) = -\sum_i \big[x_i \log \sigma(\ell_i) + (1-x_i)\log(1-\sigma(\ell_i))\big]

    computed from logits (stable for any logit). ``x`` may be grey levels in [0, 1] (the
    "continuous Bernoulli" normaliser is then *not* included, as in most VAE code).

    Args:
        logits: (B, ...) decoder outputs before the sigmoid.
        x: targets of the same shape, in [0, 1].
        reduction: over the batch.

    Returns:
        A scalar, or (B,) for ``reduction="none"`` (nats).

    Raises:
        ValueError: for different shapes or targets outside [0, 1].  TypeError: for
            non-floating tensors.

    Example:
        >>> round(bernoulli_nll(torch.zeros(1, 4), torch.ones(1, 4)).item(), 4)   # 4 log 2
        2.7726
    """
    _checks.tensor(logits, "logits", min_ndim=1)
    _checks.tensor(x, "x", min_ndim=1)
    _checks.same_shape(logits, x, "logits", "x")
    _checks.in_range(x, "x", 0.0, 1.0)
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return _reduce(_sum_non_batch(nll), reduction)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, *, logvar: float | torch.Tensor = 0.0,
                 reduction: str = "mean") -> torch.Tensor:
    r"""Negative log-likelihood of ``x`` under a diagonal Gaussian, constants included.

    .. math::
        -\log \mathcal N(x; m, \sigma^2 I) = \sum_i \Big[\frac{(x_i - m_i)^2}{2\sigma_i^2}
        + \tfrac12\log\sigma_i^2 + \tfrac12\log 2\pi\Big]

    With a fixed σ this is MSE scaled by 1/(2σ²) plus a constant: the scale acts as an
    implicit β on the KL term of a VAE.

    Args:
        mean: (B, ...) predicted means.
        x: targets, same shape.
        logvar: log σ², a float or a tensor broadcastable to ``x``.
        reduction: over the batch.

    Returns:
        A scalar, or (B,) for ``reduction="none"`` (nats); ``-`` :func:`diag_gaussian_log_prob`
        summed over every non-batch dimension.

    Example:
        >>> round(gaussian_nll(torch.zeros(1, 1), torch.zeros(1, 1)).item(), 4)   # log(2π)/2
        0.9189
    """
    _checks.tensor(mean, "mean", min_ndim=1)
    _checks.tensor(x, "x", min_ndim=1)
    _checks.same_shape(mean, x, "mean", "x")
    nll = -gaussian_log_prob_per_dim(x, mean, _as_tensor(logvar, x, "logvar"))
    return _reduce(_sum_non_batch(nll.expand_as(x)), reduction)


def _logits(t: torch.Tensor, name: str) -> torch.Tensor:
    _checks.tensor(t, name, min_ndim=1)
    return t.reshape(t.shape[0], -1).squeeze(1) if t.ndim > 1 else t


def _member_logits(t: torch.Tensor, name: str) -> torch.Tensor:
    """(S, B) or (S, B, 1) logits of S members as (S, B)."""
    _checks.tensor(t, name)
    if t.ndim == 3 and t.shape[2] == 1:
        t = t.squeeze(2)
    if t.ndim != 2:
        raise ValueError(f"expected {name} of shape (S, B) or (S, B, 1) with members=True (S members of a "
                         f"batched model), got shape {tuple(t.shape)}")
    if t.shape[1] == 0:
        raise ValueError(f"expected {name} to be non-empty, got shape {tuple(t.shape)}")
    return t


def _members_flag(members) -> bool:
    if not isinstance(members, bool):
        raise TypeError(f"expected members to be a bool, got {type(members).__name__}")
    return members


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, kind: str,
                       members: bool = False) -> torch.Tensor:
    r"""The discriminator's (critic's) loss, averaged over the batch; minimise it.

    With :math:`D = \sigma(\ell)` for the logit :math:`\ell`:

    - ``"minimax"``, ``"nonsaturating"`` (same D loss, binary cross-entropy):
      :math:`-\mathbb E_{x}[\log D(x)] - \mathbb E_{z}[\log(1 - D(G(z)))]`
    - ``"lsgan"`` (linear outputs :math:`\ell`, targets 1 for real and 0 for fake):
      :math:`\tfrac12\mathbb E_x[(\ell(x)-1)^2] + \tfrac12\mathbb E_z[\ell(G(z))^2]`
    - ``"hinge"``: :math:`\mathbb E_x[\max(0, 1-\ell(x))] + \mathbb E_z[\max(0, 1+\ell(G(z)))]`
    - ``"wasserstein"`` (critic): :math:`\mathbb E_z[\ell(G(z))] - \mathbb E_x[\ell(x)]`
      (add :func:`gradient_penalty` for WGAN-GP).

    With ``members=True`` the logits come from S members of a batched model
    (:class:`~genlib.models.batched.BatchedMLP`) and each member gets its own loss, the
    expectations being means over that member's batch:
    :math:`L_s = \text{loss}(\ell_s(x_{s,\cdot}), \ell_s(\tilde x_{s,\cdot}))`, i.e. the plain loss
    of member s's slice. Sum the result over members before ``backward()``: the members share
    no parameter, so :math:`\nabla_{\theta_s}\sum_t L_t = \nabla_{\theta_s} L_s` (averaging
    would scale every gradient by 1/S).

    Args:
        real_logits: (B,) or (B, 1) outputs on real data; (S, B) or (S, B, 1) with ``members``.
        fake_logits: (B',) or (B', 1) outputs on generated data; (S, B') or (S, B', 1) with
            ``members``.
        kind: one of :data:`GAN_LOSSES`.
        members: one loss per member (first dimension) instead of one loss.

    Returns:
        A scalar tensor, or (S,) with ``members=True``.

    Raises:
        ValueError: for an unknown ``kind``, empty inputs, or with ``members=True`` logits that
            are not (S, B) or (S, B, 1) or whose S differ.  TypeError: non-floating logits, or a
            ``members`` that is not a bool.

    Example:
        >>> round(discriminator_loss(torch.zeros(4), torch.zeros(4), kind="minimax").item(), 4)  # 2 log 2
        1.3863
        >>> discriminator_loss(torch.zeros(3, 4, 1), torch.zeros(3, 2, 1), kind="hinge", members=True)
        tensor([2., 2., 2.])
    """
    _checks.choice(kind, "kind", GAN_LOSSES)
    if _members_flag(members):
        r, f = _member_logits(real_logits, "real_logits"), _member_logits(fake_logits, "fake_logits")
        if r.shape[0] != f.shape[0]:
            raise ValueError(f"expected real_logits and fake_logits from the same number of members, got "
                             f"shapes {tuple(real_logits.shape)} and {tuple(fake_logits.shape)}")
        dim = 1
    else:
        r, f = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
        dim = None

    def mean(t: torch.Tensor) -> torch.Tensor:
        return t.mean() if dim is None else t.mean(dim)

    if kind in ("minimax", "nonsaturating"):
        return mean(F.softplus(-r)) + mean(F.softplus(f))  # -log σ(r) - log(1 - σ(f))
    if kind == "lsgan":
        return 0.5 * mean((r - 1).pow(2)) + 0.5 * mean(f.pow(2))
    if kind == "hinge":
        return mean(F.relu(1 - r)) + mean(F.relu(1 + f))
    return mean(f) - mean(r)


def generator_loss(fake_logits: torch.Tensor, *, kind: str, members: bool = False) -> torch.Tensor:
    r"""The generator's loss, averaged over the batch; minimise it.

    - ``"minimax"`` (saturating): :math:`\mathbb E_z[\log(1 - D(G(z)))]`; its gradient vanishes
      when D confidently rejects fakes.
    - ``"nonsaturating"``: :math:`-\mathbb E_z[\log D(G(z))]`.
    - ``"lsgan"``: :math:`\tfrac12\mathbb E_z[(\ell(G(z)) - 1)^2]`.
    - ``"hinge"``, ``"wasserstein"``: :math:`-\mathbb E_z[\ell(G(z))]`.

    With ``members=True``: one loss per member of a batched model, the mean over that member's
    batch (see :func:`discriminator_loss`; sum over members before ``backward()``).

    Args:
        fake_logits: (B,) or (B, 1) discriminator outputs on generated data; (S, B) or
            (S, B, 1) with ``members``.
        kind: one of :data:`GAN_LOSSES`.
        members: one loss per member (first dimension).

    Returns:
        A scalar tensor, or (S,) with ``members=True``.

    Raises:
        ValueError: for an unknown ``kind``, empty logits, or with ``members=True`` logits that
            are not (S, B) or (S, B, 1).

    Example:
        >>> round(generator_loss(torch.zeros(4), kind="nonsaturating").item(), 4)   # log 2
        0.6931
        >>> generator_loss(torch.zeros(2, 4, 1), kind="lsgan", members=True)
        tensor([0.5000, 0.5000])
    """
    _checks.choice(kind, "kind", GAN_LOSSES)
    if _members_flag(members):
        f = _member_logits(fake_logits, "fake_logits")

        def mean(t: torch.Tensor) -> torch.Tensor:
            return t.mean(1)
    else:
        f = _logits(fake_logits, "fake_logits")

        def mean(t: torch.Tensor) -> torch.Tensor:
            return t.mean()
    if kind == "minimax":
        return -mean(F.softplus(f))  # log(1 - σ(f)) = -softplus(f)
    if kind == "nonsaturating":
        return mean(F.softplus(-f))  # -log σ(f)
    if kind == "lsgan":
        return 0.5 * mean((f - 1).pow(2))
    return -mean(f)


def _input_grad_norms(critic: Callable, x: torch.Tensor, lead: int = 1) -> torch.Tensor:
    """‖∇ₓ critic(x)‖₂ per example; ``lead`` leading dims index examples (2 for (S, B, ...))."""
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(*grad.shape[:lead], -1).norm(dim=-1)


def _critic_arg(critic) -> None:
    if not callable(critic):
        raise TypeError(f"expected a callable critic, got {type(critic).__name__}")


def _member_batch(x, name: str) -> torch.Tensor:
    _checks.tensor(x, name, min_ndim=3)
    if x.shape[1] == 0:
        raise ValueError(f"expected {name} to be non-empty, got shape {tuple(x.shape)}")
    return x


def _member_eps(shape: tuple[int, ...], generator, like: torch.Tensor) -> torch.Tensor:
    """ε of shape (S, B, 1, ...): one draw from one generator, or member s's (B, 1, ...) from generator[s]."""
    rest = [1] * (len(shape) - 2)
    if generator is None or isinstance(generator, torch.Generator):
        return rand(shape[0], shape[1], *rest, generator=generator, device=like.device, dtype=like.dtype)
    gens = list(generator) if isinstance(generator, (list, tuple)) else None
    if gens is None or any(not isinstance(g, torch.Generator) for g in gens):
        raise TypeError("expected generator to be a torch.Generator, a list of one per member, or None, got "
                        f"{type(generator).__name__}")
    if len(gens) != shape[0]:
        raise ValueError(f"expected a list of {shape[0]} generators (one per member), got {len(gens)}")
    return torch.stack([rand(shape[1], *rest, generator=g, device=like.device, dtype=like.dtype) for g in gens])


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     *, target: float = 1.0, generator: torch.Generator | list[torch.Generator] | None = None,
                     members: bool = False) -> torch.Tensor:
    r"""WGAN-GP penalty on random interpolates (Gulrajani et al. 2017).

    .. math::
        \mathbb E_{\hat x}\big[(\|\nabla_{\hat x} D(\hat x)\|_2 - \text{target})^2\big],\qquad
        \hat x = \epsilon x + (1-\epsilon)\tilde x,\ \epsilon\sim U[0,1]

    The gradient is taken w.r.t. the critic's *input*; the result is differentiable w.r.t. the
    critic's parameters (``create_graph=True``). Multiply by λ (10 in the paper) yourself.

    **The critic must treat examples independently.** The per-example gradients are read off
    one backward pass of :math:`\sum_b D(\hat x_b)`, which equals
    :math:`\nabla D(\hat x_b)` at :math:`\hat x_b` only if output b depends on input b
    alone. A critic that couples the examples of a batch (BatchNorm in training mode,
    minibatch standard deviation, PacGAN packing, attention across the batch) makes each
    "gradient" include the other examples' terms, and the penalty is then not the WGAN-GP
    penalty; no error is raised. Use layer or no normalisation in the critic (as
    Gulrajani et al. do), or compute the gradients per example yourself.

    With ``members=True`` the critic is a batched model of S members (e.g.
    :class:`~genlib.models.batched.BatchedMLP`, (S, B, d) -> (S, B, 1)); the inputs are
    (S, B, ...) and each member's penalty is the mean over its own batch, a (S,) result. The
    members share no input, so :math:`\nabla_{\hat x}\sum_{s,b} D_s(\hat x_{s,b})` at
    :math:`\hat x_{s,b}` is :math:`\nabla D_s(\hat x_{s,b})` alone, provided that within each
    member, too, no output depends on another example (see above). ε is drawn as one (S, B, 1)
    tensor from ``generator``, or, with a list of S generators, member s's (B, 1) from
    ``generator[s]``: exactly the draw of the plain penalty run alone with that generator.

    Args:
        critic: maps (B, ...) to (B,) or (B, 1) outputs; (S, B, ...) to (S, B) or (S, B, 1)
            with ``members``.
        real, fake: batches of the same shape (B, ...), or (S, B, ...) with ``members``.
        target: the gradient norm aimed at (1 for WGAN-GP).
        generator: draws ε; with ``members`` also a list of one generator per member.
        members: one penalty per member.

    Returns:
        A scalar tensor, or (S,) with ``members=True``.

    Raises:
        TypeError: a critic that is not callable, non-tensor inputs, a bad generator.
        ValueError: inputs of different shapes, of fewer than 2 dims (3 with ``members``), or a
            list of generators whose length is not S.

    Example:
        >>> critic = torch.nn.Linear(2, 1, bias=False)
        >>> with torch.no_grad():
        ...     _ = critic.weight.copy_(torch.tensor([[0.6, 0.8]]))   # unit norm: no penalty
        >>> gradient_penalty(critic, torch.randn(5, 2), torch.randn(5, 2)).item() < 1e-12
        True
        >>> gradient_penalty(critic, torch.randn(3, 5, 2), torch.randn(3, 5, 2), members=True).shape
        torch.Size([3])
    """
    _critic_arg(critic)
    if _members_flag(members):
        _member_batch(real, "real")
        _member_batch(fake, "fake")
        _checks.same_shape(real, fake, "real", "fake")
        eps = _member_eps(tuple(real.shape), generator, real)
        x_hat = eps * real.detach() + (1 - eps) * fake.detach()
        return (_input_grad_norms(critic, x_hat, lead=2) - target).pow(2).mean(1)
    _checks.tensor(real, "real", min_ndim=2)
    _checks.tensor(fake, "fake", min_ndim=2)
    _checks.same_shape(real, fake, "real", "fake")
    _checks.generator_arg(generator)
    eps = rand(real.shape[0], *([1] * (real.ndim - 1)), generator=generator, device=real.device,
               dtype=real.dtype)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_input_grad_norms(critic, x_hat) - target).pow(2).mean()


def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, *,
               members: bool = False) -> torch.Tensor:
    r"""R1 penalty (Mescheder et al. 2018) on real data, unscaled.

    .. math:: \mathbb E_{x\sim p_\text{data}}\big[\|\nabla_x D(x)\|_2^2\big]

    Multiply by γ/2 yourself. With ``members=True`` the critic is a batched model of S members,
    ``real`` is (S, B, ...) and the result is each member's mean over its own batch, (S,) (see
    :func:`gradient_penalty`).

    **The critic must treat examples independently** (also with ``members=True``): the
    per-example gradients come from one backward pass of the summed outputs, which is each
    example's own gradient only when no output depends on another example. BatchNorm in
    training mode, minibatch standard deviation or PacGAN packing break this silently (see
    :func:`gradient_penalty`).

    Args:
        critic: maps (B, ...) to (B,) or (B, 1) outputs; (S, B, ...) to (S, B) or (S, B, 1)
            with ``members``.
        real: a batch of real data (B, ...), or (S, B, ...) with ``members``.
        members: one penalty per member.

    Returns:
        A scalar tensor, or (S,) with ``members=True``; differentiable w.r.t. the critic's
        parameters.

    Raises:
        TypeError: a critic that is not callable.  ValueError: ``real`` with fewer than 2 dims
            (3 with ``members``).

    Example:
        >>> critic = torch.nn.Linear(2, 1, bias=False)
        >>> with torch.no_grad():
        ...     _ = critic.weight.copy_(torch.tensor([[3.0, 4.0]]))   # ‖∇D‖² = 25 everywhere
        >>> r1_penalty(critic, torch.randn(4, 2)).item()
        25.0
    """
    _critic_arg(critic)
    if _members_flag(members):
        _member_batch(real, "real")
        return _input_grad_norms(critic, real, lead=2).pow(2).mean(1)
    _checks.tensor(real, "real", min_ndim=2)
    return _input_grad_norms(critic, real).pow(2).mean()


def iwae_bound(log_weights: torch.Tensor, *, dim: int = 0, reduction: str = "mean") -> torch.Tensor:
    r"""Importance-weighted bound from K log-weights (Burda et al. 2016).

    .. math::
        \mathcal L_K = \log \frac1K \sum_{k=1}^K w_k,\qquad
        \log w_k = \log p(x, z_k) - \log q(z_k\mid x),\ z_k\sim q(z\mid x)

    :math:`\mathcal L_1` is the ELBO, :math:`\mathbb E[\mathcal L_K]` is non-decreasing in K and
    tends to :math:`\log p(x)`.

    Args:
        log_weights: tensor with the K samples along ``dim`` (default 0), e.g. (K, B). A 1-D
            tensor (K,) is one example: the result is a scalar whatever the reduction.
        dim: the sample dimension.
        reduction: over what remains (the batch): ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A scalar, or the remaining shape (e.g. (B,)) for ``reduction="none"``.

    Raises:
        ValueError: for a ``dim`` that ``log_weights`` does not have, or an unknown reduction.

    Example:
        >>> iwae_bound(torch.zeros(10, 3)).item()   # all weights 1: log 1 = 0
        0.0
    """
    _checks.tensor(log_weights, "log_weights", min_ndim=1)
    _checks.choice(reduction, "reduction", ("mean", "sum", "none"))
    if isinstance(dim, bool) or not isinstance(dim, int) or not -log_weights.ndim <= dim < log_weights.ndim:
        raise ValueError(f"expected dim in [{-log_weights.ndim}, {log_weights.ndim - 1}] for log_weights of "
                         f"shape {tuple(log_weights.shape)}, got {dim!r}")
    k = log_weights.shape[dim]
    bound = torch.logsumexp(log_weights, dim=dim) - math.log(k)
    if bound.ndim == 0:
        return bound
    return _reduce(bound, reduction)
