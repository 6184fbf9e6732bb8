"""Small training loops that return their history (a dict of lists) and print nothing.

A ``tqdm`` bar is shown only with ``progress=True``. Data are tensors already on the model's
device; minibatches are drawn with :func:`genlib.data.batches`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from genlib import _checks
from genlib._random import randint
from genlib.data import batches
from genlib.losses import GAN_LOSSES, discriminator_loss, generator_loss, gradient_penalty, r1_penalty

__all__ = ["train_vae", "fit", "train_autoencoder", "train_gan", "evaluate_vae", "ema_update", "VAL_SEED"]


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


def train_gan(gen: nn.Module, disc: nn.Module, real: torch.Tensor | Callable[[int], torch.Tensor], *, steps: int,
              batch_size: int = 128, loss: str = "nonsaturating", lr_g: float = 2e-4, lr_d: float = 2e-4,
              betas: tuple[float, float] = (0.5, 0.999), d_steps: int = 1, gp_weight: float = 0.0,
              r1_weight: float = 0.0, generator: torch.Generator | None = None,
              callback: Callable[[int], None] | None = None, callback_every: int | None = None,
              progress: bool = False) -> dict[str, list[float]]:
    """Alternating GAN training: ``d_steps`` discriminator updates, then one generator update.

    The discriminator step uses ``fake.detach()`` so that its backward pass never reaches G.

    Args:
        gen: a generator with ``latent_dim`` and ``sample(n, generator=)`` (e.g. :class:`~genlib.models.MLPGenerator`).
        disc: returns logits (B,).
        real: a tensor of real data (minibatches drawn uniformly with replacement, with
            ``generator``; the tensor and the generator may be on any devices), or a function
            called as ``real(n, generator=generator)`` that returns a batch of ``n``.
        steps: generator updates.
        loss: one of :data:`genlib.losses.GAN_LOSSES`.
        d_steps: discriminator updates before each generator update.
        gp_weight: λ of the WGAN-GP penalty (0 = off).  r1_weight: γ/2 of the R1 penalty (0 = off).
        callback: called as ``callback(step)`` after every ``callback_every``-th generator update
            (e.g. snapshots); ``callback_every`` is required with ``callback``.

    Returns:
        history with per-step ``d_loss`` (the last discriminator update's) and ``g_loss``.

    Raises:
        ValueError: for ``callback`` without a positive ``callback_every`` (it would never fire),
            negative penalty weights or an unknown ``loss``.
    """
    _checks.positive_int(steps, "steps")
    _checks.positive_int(d_steps, "d_steps")
    _checks.positive_int(batch_size, "batch_size")
    _checks.choice(loss, "loss", GAN_LOSSES)
    for value, what in ((gp_weight, "gp_weight"), (r1_weight, "r1_weight")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"expected {what} >= 0, got {value!r}")
    if callback is not None:
        if not callable(callback):
            raise TypeError(f"expected callback to be callable, got {type(callback).__name__}")
        if callback_every is None:
            raise ValueError("expected callback_every (a positive int) with callback, got None: "
                             "the callback would never be called")
        _checks.positive_int(callback_every, "callback_every")
    device = _device_of(gen)
    if isinstance(real, torch.Tensor):
        data = _checks.tensor(real, "real", min_ndim=2)

        def draw(n: int) -> torch.Tensor:
            return data[randint(len(data), (n,), generator=generator, device=data.device)]
    elif callable(real):
        def draw(n: int) -> torch.Tensor:
            return real(n, generator=generator)
    else:
        raise TypeError(f"expected real to be a tensor or a callable, got {type(real).__name__}")
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=betas)
    hist: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
    gen.train(), disc.train()
    for step in _bar(range(steps), steps, progress, "GAN"):
        for _ in range(d_steps):
            x = draw(batch_size).to(device)
            fake = gen.sample(batch_size, generator=generator).detach()
            d_loss = discriminator_loss(disc(x), disc(fake), kind=loss)
            if gp_weight > 0:
                d_loss = d_loss + gp_weight * gradient_penalty(disc, x, fake, generator=generator)
            if r1_weight > 0:
                d_loss = d_loss + r1_weight * r1_penalty(disc, x)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        g_loss = generator_loss(disc(gen.sample(batch_size, generator=generator)), kind=loss)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        hist["d_loss"].append(d_loss.item())
        hist["g_loss"].append(g_loss.item())
        if callback is not None and (step + 1) % callback_every == 0:
            callback(step + 1)
    gen.eval(), disc.eval()
    return hist
