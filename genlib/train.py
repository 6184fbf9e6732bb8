"""Small training loops that return their history (a dict of lists) and print nothing.

A ``tqdm`` bar is shown only with ``progress=True``. Data are tensors already on the model's
device; minibatches are drawn with :func:`genlib.data.batches`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from genlib import _checks
from genlib.data import batches
from genlib.losses import GAN_LOSSES, discriminator_loss, generator_loss, gradient_penalty, r1_penalty

__all__ = ["train_vae", "train_autoencoder", "train_gan", "evaluate_vae", "ema_update"]


def _bar(iterable, total: int, progress: bool, desc: str):
    if not progress:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_vae(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000,
                 generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean negative ELBO, reconstruction NLL and KL of ``model`` on ``x`` (one z sample each)."""
    was_training = model.training
    model.eval()
    totals = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    for (xb,) in batches(x, batch_size=batch_size, shuffle=False):
        parts = model.loss(xb, generator=generator)
        for k in totals:
            totals[k] += parts[k].item() * len(xb)
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
        beta: a constant, or a function ``epoch -> beta`` (e.g. a KL warm-up schedule).
        free_bits: nats per latent dimension below which the KL is not penalised.
        x_val: held-out data evaluated after every epoch.
        clip_grad: max global gradient norm, or ``None``.
        generator: drives the minibatch order and the reparameterisation noise.

    Returns:
        history with per-epoch ``loss``, ``recon``, ``kl``, ``beta`` (training means) and, with
        ``x_val``, ``val_loss``, ``val_recon``, ``val_kl``.
    """
    _checks.positive_int(epochs, "epochs")
    _checks.tensor(x_train, "x_train", min_ndim=2)
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
            ev = evaluate_vae(model, x_val, generator=generator)
            for k in ("loss", "recon", "kl"):
                hist["val_" + k].append(ev[k])
    model.eval()
    return hist


def train_autoencoder(model: nn.Module, x_train: torch.Tensor, *, epochs: int, batch_size: int = 128,
                      lr: float = 1e-3, generator: torch.Generator | None = None,
                      progress: bool = False) -> dict[str, list[float]]:
    """Train any model whose ``loss(x)`` returns a dict with ``"loss"``; history of mean losses."""
    _checks.positive_int(epochs, "epochs")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list[float]] = {"loss": []}
    model.train()
    for _ in _bar(range(epochs), epochs, progress, "AE"):
        total = 0.0
        for (xb,) in batches(x_train, batch_size=batch_size, generator=generator):
            loss = model.loss(xb)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        hist["loss"].append(total / len(x_train))
    model.eval()
    return hist


@torch.no_grad()
def ema_update(ema_model: nn.Module, model: nn.Module, *, decay: float) -> None:
    """``ema ← decay·ema + (1 − decay)·model`` for every parameter (buffers are copied)."""
    for pe, p in zip(ema_model.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema_model.buffers(), model.buffers()):
        be.copy_(b)


def train_gan(gen: nn.Module, disc: nn.Module, real: torch.Tensor | Callable[[int], torch.Tensor], *, steps: int,
              batch_size: int = 128, loss: str = "nonsaturating", lr_g: float = 2e-4, lr_d: float = 2e-4,
              betas: tuple[float, float] = (0.5, 0.999), d_steps: int = 1, gp_weight: float = 0.0,
              r1_weight: float = 0.0, generator: torch.Generator | None = None,
              callback: Callable[[int], None] | None = None, callback_every: int = 0,
              progress: bool = False) -> dict[str, list[float]]:
    """Alternating GAN training: ``d_steps`` discriminator updates, then one generator update.

    The discriminator step uses ``fake.detach()`` so that its backward pass never reaches G.

    Args:
        gen: a generator with ``latent_dim`` and ``sample(n, generator=)`` (e.g. :class:`~genlib.models.MLPGenerator`).
        disc: returns logits (B,).
        real: a tensor of real data (minibatches drawn uniformly with ``generator``), or a
            function called as ``real(n, generator=generator)`` that returns a batch of ``n``.
        steps: generator updates.
        loss: one of :data:`genlib.losses.GAN_LOSSES`.
        gp_weight: λ of the WGAN-GP penalty (0 = off).  r1_weight: γ/2 of the R1 penalty (0 = off).
        callback: called as ``callback(step)`` every ``callback_every`` steps (e.g. snapshots).

    Returns:
        history with per-step ``d_loss`` and ``g_loss``.
    """
    _checks.positive_int(steps, "steps")
    _checks.positive_int(d_steps, "d_steps")
    _checks.choice(loss, "loss", GAN_LOSSES)
    device = _device_of(gen)
    if isinstance(real, torch.Tensor):
        data = real

        def draw(n: int) -> torch.Tensor:
            idx = torch.randint(len(data), (n,), generator=generator).to(data.device)
            return data[idx]
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
        if callback is not None and callback_every > 0 and (step + 1) % callback_every == 0:
            callback(step + 1)
    gen.eval(), disc.eval()
    return hist
