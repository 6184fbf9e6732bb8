r"""Training loop for conditional image-to-image models (pix2pix, super-resolution, inpainting).

:func:`train_image_to_image` trains a generator ``G: c -> y`` (e.g.
:class:`~genlib.models.ImageToImageNet`) on pairs (c, x) with a pixel loss, and optionally a
conditional discriminator (e.g. :class:`~genlib.models.PatchDiscriminator`) that sees
(c, y) concatenated along channels. ``adv_weight=0`` is the pixel-loss-only baseline: the same
minibatches (same seeded ``generator``), the same G, no discriminator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from genlib import _checks
from genlib._random import randint
from genlib.losses import GAN_LOSSES, discriminator_loss, generator_loss

__all__ = ["train_image_to_image"]

_PIXEL_LOSSES = ("l1", "l2")


def _members_of(m, name: str) -> int:
    if not isinstance(m, nn.Module):
        raise TypeError(f"expected {name} to be an nn.Module, got {type(m).__name__}")
    return getattr(m, "members", getattr(m, "n_seeds", 1)) or 1


def _weight(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected {name} to be a number, got {type(v).__name__}")
    if not v >= 0:
        raise ValueError(f"expected {name} >= 0, got {v}")
    return float(v)


def _generator_streams(generator, members: int):
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (list, tuple)):
        for g in generator:
            if not isinstance(g, torch.Generator):
                raise TypeError(f"expected a list of torch.Generator, got an entry {type(g).__name__}")
        if len(generator) != members:
            raise ValueError(f"expected a list of {members} generators (one per member), got {len(generator)}")
        return list(generator)
    raise TypeError(f"expected generator to be None, a torch.Generator or a list of {members} (one per member), "
                    f"got {type(generator).__name__}")


def train_image_to_image(gen: nn.Module, disc: nn.Module | None, inputs: torch.Tensor, targets: torch.Tensor, *,
                         steps: int, batch_size: int = 64, pixel_weight: float = 1.0, adv_weight: float = 0.0,
                         pixel_loss: str = "l1", loss: str = "nonsaturating", lr_g: float = 2e-4,
                         lr_d: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                         masks: torch.Tensor | None = None,
                         generator: torch.Generator | Sequence[torch.Generator] | None = None,
                         callback: Callable[[int], None] | None = None,
                         callback_every: int | None = None) -> dict[str, list]:
    r"""Train ``gen`` to map ``inputs`` to ``targets``: pixel loss, plus a conditional GAN term.

    With :math:`c` a minibatch of ``inputs``, :math:`x` the matching ``targets`` and
    :math:`y = G(c)` (composited with the masks, see below), the generator minimises the
    pix2pix objective (Isola et al. 2017)

    .. math::
        L_G = \lambda_\text{pix}\,\ell_\text{pix}(y, x)
              + \lambda_\text{adv}\,\text{generator\_loss}\big(D([c, y])\big),

    :math:`\ell_\text{pix}` the mean absolute (``"l1"``) or squared (``"l2"``) error, and the
    discriminator minimises ``discriminator_loss(D([c, x]), D([c, sg[y]]))``, where
    :math:`[c, \cdot]` concatenates along channels (so D's ``in_channels`` is
    ``inputs.shape[1] + targets.shape[1]``) and the losses average over the patch logits and
    the batch (:func:`genlib.losses.discriminator_loss`, ``kind=loss``). Each step: draw one
    minibatch (``batch_size`` indices uniformly with replacement, from ``generator``), one
    forward of G; then, with ``adv_weight > 0``, one D update on the detached y, then one G
    update through the updated D (its backward reaches G's parameters only). Two Adams
    (``lr_g``, ``lr_d``, ``betas``) are created here. **With ``adv_weight=0``** D is neither
    called nor trained (``disc`` may be None): the pixel-loss-only baseline with the same
    minibatches as the adversarial run for the same seeded ``generator``, and G is z-free, so the
    two runs differ only in the adversarial term.

    **Masks (inpainting).** With ``masks`` m (N, 1, H, W), 1 in the hole, aligned with ``inputs``,
    G's output is composited with the known pixels, :math:`y = c_{[:C]}\,(1 - m) + G(c)\,m`
    (C = ``targets.shape[1]``; the first C channels of the input are the masked image, so outside
    the hole y is exactly the input), D sees that composite, and the pixel loss averages over the
    hole only: :math:`\sum |y - x|\,m / (C \sum m)` (context-encoder style).

    **Members.** For networks with ``members`` = S > 1 (:class:`~genlib.models.ImageToImageNet`,
    :class:`~genlib.models.PatchDiscriminator`) all S train at once on the shared data:
    member s draws its own minibatch each step, from ``generator[s]`` when ``generator`` is a
    list of S generators (e.g. :func:`genlib.models.seeded_generators`), so member s then equals
    the same network trained alone with ``generator=generator[s]`` (up to float rounding;
    ``tests/test_image.py`` checks it), or all S minibatches from one generator as one
    (S, B) draw of indices. The losses are per member and their sum is differentiated (each
    member gets its own gradient; one Adam is S Adams, see :mod:`genlib.models.batched`).

    **Speed**, seconds per 1,000 steps on the book's 2-core CPU (torch 2.13, batch 64, 28 × 28,
    :class:`~genlib.models.ImageToImageNet` and :class:`~genlib.models.PatchDiscriminator` of
    the same ``width``; measured while other jobs shared the machine, so ±20 %):

    ======  =========  ============  ==========  =============
    width   1 member   1, with adv   3 members   3, with adv
    ======  =========  ============  ==========  =============
    32      44         73            134         185
    16      20         31–42         61–80       99–120
    8       14         21–24         43–47       66–71
    ======  =========  ============  ==========  =============

    On the CPU S members cost S times one (the nets are compute-bound; grouped convolutions
    were slower still, see :mod:`genlib.models.image2image`): members buy one call and one
    history, not speed. Budget a chapter's steps from this table.

    Args:
        gen: maps (B, C_in, H, W) to (B, C, H, W) in [0, 1] (or (S, B, ...) with members).
        disc: a conditional discriminator on ``C_in + C`` channels returning logits (B, P) or
            (B, P, ...) ((S, B, P) with members); may be None when ``adv_weight`` is 0.
        inputs: conditions c, (N, C_in, H, W) (the upsampled low-resolution image, an edge map,
            or masked image and mask); on G's device.
        targets: images x, (N, C, H, W), same N, H, W.
        steps: G updates.
        batch_size: B, examples per step (per member).
        pixel_weight: λ_pix ≥ 0 (pix2pix uses 100 with λ_adv = 1).
        adv_weight: λ_adv ≥ 0; 0 trains the pixel-loss-only baseline.
        pixel_loss: ``"l1"`` or ``"l2"``.
        loss: the GAN loss, one of :data:`genlib.losses.GAN_LOSSES`.
        lr_g, lr_d, betas: Adam's settings.
        masks: None or (N, 1, H, W) holes (see above).
        generator: draws the minibatch indices (the only random draw here): None, one
            ``torch.Generator``, or for S members a list of S.
        callback: called as ``callback(step)`` after every ``callback_every``-th step with the
            networks in eval mode (then back to training mode).
        callback_every: required with ``callback``.

    Returns:
        History with per-step lists ``pixel`` (the unweighted pixel loss), ``g_adv`` (the
        generator's adversarial loss) and ``d_loss``: floats, or lists of S floats with members.
        With ``adv_weight=0``, ``g_adv`` and ``d_loss`` are empty lists. The networks are left in
        eval mode.

    Raises:
        TypeError: networks that are not modules, non-tensor data, a bad ``generator`` or
            ``callback``, non-numeric weights.
        ValueError: shapes that do not match, masks not (N, 1, H, W) of 0s and 1s, negative
            weights, ``adv_weight > 0`` without ``disc``, G and D with different members, an
            unknown ``pixel_loss`` or ``loss``, ``callback`` without ``callback_every``, a list of
            generators whose length is not S.

    Example:
        >>> from genlib.models import ImageToImageNet, PatchDiscriminator, seeded_generators
        >>> c, x = torch.rand(32, 1, 28, 28), torch.rand(32, 1, 28, 28)
        >>> gen = ImageToImageNet(1, 1, width=8, members=2, seeds=[0, 1])
        >>> disc = PatchDiscriminator(2, width=8, members=2, seeds=[10, 11])
        >>> hist = train_image_to_image(gen, disc, c, x, steps=3, batch_size=8, adv_weight=1.0,
        ...                             generator=seeded_generators([0, 1]))
        >>> len(hist["pixel"]), len(hist["d_loss"][0])  # steps, members
        (3, 2)
    """
    s = _members_of(gen, "gen")
    adv_weight = _weight(adv_weight, "adv_weight")
    pixel_weight = _weight(pixel_weight, "pixel_weight")
    adversarial = adv_weight > 0
    if disc is not None:
        s_d = _members_of(disc, "disc")
        if s_d != s:
            raise ValueError(f"expected gen and disc with the same number of members, got {s} and {s_d}")
    elif adversarial:
        raise ValueError(f"expected a discriminator with adv_weight={adv_weight} > 0, got disc=None "
                         "(pass adv_weight=0 for the pixel-loss-only baseline)")
    steps = _checks.positive_int(steps, "steps")
    batch_size = _checks.positive_int(batch_size, "batch_size")
    _checks.choice(pixel_loss, "pixel_loss", _PIXEL_LOSSES)
    _checks.choice(loss, "loss", GAN_LOSSES)
    inputs = _checks.tensor(inputs, "inputs", ndim=4)
    targets = _checks.tensor(targets, "targets", ndim=4)
    if inputs.shape[0] != targets.shape[0] or inputs.shape[2:] != targets.shape[2:]:
        raise ValueError(f"expected inputs (N, C_in, H, W) and targets (N, C, H, W) with the same N, H, W, got "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}")
    if targets.device != inputs.device:
        raise ValueError(f"expected inputs and targets on one device, got {inputs.device} and {targets.device}")
    n, c_out = targets.shape[0], targets.shape[1]
    if masks is not None:
        masks = _checks.tensor(masks, "masks", ndim=4)
        if masks.shape != (n, 1, *targets.shape[2:]):
            raise ValueError(f"expected masks of shape {(n, 1, *targets.shape[2:])}, got {tuple(masks.shape)}")
        if not ((masks == 0) | (masks == 1)).all():
            raise ValueError("expected masks of 0s and 1s (1 in the hole)")
        if inputs.shape[1] < c_out:
            raise ValueError(f"expected inputs with at least C={c_out} channels (the masked image first) with "
                             f"masks, got {inputs.shape[1]}")
        masks = masks.to(inputs.device)
    generator = _generator_streams(generator, s)
    _checks.callback(callback, callback_every)
    stacked = s > 1

    def draw() -> torch.Tensor:
        if isinstance(generator, list):
            idx = torch.stack([randint(n, (batch_size,), generator=g, device=inputs.device) for g in generator])
            return idx if stacked else idx[0]
        shape = (s, batch_size) if stacked else (batch_size,)
        return randint(n, shape, generator=generator, device=inputs.device)

    def per_member_mean(t: torch.Tensor) -> torch.Tensor:
        return t.flatten(1).mean(1) if stacked else t.mean()

    def logits(d_out: torch.Tensor) -> torch.Tensor:  # (S, B·P) or (B, P)
        return d_out.reshape(s, -1) if stacked else d_out.reshape(d_out.shape[0], -1)

    opt_g = torch.optim.Adam(gen.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=betas) if adversarial else None
    g_params = [p for p in gen.parameters() if p.requires_grad]
    hist: dict[str, list] = {"pixel": [], "g_adv": [], "d_loss": []}
    cat_dim = 2 if stacked else 1
    gen.train()
    if adversarial:
        disc.train()
    for step in range(steps):
        idx = draw()
        cond, real = inputs[idx], targets[idx]  # (B, ...) or (S, B, ...)
        out = gen(cond)
        if masks is not None:
            m = masks[idx]
            known = cond[:, :, :c_out] if stacked else cond[:, :c_out]
            out = known * (1 - m) + out * m
            err = (out - real).abs() if pixel_loss == "l1" else (out - real).square()
            pix = (err * m).flatten(1 if not stacked else 2).sum(-1)
            area = (m.flatten(1 if not stacked else 2).sum(-1) * c_out)
            pix = pix.sum(-1) / area.sum(-1).clamp_min(1.0)  # mean over the holes of the batch
        else:
            err = (out - real).abs() if pixel_loss == "l1" else (out - real).square()
            pix = per_member_mean(err)
        if adversarial:
            d_loss = discriminator_loss(logits(disc(torch.cat([cond, real], cat_dim))),
                                        logits(disc(torch.cat([cond, out.detach()], cat_dim))),
                                        kind=loss, members=stacked)
            opt_d.zero_grad(set_to_none=True)
            (d_loss.sum() if stacked else d_loss).backward()
            opt_d.step()
            g_adv = generator_loss(logits(disc(torch.cat([cond, out], cat_dim))), kind=loss, members=stacked)
            total = pixel_weight * pix + adv_weight * g_adv
        else:
            total = pixel_weight * pix
        opt_g.zero_grad(set_to_none=True)
        (total.sum() if stacked else total).backward(inputs=g_params)
        opt_g.step()
        hist["pixel"].append(pix.detach().tolist())
        if adversarial:
            hist["g_adv"].append(g_adv.detach().tolist())
            hist["d_loss"].append(d_loss.detach().tolist())
        if callback is not None and (step + 1) % callback_every == 0:
            gen.eval()
            if disc is not None:
                disc.eval()
            try:
                callback(step + 1)
            finally:
                gen.train()
                if adversarial:
                    disc.train()
    gen.eval()
    if disc is not None:
        disc.eval()
    return hist
