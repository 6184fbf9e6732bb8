"""Small training loops that return their history (a dict of lists) and print nothing.

A ``tqdm`` bar is shown only with ``progress=True``. Data are tensors already on the model's
device; minibatches are drawn with :func:`genlib.data.batches`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from genlib import _checks
from genlib._random import randint, randn
from genlib.data import batches
from genlib.losses import GAN_LOSSES, discriminator_loss, generator_loss, gradient_penalty, r1_penalty

__all__ = ["train_vae", "fit", "train_autoencoder", "train_gan", "discriminator_step", "generator_step",
           "train_cgan", "train_image_to_image", "evaluate_vae", "ema_update", "VAL_SEED"]


def _bar(iterable, total: int, progress: bool, desc: str):
    if not progress:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


#: Seed of the generator that :func:`train_vae` gives :func:`evaluate_vae` for ``x_val``.
VAL_SEED = 0


@torch.no_grad()
def evaluate_vae(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000,
                 generator: torch.Generator | None = None) -> dict[str, float]:
    r"""Mean negative ELBO (β = 1, no free bits), reconstruction NLL and KL of ``model`` on ``x``.

    One z sample per example: ``loss`` :math:`= \overline{-\log p(x\mid z)} + \overline{\mathrm{KL}}`,
    whatever β the model was trained with, so models trained with different β compare on one scale.

    Args:
        model: a :class:`~genlib.models.VAE` (anything whose ``loss(x, generator=)`` returns
            ``loss``, ``recon`` and ``kl``).
        x: data on the model's device.
        batch_size: examples per forward pass (does not change the result).
        generator: drives the reparameterisation noise; pass a fresh
            ``torch.Generator().manual_seed(0)`` so that every chapter's number agrees.

    Returns:
        dict with float ``loss``, ``recon`` and ``kl`` (nats per example, means over ``x``).
    """
    _checks.tensor(x, "x", min_ndim=2)
    _checks.positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    totals = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    try:
        for (xb,) in batches(x, batch_size=batch_size, shuffle=False):
            parts = model.loss(xb, generator=generator)
            for k in totals:
                totals[k] += parts[k].item() * len(xb)
    finally:
        model.train(was_training)
    return {k: v / len(x) for k, v in totals.items()}


def train_vae(model: nn.Module, x_train: torch.Tensor, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
              beta: float | Callable[[int], float] = 1.0, free_bits: float = 0.0, x_val: torch.Tensor | None = None,
              clip_grad: float | None = None, generator: torch.Generator | None = None,
              progress: bool = False) -> dict[str, list[float]]:
    """Train a :class:`~genlib.models.VAE` with Adam on the (β-weighted) negative ELBO.

    Args:
        model: the VAE (its ``loss`` method defines the objective).
        x_train: training data on the model's device.
        epochs: passes over ``x_train``.
        beta: a constant ≥ 0, or a function ``epoch -> beta`` (epochs count from 0; e.g. a
            KL warm-up schedule).
        free_bits: nats per latent dimension below which the KL is not penalised.
        x_val: held-out data evaluated after every epoch with :func:`evaluate_vae`. The
            evaluation draws its noise from its own generator
            (``torch.Generator().manual_seed(VAL_SEED)``, the same noise every epoch), never
            from ``generator``: passing ``x_val`` does not change the trained weights.
        clip_grad: max global gradient norm, or ``None``.
        generator: drives the minibatch order and the reparameterisation noise of training.

    Returns:
        history with per-epoch ``loss`` (the training objective ``recon + beta * kl_term``,
        with β and free bits), ``recon``, ``kl`` (the plain KL), ``beta`` (training means over
        the epoch) and, with ``x_val``, ``val_loss``, ``val_recon``, ``val_kl``. **``val_loss``
        is the negative ELBO at β = 1 without free bits** (``val_recon + val_kl``), not the
        training objective: with β ≠ 1 or free bits, compare ``recon``/``kl`` with
        ``val_recon``/``val_kl``, not ``loss`` with ``val_loss``.

    Example:
        >>> from genlib.data import digits
        >>> from genlib.models import VAE
        >>> x, _ = digits("test")
        >>> hist = train_vae(VAE((1, 8, 8), hidden_dims=(16,), latent_dim=2), x[:128], epochs=2,
        ...                  generator=torch.Generator().manual_seed(0))
        >>> sorted(hist), len(hist["loss"])
        (['beta', 'kl', 'loss', 'recon'], 2)
    """
    _checks.positive_int(epochs, "epochs")
    _checks.tensor(x_train, "x_train", min_ndim=2)
    if x_val is not None:
        _checks.tensor(x_val, "x_val", min_ndim=2)
    if clip_grad is not None:
        _checks.positive_float(clip_grad, "clip_grad")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list[float]] = {k: [] for k in ("loss", "recon", "kl", "beta")}
    if x_val is not None:
        hist.update(val_loss=[], val_recon=[], val_kl=[])
    model.train()
    for epoch in _bar(range(epochs), epochs, progress, "VAE"):
        b = float(beta(epoch)) if callable(beta) else float(beta)
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
        for (xb,) in batches(x_train, batch_size=batch_size, generator=generator):
            parts = model.loss(xb, beta=b, free_bits=free_bits, generator=generator)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            opt.step()
            for k in sums:
                sums[k] += parts[k].item() * len(xb)
        for k in sums:
            hist[k].append(sums[k] / len(x_train))
        hist["beta"].append(b)
        if x_val is not None:
            ev = evaluate_vae(model, x_val, generator=torch.Generator().manual_seed(VAL_SEED))
            for k in ("loss", "recon", "kl"):
                hist["val_" + k].append(ev[k])
    model.eval()
    return hist


def fit(model: nn.Module, x_train: torch.Tensor, *, epochs: int, batch_size: int = 128, lr: float = 1e-3,
        generator: torch.Generator | None = None, progress: bool = False) -> dict[str, list[float]]:
    """Train any model whose ``loss(x)`` returns a dict with ``"loss"``, with Adam on minibatches.

    The generic loop behind :func:`train_autoencoder` (and any model with the same contract):
    one pass over ``x_train`` per epoch in an order drawn from ``generator``; ``model.loss`` is
    given ``generator=`` too when it accepts it (for models that sample).

    Args:
        model: its ``loss(x)`` returns a dict of scalar tensors, ``"loss"`` (minimised) among them.
        x_train: training data on the model's device.
        epochs: passes over ``x_train``.
        batch_size, lr: minibatch size and Adam's learning rate.
        generator: drives the minibatch order (and the model's noise, see above).
        progress: show a ``tqdm`` bar.

    Returns:
        history with the per-epoch mean of every entry of the loss dict (e.g. ``loss``, ``recon``).
    """
    import inspect

    _checks.positive_int(epochs, "epochs")
    _checks.tensor(x_train, "x_train", min_ndim=2)
    takes_generator = "generator" in inspect.signature(model.loss).parameters
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list[float]] = {}
    model.train()
    for _ in _bar(range(epochs), epochs, progress, type(model).__name__):
        sums: dict[str, float] = {}
        for (xb,) in batches(x_train, batch_size=batch_size, generator=generator):
            parts = model.loss(xb, generator=generator) if takes_generator else model.loss(xb)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v.item() * len(xb)
        for k, v in sums.items():
            hist.setdefault(k, []).append(v / len(x_train))
    model.eval()
    return hist


def train_autoencoder(model: nn.Module, x_train: torch.Tensor, *, epochs: int, batch_size: int = 128,
                      lr: float = 1e-3, generator: torch.Generator | None = None,
                      progress: bool = False) -> dict[str, list[float]]:
    """Train an :class:`~genlib.models.Autoencoder` on its reconstruction loss: :func:`fit` under its old name.

    Returns:
        history with per-epoch ``loss`` and ``recon`` (the same number for the autoencoder).
    """
    return fit(model, x_train, epochs=epochs, batch_size=batch_size, lr=lr, generator=generator,
               progress=progress)


@torch.no_grad()
def ema_update(ema_model: nn.Module, model: nn.Module, *, decay: float) -> None:
    """``ema ← decay·ema + (1 − decay)·model`` for every parameter (buffers are copied).

    Args:
        ema_model: the running average, updated in place (usually a ``copy.deepcopy`` of ``model``).
        model: the model being trained; same architecture as ``ema_model``.
        decay: in [0, 1]; 0 copies ``model``, 1 leaves ``ema_model`` unchanged.

    Raises:
        ValueError: for a decay outside [0, 1], or modules whose parameters or buffers differ
            in number or shape.
    """
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay <= 1.0:
        raise ValueError(f"expected decay in [0, 1], got {decay!r}")
    for what, a, b in (("parameters", list(ema_model.parameters()), list(model.parameters())),
                       ("buffers", list(ema_model.buffers()), list(model.buffers()))):
        shapes_a, shapes_b = [tuple(t.shape) for t in a], [tuple(t.shape) for t in b]
        if shapes_a != shapes_b:
            raise ValueError(f"expected ema_model and model with the same {what}, got {len(a)} of shapes "
                             f"{shapes_a[:4]}... and {len(b)} of shapes {shapes_b[:4]}...")
    for pe, p in zip(ema_model.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema_model.buffers(), model.buffers()):
        be.copy_(b)


def _players(gen, disc) -> int | None:
    """S when both players are batched models (``n_seeds``), None when both are plain."""
    for m, name in ((gen, "gen"), (disc, "disc")):
        if not isinstance(m, nn.Module):
            raise TypeError(f"expected {name} to be an nn.Module, got {type(m).__name__}")
    if not callable(getattr(gen, "sample", None)):
        raise TypeError(f"expected gen with a sample(n, generator=) method (e.g. MLPGenerator, BatchedGenerator), "
                        f"got {type(gen).__name__}")
    s_gen, s_disc = getattr(gen, "n_seeds", None), getattr(disc, "n_seeds", None)
    if s_gen != s_disc:
        raise ValueError("expected gen and disc to be both plain modules or both batched models with the same "
                         f"number of members, got gen.n_seeds={s_gen} and disc.n_seeds={s_disc}")
    return s_gen


def _generators(generator, n_seeds: int | None):
    """Check ``generator``: None or a torch.Generator, or (batched models only) a list of S."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if n_seeds is None:
        raise TypeError("expected generator to be a torch.Generator or None for plain modules (a list of "
                        f"generators is for batched models), got {type(generator).__name__}")
    from genlib.models.batched import _generator_list

    return _generator_list(generator, n_seeds)


def _stream(stream, generator, n_seeds: int | None):
    """``stream`` checked like ``generator``, or ``generator`` itself when ``stream`` is None."""
    return generator if stream is None else _generators(stream, n_seeds)


def _gan_loss_args(loss: str, gp_weight, r1_weight) -> None:
    _checks.choice(loss, "loss", GAN_LOSSES)
    for value, what in ((gp_weight, "gp_weight"), (r1_weight, "r1_weight")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"expected {what} >= 0, got {value!r}")


def _optimizer(opt, name: str) -> None:
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"expected {name} to be a torch.optim.Optimizer, got {type(opt).__name__}")


def discriminator_step(gen: nn.Module, disc: nn.Module, opt_d: torch.optim.Optimizer, real_batch: torch.Tensor,
                       *, loss: str, gp_weight: float = 0.0, r1_weight: float = 0.0,
                       generator: torch.Generator | list[torch.Generator] | None = None,
                       latent_generator: torch.Generator | list[torch.Generator] | None = None,
                       penalty_generator: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
    r"""One discriminator (critic) update on a real batch and as many fresh fakes.

    .. math::
        L_D = \text{discriminator\_loss}\big(D(x), D(\operatorname{sg}[G(z)])\big)
        + \lambda_\text{GP}\,\mathbb E_{\hat x}\big[(\|\nabla D(\hat x)\|_2 - 1)^2\big]
        + \gamma\,\mathbb E_x\big[\|\nabla D(x)\|_2^2\big],

    then ``opt_d.zero_grad(set_to_none=True)``, ``backward()``, ``opt_d.step()``. The fakes are
    ``gen.sample(B, generator=latent_generator).detach()`` (sg = stop-gradient): the backward
    pass never reaches G, so G's ``.grad`` is left exactly as it was. Random draws, in this
    order: z (from ``latent_generator``), then ε of the gradient penalty (from
    ``penalty_generator``, only with ``gp_weight > 0``). Both default to ``generator``: by
    default the two come from one stream, so turning the penalty on shifts every later draw of
    that stream; pass separate streams for one-factor controls (see :func:`train_gan`).

    Batched players (``gen`` and ``disc`` with ``n_seeds``, e.g.
    :class:`~genlib.models.BatchedGenerator` and :class:`~genlib.models.BatchedMLP`) train all
    S members at once: every loss is per member (``members=True``, shape (S,)) and
    :math:`\sum_s L_{D,s}` is differentiated, which gives each member the gradient of its own loss.

    Args:
        gen: the generator (``sample(n, generator=)``); plain or batched.
        disc: returns logits, (B,) or (B, 1); (S, B, 1) for a batched model.
        opt_d: the optimizer of ``disc``'s parameters.
        real_batch: (B, ...) real data on the models' device; (S, B, d) for batched models (each
            member its own batch).
        loss: one of :data:`genlib.losses.GAN_LOSSES`.
        gp_weight: λ of :func:`~genlib.losses.gradient_penalty` (0 = off).
        r1_weight: γ/2 of :func:`~genlib.losses.r1_penalty` (0 = off).
        generator: draws z and ε unless the two streams below are given; for batched models
            also a list of S (one stream per member).
        latent_generator: draws z; ``None`` (default) means ``generator``.
        penalty_generator: draws the gradient penalty's ε; ``None`` (default) means
            ``generator``. ``None`` always means "use ``generator``": while ``generator`` is
            set, one stream alone cannot be sent to the global RNG.

    Returns:
        :math:`L_D` with its penalties, detached: a scalar, or (S,) for batched models.

    Raises:
        TypeError: players that are not modules, an optimizer that is not one, a bad generator.
        ValueError: one batched and one plain player (or different S), a ``real_batch`` of the
            wrong shape, an unknown ``loss``, negative weights, a list of generators whose
            length is not S.

    Example:
        >>> from genlib.models import BatchedGenerator, BatchedMLP
        >>> gen = BatchedGenerator(2, (8,), 2, seeds=[0, 1, 2])
        >>> disc = BatchedMLP(2, (8,), 1, seeds=[10, 11, 12])
        >>> opt_d = torch.optim.Adam(disc.parameters())
        >>> discriminator_step(gen, disc, opt_d, torch.randn(3, 16, 2), loss="hinge").shape
        torch.Size([3])
        >>> all(p.grad is None for p in gen.parameters())  # detached fakes: G untouched
        True
    """
    n_seeds = _players(gen, disc)
    _optimizer(opt_d, "opt_d")
    _gan_loss_args(loss, gp_weight, r1_weight)
    generator = _generators(generator, n_seeds)
    z_gen = _stream(latent_generator, generator, n_seeds)
    eps_gen = _stream(penalty_generator, generator, n_seeds)
    members = n_seeds is not None
    if members:
        _checks.tensor(real_batch, "real_batch", ndim=3)
        if real_batch.shape[0] != n_seeds or real_batch.shape[1] == 0:
            raise ValueError(f"expected real_batch of shape ({n_seeds}, B, d) for batched models of "
                             f"{n_seeds} members, got {tuple(real_batch.shape)}")
        batch = real_batch.shape[1]
    else:
        _checks.tensor(real_batch, "real_batch", min_ndim=2)
        batch = real_batch.shape[0]
    fake = gen.sample(batch, generator=z_gen).detach()
    d_loss = discriminator_loss(disc(real_batch), disc(fake), kind=loss, members=members)
    if gp_weight > 0:
        d_loss = d_loss + gp_weight * gradient_penalty(disc, real_batch, fake, generator=eps_gen,
                                                       members=members)
    if r1_weight > 0:
        d_loss = d_loss + r1_weight * r1_penalty(disc, real_batch, members=members)
    opt_d.zero_grad(set_to_none=True)
    (d_loss.sum() if members else d_loss).backward()
    opt_d.step()
    return d_loss.detach()


def generator_step(gen: nn.Module, disc: nn.Module, opt_g: torch.optim.Optimizer, *, batch_size: int,
                   loss: str, generator: torch.Generator | list[torch.Generator] | None = None,
                   latent_generator: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
    r"""One generator update through the current discriminator.

    .. math:: L_G = \text{generator\_loss}\big(D(G(z))\big),\qquad z\sim\mathcal N(0, I)

    (for ``"nonsaturating"``, :math:`-\mathbb E_z[\log D(G(z))]`), then
    ``opt_g.zero_grad(set_to_none=True)``, backward, ``opt_g.step()``. The backward pass
    accumulates gradients into G's parameters only (``backward(inputs=...)``): D's ``.grad`` is
    left as it was, and D's weights change only in :func:`discriminator_step`. Batched players:
    per-member losses (S,), their sum differentiated (see :func:`discriminator_step`).

    Args:
        gen: the generator (``sample(n, generator=)``); plain or batched.
        disc: the discriminator (logits); plain or batched like ``gen``.
        opt_g: the optimizer of ``gen``'s parameters.
        batch_size: fakes per update (per member for batched models).
        loss: one of :data:`genlib.losses.GAN_LOSSES`.
        generator: draws z; for batched models also a list of S (one stream per member).
        latent_generator: draws z instead of ``generator``; ``None`` (default) means
            ``generator`` (the keyword matches :func:`discriminator_step`'s).

    Returns:
        :math:`L_G`, detached: a scalar, or (S,) for batched models.

    Raises:
        TypeError, ValueError: as :func:`discriminator_step`, and for a ``batch_size`` that is
            not a positive int.

    Example:
        >>> from genlib.models import MLPDiscriminator, MLPGenerator
        >>> gen, disc = MLPGenerator(2, 2, hidden_dims=(8,)), MLPDiscriminator(2, hidden_dims=(8,))
        >>> opt_g = torch.optim.Adam(gen.parameters())
        >>> generator_step(gen, disc, opt_g, batch_size=16, loss="nonsaturating").shape
        torch.Size([])
        >>> all(p.grad is None for p in disc.parameters())  # D's gradients untouched
        True
    """
    n_seeds = _players(gen, disc)
    _optimizer(opt_g, "opt_g")
    _checks.positive_int(batch_size, "batch_size")
    _gan_loss_args(loss, 0.0, 0.0)
    generator = _generators(generator, n_seeds)
    z_gen = _stream(latent_generator, generator, n_seeds)
    members = n_seeds is not None
    g_loss = generator_loss(disc(gen.sample(batch_size, generator=z_gen)), kind=loss, members=members)
    params = [p for p in gen.parameters() if p.requires_grad]
    opt_g.zero_grad(set_to_none=True)
    (g_loss.sum() if members else g_loss).backward(inputs=params)
    opt_g.step()
    return g_loss.detach()


def train_gan(gen: nn.Module, disc: nn.Module, real: torch.Tensor | Callable[[int], torch.Tensor], *, steps: int,
              batch_size: int = 128, loss: str = "nonsaturating", lr_g: float = 2e-4, lr_d: float = 2e-4,
              betas: tuple[float, float] = (0.5, 0.999), d_steps: int = 1, gp_weight: float = 0.0,
              r1_weight: float = 0.0, ema: nn.Module | None = None, ema_decay: float = 0.999,
              generator: torch.Generator | list[torch.Generator] | None = None,
              data_generator: torch.Generator | list[torch.Generator] | None = None,
              latent_generator: torch.Generator | list[torch.Generator] | None = None,
              penalty_generator: torch.Generator | list[torch.Generator] | None = None,
              callback: Callable[[int], None] | None = None, callback_every: int | None = None,
              progress: bool = False) -> dict[str, list]:
    r"""Alternating GAN training: ``d_steps`` discriminator updates, then one generator update.

    Each of the ``steps`` iterations runs ``d_steps`` times :func:`discriminator_step` (a fresh
    real minibatch each time), then :func:`generator_step`, then, with ``ema``,
    :func:`ema_update`: :math:`\bar\theta \leftarrow d\,\bar\theta + (1-d)\,\theta_G` with
    :math:`d` = ``ema_decay``. The discriminator step uses ``fake.detach()``, so its backward pass
    never reaches G. Two Adam optimizers (``lr_g``, ``lr_d``, ``betas``) are created here.

    Batched players (``n_seeds`` on both, e.g. :class:`~genlib.models.BatchedGenerator` and
    :class:`~genlib.models.BatchedMLP`) train all S members at once; one Adam over the batched
    parameters is S independent Adams (see :mod:`genlib.models.batched`). With ``generator`` a list
    of S generators, member s draws everything (its minibatch indices, its z, its ε) from
    ``generator[s]`` in the order a run alone would, so member s equals the same model trained
    alone (S = 1) with ``generator=generator[s]`` (``tests/test_gan_loop.py`` checks it). The
    draws of one iteration, in order: for each D update the real minibatch, z, ε (only with
    ``gp_weight``); then z of the G update.

    **Random streams.** By default all of these come from the one stream ``generator``, so
    turning the gradient penalty on, or changing ``d_steps``, shifts every later minibatch and
    z. For controls that change exactly one factor give each kind of draw its own stream:
    ``data_generator`` (minibatch indices, or the ``generator=`` passed to a callable
    ``real``), ``latent_generator`` (z of the D and the G updates) and ``penalty_generator``
    (ε of the gradient penalty). Each defaults to ``generator``; with all three given,
    ``generator`` is not used. With separate streams, turning the gradient penalty on (or
    changing its weight) leaves every minibatch and every z exactly as they were (only ε is
    added, from its own stream; ``tests/test_gan_loop.py`` checks it); ``d_steps`` still
    changes how many minibatches and z each iteration consumes.

    **Callback and modes.** The players train in training mode. For the callback, ``gen`` and
    ``disc`` (and ``ema``, if given) are switched to eval mode and then restored (the players
    to training mode, ``ema`` to the mode it had), so a callback that samples sees a
    BatchNorm generator's running statistics (and does not update them), dropout off, and a
    spectrally normalised :class:`~genlib.models.BatchedMLP` without a power-iteration step.
    For players without BatchNorm, dropout or spectral norm (e.g. the MLPs of genlib) eval
    and training mode compute the same outputs, so this changes no result.

    Speed, on the book's 2-core CPU (torch 2.13), for the 2-D GAN (G 2→128→128→2, D
    2→128→128→1, batch 256, non-saturating loss, one D and one G update): 2.7 ms per step for
    ``MLPGenerator``/``MLPDiscriminator``; batched with per-member generators 2.5, 5.9 and 9.5 ms
    for S = 1, 3 and 5 (1.3× faster than S runs in a row: at this width the step is compute-bound,
    not launch-bound). Spectral norm on D costs 30–70 % more, WGAN-GP about 50 % more.

    Args:
        gen: a generator with ``latent_dim`` and ``sample(n, generator=)`` (e.g.
            :class:`~genlib.models.MLPGenerator`, or a :class:`~genlib.models.BatchedGenerator`).
        disc: returns logits (B,) or (B, 1); (S, B, 1) for a batched model.
        real: a tensor of real data (N, ...) (minibatches drawn uniformly with replacement, with
            ``generator``; the tensor and the generator may be on any devices), or a function
            called as ``real(n, generator=generator)`` that returns a batch of ``n``. For batched
            models a tensor (N, d) from which every member draws its own minibatch (S, B, d)
            (one (S, B) draw of indices from one generator, or (B,) from each of a list), or a
            function called once with ``n = S·B`` (one generator) or once per member with
            ``n = B`` and ``generator[s]`` (a list).
        steps: generator updates.
        batch_size: examples per update (per member for batched models).
        loss: one of :data:`genlib.losses.GAN_LOSSES`.
        lr_g, lr_d, betas: Adam's settings for G and D.
        d_steps: discriminator updates before each generator update.
        gp_weight: λ of the WGAN-GP penalty (0 = off).  r1_weight: γ/2 of the R1 penalty (0 = off).
        ema: a copy of ``gen`` (``copy.deepcopy(gen)``), updated in place after every G update.
        ema_decay: d of the running average, in [0, 1].
        generator: drives every draw not given its own stream below; for batched models also a
            list of S (one stream per member).
        data_generator: draws the real minibatches; ``None`` (default) means ``generator``.
        latent_generator: draws z (D and G updates); ``None`` (default) means ``generator``.
        penalty_generator: draws the gradient penalty's ε; ``None`` (default) means
            ``generator``. Each of the three may be a list of S for batched models, like
            ``generator``.
        callback: called as ``callback(step)`` after every ``callback_every``-th generator update
            (e.g. snapshots), with the models in eval mode (see above); ``callback_every`` is
            required with ``callback``.
        progress: show a ``tqdm`` bar.

    Returns:
        history with per-step ``d_loss`` and ``g_loss``: floats, or lists of S floats for
        batched models. **``d_loss`` holds only the last of the ``d_steps`` discriminator
        losses of each iteration** (penalties included); the ``d_steps - 1`` earlier ones are
        not recorded (loop over :func:`discriminator_step` yourself to keep them all).

    Raises:
        ValueError: for ``callback`` without a positive ``callback_every`` (it would never fire),
            negative penalty weights, an unknown ``loss``, one batched and one plain player,
            batched models with ``real`` not (N, d), a list of generators whose length is not S,
            ``ema`` that is ``gen`` itself or has other parameter shapes, an ``ema_decay`` outside
            [0, 1].  TypeError: a ``real`` that is neither a tensor nor callable, a list of
            generators for plain modules.

    Example:
        >>> from genlib.models import BatchedGenerator, BatchedMLP, seeded_generators
        >>> gen = BatchedGenerator(2, (8,), 2, seeds=[0, 1, 2])
        >>> disc = BatchedMLP(2, (8,), 1, seeds=[10, 11, 12], activation="leaky_relu")
        >>> hist = train_gan(gen, disc, torch.randn(100, 2), steps=4, batch_size=16,
        ...                  generator=seeded_generators([0, 1, 2]))
        >>> len(hist["g_loss"]), len(hist["g_loss"][0])  # steps, members
        (4, 3)
    """
    n_seeds = _players(gen, disc)
    _checks.positive_int(steps, "steps")
    _checks.positive_int(d_steps, "d_steps")
    _checks.positive_int(batch_size, "batch_size")
    _gan_loss_args(loss, gp_weight, r1_weight)
    generator = _generators(generator, n_seeds)
    data_gen = _stream(data_generator, generator, n_seeds)
    z_gen = _stream(latent_generator, generator, n_seeds)
    eps_gen = _stream(penalty_generator, generator, n_seeds)
    _checks.callback(callback, callback_every)
    if ema is not None:
        if ema is gen:
            raise ValueError("expected ema to be a copy of gen (copy.deepcopy(gen)), got gen itself")
        _check_ema(ema, gen, ema_decay)
    device = _device_of(gen)
    draw = _real_sampler(real, n_seeds, data_gen)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=betas)
    hist: dict[str, list] = {"d_loss": [], "g_loss": []}
    gen.train(), disc.train()
    for step in _bar(range(steps), steps, progress, "GAN"):
        for _ in range(d_steps):
            d_loss = discriminator_step(gen, disc, opt_d, draw(batch_size).to(device), loss=loss,
                                        gp_weight=gp_weight, r1_weight=r1_weight, generator=generator,
                                        latent_generator=z_gen, penalty_generator=eps_gen)
        g_loss = generator_step(gen, disc, opt_g, batch_size=batch_size, loss=loss, generator=generator,
                                latent_generator=z_gen)
        if ema is not None:
            ema_update(ema, gen, decay=ema_decay)
        hist["d_loss"].append(d_loss.tolist())
        hist["g_loss"].append(g_loss.tolist())
        if callback is not None and (step + 1) % callback_every == 0:
            ema_training = ema.training if ema is not None else None
            for m in (gen, disc, ema):
                if m is not None:
                    m.eval()
            try:
                callback(step + 1)
            finally:
                gen.train(), disc.train()
                if ema is not None:
                    ema.train(ema_training)
    gen.eval(), disc.eval()
    return hist


def _check_ema(ema, gen, decay) -> None:
    if not isinstance(ema, nn.Module):
        raise TypeError(f"expected ema to be an nn.Module (a copy of gen), got {type(ema).__name__}")
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay <= 1.0:
        raise ValueError(f"expected ema_decay in [0, 1], got {decay!r}")
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in (ema, gen)]
    if shapes[0] != shapes[1]:
        raise ValueError(f"expected ema with the parameters of gen, got shapes {shapes[0][:4]}... and "
                         f"{shapes[1][:4]}...")


def _real_sampler(real, n_seeds: int | None, generator) -> Callable[[int], torch.Tensor]:
    """``draw(n)``: a plain (n, ...) batch, or (S, n, d) for batched models (see :func:`train_gan`)."""
    per_member = isinstance(generator, list)
    if isinstance(real, torch.Tensor):
        data = _checks.tensor(real, "real", min_ndim=2)
        if n_seeds is None:
            def draw(n: int) -> torch.Tensor:
                return data[randint(len(data), (n,), generator=generator, device=data.device)]
        elif data.ndim != 2:
            raise ValueError(f"expected real of shape (N, d) for batched models, got {tuple(data.shape)}")
        elif per_member:
            def draw(n: int) -> torch.Tensor:
                return torch.stack([data[randint(len(data), (n,), generator=g, device=data.device)]
                                    for g in generator])
        else:
            def draw(n: int) -> torch.Tensor:
                return data[randint(len(data), (n_seeds, n), generator=generator, device=data.device)]
    elif callable(real):
        if n_seeds is None:
            def draw(n: int) -> torch.Tensor:
                return real(n, generator=generator)
        elif per_member:
            def draw(n: int) -> torch.Tensor:
                return torch.stack([real(n, generator=g) for g in generator])
        else:
            def draw(n: int) -> torch.Tensor:
                x = real(n_seeds * n, generator=generator)
                return x.reshape(n_seeds, n, *x.shape[1:])
    else:
        raise TypeError(f"expected real to be a tensor or a callable, got {type(real).__name__}")
    return draw


def train_cgan(gen: nn.Module, disc: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int,
               batch_size: int = 64, loss: str = "nonsaturating", lr_g: float = 2e-4, lr_d: float = 2e-4,
               betas: tuple[float, float] = (0.5, 0.999), aux_weight: float = 1.0,
               generator: torch.Generator | None = None, callback: Callable[[int], None] | None = None,
               callback_every: int | None = None) -> dict[str, list]:
    r"""Alternating training of a class-conditional GAN: one D update, then one G update.

    ``gen`` is a :class:`~genlib.models.ConditionalMLPGenerator` (``gen(z, y)``) and ``disc`` a
    :class:`~genlib.models.ConditionalMLPDiscriminator` (``disc.heads(x, y)``). Each step draws a
    real minibatch :math:`(x_i, y_i)` uniformly with replacement, fake labels
    :math:`\tilde y` uniformly over the classes and :math:`z \sim \mathcal N(0, I)`, and minimises

    .. math::
        L_D = \text{discriminator\_loss}\big(D(x, y), D(\operatorname{sg}[G(z, \tilde y)], \tilde y)\big)
              + \lambda\,[\mathrm{CE}(C(x), y) + \mathrm{CE}(C(G(z, \tilde y)), \tilde y)]

    then, with fresh :math:`z', \tilde y'`,

    .. math::
        L_G = \text{generator\_loss}\big(D(G(z', \tilde y'), \tilde y')\big)
              + \lambda\,\mathrm{CE}(C(G(z', \tilde y')), \tilde y').

    The bracketed cross-entropy terms (λ = ``aux_weight``, C = the classifier head) exist for
    ``disc.mode == "acgan"`` only: AC-GAN's D learns to classify real *and* generated images
    (as in Odena et al. 2017) and G is rewarded for images D classifies as the requested class.
    For ``"concat"`` and ``"projection"`` the label acts only through D's logit. The draws of
    one step, in order: minibatch indices, fake labels, z (D update); fake labels, z (G update),
    all from ``generator``, so two runs with the same seed and different ``disc.mode`` see the
    same data, labels and z.

    Speed (2-core CPU, torch 2.13): G 74→256→512→784, D 794→512→256→1, batch 64: about 5 ms
    per step.

    Args:
        gen, disc: the conditional players (same ``n_classes``).
        x: real images (N, ...) on the models' device (scaled like the generator's output).
        y: their int64 labels (N,).
        steps: generator updates.
        batch_size: real and fake examples per update.
        loss: one of :data:`genlib.losses.GAN_LOSSES`.
        lr_g, lr_d, betas: Adam's settings for G and D.
        aux_weight: λ of the AC-GAN classification terms (used only with ``mode="acgan"``).
        generator: drives every draw.
        callback: called as ``callback(step)`` after every ``callback_every``-th step with both
            players in eval mode (restored to training mode after).

    Returns:
        history with per-step ``d_loss`` and ``g_loss`` (the classification terms included), and
        for AC-GAN also ``d_class`` and ``g_class`` (the cross-entropies alone).

    Raises:
        TypeError: players that are not the conditional classes, labels that are not int64.
        ValueError: mismatched ``n_classes`` or batch lengths, labels out of range, an unknown
            ``loss``, a negative ``aux_weight``, ``callback`` without ``callback_every``.

    Example:
        >>> from genlib.models import ConditionalMLPDiscriminator, ConditionalMLPGenerator
        >>> g = ConditionalMLPGenerator(4, 3, 6, hidden_dims=(8,))
        >>> d = ConditionalMLPDiscriminator(6, 3, hidden_dims=(8,), mode="acgan")
        >>> x, y = torch.rand(30, 6) * 2 - 1, torch.arange(30) % 3
        >>> hist = train_cgan(g, d, x, y, steps=3, batch_size=8, generator=torch.Generator().manual_seed(0))
        >>> sorted(hist), len(hist["d_loss"])
        (['d_class', 'd_loss', 'g_class', 'g_loss'], 3)
    """
    from genlib.models.conditional import ConditionalMLPDiscriminator, ConditionalMLPGenerator, _labels

    if not isinstance(gen, ConditionalMLPGenerator):
        raise TypeError(f"expected gen to be a ConditionalMLPGenerator, got {type(gen).__name__}")
    if not isinstance(disc, ConditionalMLPDiscriminator):
        raise TypeError(f"expected disc to be a ConditionalMLPDiscriminator, got {type(disc).__name__}")
    if gen.n_classes != disc.n_classes:
        raise ValueError(f"expected gen and disc with the same n_classes, got {gen.n_classes} and {disc.n_classes}")
    _checks.positive_int(steps, "steps")
    _checks.positive_int(batch_size, "batch_size")
    _gan_loss_args(loss, 0.0, 0.0)
    if isinstance(aux_weight, bool) or not isinstance(aux_weight, (int, float)) or not aux_weight >= 0:
        raise ValueError(f"expected aux_weight >= 0, got {aux_weight!r}")
    _checks.generator_arg(generator)
    x = _checks.tensor(x, "x", min_ndim=2)
    y = _labels(y, gen.n_classes, len(x))
    _checks.callback(callback, callback_every)
    device = _device_of(gen)
    x, y = x.to(device), y.to(device)
    acgan = disc.mode == "acgan"
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=betas)
    g_params = [p for p in gen.parameters() if p.requires_grad]
    hist: dict[str, list] = {"d_loss": [], "g_loss": []}
    if acgan:
        hist.update(d_class=[], g_class=[])
    k, b, zd = gen.n_classes, batch_size, gen.latent_dim

    def fakes() -> tuple[torch.Tensor, torch.Tensor]:
        labels = randint(k, (b,), generator=generator, device=device)
        z = randn(b, zd, generator=generator, device=device, dtype=x.dtype)
        return gen(z, labels), labels

    gen.train(), disc.train()
    for step in range(steps):
        idx = randint(len(x), (b,), generator=generator, device=device)
        xr, yr = x[idx], y[idx]
        fake, yf = fakes()
        real_logit, real_cls = disc.heads(xr, yr)
        fake_logit, fake_cls = disc.heads(fake.detach(), yf)
        d_loss = discriminator_loss(real_logit, fake_logit, kind=loss)
        if acgan:
            d_class = torch.nn.functional.cross_entropy(real_cls, yr) + torch.nn.functional.cross_entropy(fake_cls, yf)
            d_loss = d_loss + aux_weight * d_class
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        fake, yf = fakes()
        logit, cls = disc.heads(fake, yf)
        g_loss = generator_loss(logit, kind=loss)
        if acgan:
            g_class = torch.nn.functional.cross_entropy(cls, yf)
            g_loss = g_loss + aux_weight * g_class
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward(inputs=g_params)
        opt_g.step()

        hist["d_loss"].append(float(d_loss.detach()))
        hist["g_loss"].append(float(g_loss.detach()))
        if acgan:
            hist["d_class"].append(float(d_class.detach()))
            hist["g_class"].append(float(g_class.detach()))
        if callback is not None and (step + 1) % callback_every == 0:
            gen.eval(), disc.eval()
            try:
                callback(step + 1)
            finally:
                gen.train(), disc.train()
    gen.eval(), disc.eval()
    return hist


from genlib.train_image import train_image_to_image  # noqa: E402  (re-exported: genlib.train holds every loop)
