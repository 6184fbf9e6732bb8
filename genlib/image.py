r"""Degradations and measurements on batches of images (N, C, H, W) with values in [0, 1].

The image-to-image chapters (Q28 edges → digit, Q30 super-resolution and denoising, Q9
inpainting) build their inputs with these functions and measure sharpness with
:func:`high_frequency_energy`:

- :func:`downsample` (area average) and :func:`upsample` (bicubic, bilinear or nearest);
- :func:`add_noise` (Gaussian, clipped to [0, 1]);
- :func:`edge_map` (Sobel gradient magnitude, optionally binarised);
- :func:`box_masks` (square holes) and :func:`composite` (known pixels outside the hole);
- :func:`high_frequency_energy` (the fraction of spectral power at high radial frequency).

Every function that draws random numbers takes ``generator``; nothing here changes its input.

Example:
    >>> x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> low = downsample(x, 4)
    >>> low.shape, upsample(low, 4).shape
    (torch.Size([2, 1, 7, 7]), torch.Size([2, 1, 28, 28]))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genlib import _checks
from genlib._random import randint, randn

__all__ = ["add_noise", "box_masks", "composite", "downsample", "edge_map", "high_frequency_energy", "upsample"]

_UPSAMPLE_MODES = ("bicubic", "bilinear", "nearest")


def _images(x, name: str = "x") -> torch.Tensor:
    x = _checks.tensor(x, name, ndim=4)
    if x.shape[1] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"expected {name} of shape (N, C, H, W) with no zero size, got {tuple(x.shape)}")
    return x


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    r"""Area-average downsampling by an integer factor: each output pixel is the mean of a
    ``factor × factor`` block, :math:`y_{ij} = \frac{1}{f^2}\sum_{a,b<f} x_{fi+a,\,fj+b}`
    (``F.avg_pool2d(x, factor)``; the average of values in [0, 1] stays in [0, 1]).

    Args:
        x: images (N, C, H, W), H and W divisible by ``factor``.
        factor: f, a positive int (4 for the book's 28 → 7).

    Returns:
        (N, C, H/f, W/f), same dtype and device.

    Raises:
        TypeError: a non-tensor or non-floating ``x``, a non-int ``factor``.
        ValueError: ``x`` not 4-D, ``factor`` ≤ 0, or H, W not divisible by it.

    Example:
        >>> downsample(torch.arange(16.0).view(1, 1, 4, 4), 2)
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
    """
    x = _images(x)
    f = _checks.positive_int(factor, "factor")
    if x.shape[2] % f or x.shape[3] % f:
        raise ValueError(f"expected H and W divisible by factor={f}, got {x.shape[2]}x{x.shape[3]}")
    return F.avg_pool2d(x, f) if f > 1 else x.clone()


def upsample(x: torch.Tensor, factor: int, *, mode: str = "bicubic") -> torch.Tensor:
    """Interpolate up by an integer factor and clamp to [0, 1].

    ``F.interpolate(x, scale_factor=factor, mode=mode, align_corners=False)`` (no
    ``align_corners`` for ``"nearest"``). Bicubic interpolation overshoots near edges, so the
    result is clamped to the image range [0, 1]. ``upsample(downsample(x, f), f)`` has the shape
    of ``x``: it is the blurry input of the super-resolution chapter (Q30).

    Args:
        x: images (N, C, h, w).
        factor: a positive int.
        mode: ``"bicubic"``, ``"bilinear"`` or ``"nearest"``.

    Returns:
        (N, C, factor·h, factor·w) in [0, 1].

    Raises:
        TypeError: a non-tensor or non-floating ``x``, a non-int ``factor``.
        ValueError: ``x`` not 4-D, ``factor`` ≤ 0, an unknown ``mode``.

    Example:
        >>> upsample(torch.tensor([[[[0.0, 1.0]]]]), 2, mode="nearest")
        tensor([[[[0., 0., 1., 1.],
                  [0., 0., 1., 1.]]]])
    """
    x = _images(x)
    f = _checks.positive_int(factor, "factor")
    _checks.choice(mode, "mode", _UPSAMPLE_MODES)
    if f == 1:
        return x.clamp(0.0, 1.0)
    kw = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(x, scale_factor=f, mode=mode, **kw).clamp(0.0, 1.0)


def add_noise(x: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None,
              clip: bool = True) -> torch.Tensor:
    r"""Additive Gaussian noise: :math:`y = x + \sigma\varepsilon`, :math:`\varepsilon\sim\mathcal N(0, I)`,
    then clamped to [0, 1] if ``clip``.

    Args:
        x: images (N, C, H, W) (any floating tensor of rank ≥ 1 works the same way).
        sigma: σ ≥ 0 (0 returns a copy of ``x``, clipped if ``clip``).
        generator: draws ε (same seed, same noise; a CPU generator works for a GPU ``x``).
        clip: clamp the result to [0, 1].

    Returns:
        A new tensor like ``x``.

    Raises:
        TypeError: a non-tensor or non-floating ``x``, a non-numeric ``sigma``, a non-bool
            ``clip``, a bad ``generator``.
        ValueError: ``sigma`` < 0 or not finite, an empty ``x``.

    Example:
        >>> x = torch.full((1, 1, 2, 2), 0.5)
        >>> y = add_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
        >>> torch.equal(y, add_noise(x, 0.1, generator=torch.Generator().manual_seed(0)))
        True
    """
    x = _checks.tensor(x, "x", min_ndim=1)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise TypeError(f"expected sigma to be a number, got {type(sigma).__name__}")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"expected sigma >= 0 (finite), got {sigma}")
    if not isinstance(clip, bool):
        raise TypeError(f"expected clip to be a bool, got {type(clip).__name__}")
    _checks.generator_arg(generator)
    y = x + sigma * randn(*x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return y.clamp(0.0, 1.0) if clip else y


_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def edge_map(x: torch.Tensor, *, threshold: float | None = None) -> torch.Tensor:
    r"""Sobel edge strength, scaled per image to [0, 1], optionally binarised.

    Per channel, with the Sobel kernels :math:`K_x = [1, 2, 1]^\top[-1, 0, 1]` and
    :math:`K_y = K_x^\top` on the replicate-padded image (so a constant border has no edge),

    .. math:: g = \sqrt{(K_x * x)^2 + (K_y * x)^2},\qquad e = g / \max_{c,i,j} g

    (each image divided by its own maximum; a blank or constant image, g = 0 everywhere, stays
    0; values of g below 64 float epsilons times the image's largest |x| count as 0, rounding
    noise of the convolution, not an edge). With
    ``threshold`` t, the result is the binary map :math:`\mathbf 1[e > t]` (as floats): the
    "edges → digit" input of pix2pix (Q28).

    Args:
        x: images (N, C, H, W), H, W ≥ 2.
        threshold: None (the strength e) or t in [0, 1).

    Returns:
        (N, C, H, W) in [0, 1], same dtype and device.

    Raises:
        TypeError: a non-tensor or non-floating ``x``, a non-numeric ``threshold``.
        ValueError: ``x`` not 4-D or smaller than 2 × 2, ``threshold`` outside [0, 1).

    Example:
        >>> step = torch.zeros(1, 1, 4, 6)
        >>> step[..., 3:] = 1.0
        >>> edge_map(step, threshold=0.5)[0, 0, 0]  # edges on the two columns at the step
        tensor([0., 0., 1., 1., 0., 0.])
    """
    x = _images(x)
    if min(x.shape[2], x.shape[3]) < 2:
        raise ValueError(f"expected images of at least 2x2 pixels, got {x.shape[2]}x{x.shape[3]}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"expected threshold to be None or a number, got {type(threshold).__name__}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"expected threshold in [0, 1), got {threshold}")
    n, c, h, w = x.shape
    kx = torch.tensor(_SOBEL_X, dtype=x.dtype, device=x.device)
    kernels = torch.stack([kx, kx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    padded = F.pad(x.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    grad = F.conv2d(padded, kernels)  # (N·C, 2, H, W)
    g = grad.square().sum(1).sqrt().view(n, c, h, w)
    # convolution kernels sum in any order: on a flat region that leaves rounding noise, not an edge
    scale = x.detach().abs().flatten(1).amax(1).view(n, 1, 1, 1)
    g = torch.where(g > 64 * torch.finfo(g.dtype).eps * scale, g, torch.zeros_like(g))
    peak = g.flatten(1).amax(1).view(n, 1, 1, 1)
    e = torch.where(peak > 0, g / peak.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(g))
    if threshold is None:
        return e
    return (e > threshold).to(x.dtype)


def box_masks(n: int, size: int, *, image_size: int = 28, center: bool = False,
              generator: torch.Generator | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    r"""Square holes: ``n`` masks of shape (1, image_size, image_size), 1 inside a
    ``size × size`` square and 0 elsewhere.

    The square lies fully inside the image: its top-left corner (i, j) is drawn uniformly from
    :math:`\{0, \dots, H - \text{size}\}^2` (rows and columns independently), or, with
    ``center=True``, is :math:`i = j = \lfloor (H - \text{size}) / 2 \rfloor` for every mask (no
    draw). Each mask has exactly size² ones. Use with :func:`composite`, or feed
    ``torch.cat([x * (1 - m), m], 1)`` to an inpainting network (Q9).

    Args:
        n: number of masks.
        size: side of the hole, 1 ≤ size ≤ image_size.
        image_size: H = W of the images.
        center: the same centred hole for all masks instead of random positions.
        generator: draws the positions (unused with ``center``).
        device: device of the result (default CPU).

    Returns:
        A float32 tensor (n, 1, image_size, image_size) of 0s and 1s.

    Raises:
        TypeError: non-int sizes, a non-bool ``center``, a bad ``generator``.
        ValueError: non-positive sizes, ``size > image_size``.

    Example:
        >>> m = box_masks(3, 10, generator=torch.Generator().manual_seed(0))
        >>> m.shape, m.sum((1, 2, 3)).tolist()
        (torch.Size([3, 1, 28, 28]), [100.0, 100.0, 100.0])
    """
    n = _checks.positive_int(n, "n")
    size = _checks.positive_int(size, "size")
    image_size = _checks.positive_int(image_size, "image_size")
    if size > image_size:
        raise ValueError(f"expected size <= image_size={image_size} (the hole inside the image), got {size}")
    if not isinstance(center, bool):
        raise TypeError(f"expected center to be a bool, got {type(center).__name__}")
    _checks.generator_arg(generator)
    device = torch.device(device) if device is not None else torch.device("cpu")
    if center:
        corner = torch.full((n, 2), (image_size - size) // 2, device=device)
    else:
        corner = randint(image_size - size + 1, (n, 2), generator=generator, device=device)
    r = torch.arange(image_size, device=device)
    rows = (r >= corner[:, :1]) & (r < corner[:, :1] + size)  # (n, H)
    cols = (r >= corner[:, 1:]) & (r < corner[:, 1:] + size)  # (n, W)
    return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1).float()


def composite(known: torch.Tensor, generated: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""Paste generated pixels into the holes: :math:`y = k\,(1 - m) + g\,m`.

    Outside the hole (m = 0) the result is exactly ``known``; inside (m = 1) exactly
    ``generated``. :func:`genlib.train_image.train_image_to_image` composites this way with
    ``masks``.

    Args:
        known: (N, C, H, W) the known image (its values in the hole do not matter).
        generated: (N, C, H, W) a network's output.
        masks: (N, 1, H, W) or (N, C, H, W), 1 in the hole (e.g. :func:`box_masks`).

    Returns:
        (N, C, H, W).

    Raises:
        TypeError: non-floating tensors.  ValueError: mismatched shapes.

    Example:
        >>> m = box_masks(1, 2, image_size=4, center=True)
        >>> composite(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), m).sum().item()
        4.0
    """
    known = _images(known, "known")
    generated = _images(generated, "generated")
    masks = _images(masks, "masks")
    _checks.same_shape(known, generated, "known", "generated")
    if masks.shape[0] != known.shape[0] or masks.shape[2:] != known.shape[2:] or masks.shape[1] not in (1, known.shape[1]):
        raise ValueError(f"expected masks of shape ({known.shape[0]}, 1 or {known.shape[1]}, {known.shape[2]}, "
                         f"{known.shape[3]}), got {tuple(masks.shape)}")
    return known * (1 - masks) + generated * masks


def high_frequency_energy(x: torch.Tensor, *, cutoff: float = 0.25, reduction: str = "mean") -> float | torch.Tensor:
    r"""Fraction of an image's spectral power above a radial frequency: the book's sharpness measure.

    Per image and channel, with :math:`X = \mathrm{DFT}_2(x - \bar x)` (the image mean
    subtracted, so a constant offset does not count) and the frequencies
    :math:`f_y, f_x \in [-\tfrac12, \tfrac12)` cycles per pixel of ``torch.fft.fftfreq``,

    .. math::
        \mathrm{HFE}(x) = \frac{\sum_{k:\ r_k > c} |X_k|^2}{\sum_k |X_k|^2},\qquad
        r_k = \frac{\sqrt{f_{y,k}^2 + f_{x,k}^2}}{1/2},

    i.e. the radius in units of the Nyquist frequency (1/2 cycle per pixel; the corners of the
    spectrum reach √2) and c = ``cutoff``. A constant image (no power, up to rounding) has HFE 0. Then the mean
    over channels. Blurring removes high frequencies and lowers it; noise raises it (white
    noise has HFE ≈ 1 − πc²/4 for c ≤ 1). Computed in float64.

    Args:
        x: images (N, C, H, W), finite.
        cutoff: c in (0, √2).
        reduction: ``"mean"`` (a float, the batch mean) or ``"none"`` (a float64 tensor (N,)).

    Returns:
        A float in [0, 1], or a (N,) float64 tensor of per-image values.

    Raises:
        TypeError: a non-tensor or non-floating ``x``, a non-numeric ``cutoff``.
        ValueError: ``x`` not 4-D, NaN/inf, ``cutoff`` outside (0, √2), an unknown ``reduction``.

    Example:
        >>> x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        >>> blurred = upsample(downsample(x, 2), 2, mode="bilinear")
        >>> high_frequency_energy(blurred) < high_frequency_energy(x)
        True
        >>> high_frequency_energy(torch.full((1, 1, 8, 8), 0.3))
        0.0
    """
    x = _images(x)
    _checks.finite(x, "x")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)):
        raise TypeError(f"expected cutoff to be a number, got {type(cutoff).__name__}")
    if not 0.0 < cutoff < math.sqrt(2.0):
        raise ValueError(f"expected cutoff in (0, sqrt(2)) (units of the Nyquist frequency), got {cutoff}")
    _checks.choice(reduction, "reduction", ("mean", "none"))
    x = x.double()
    h, w = x.shape[-2:]
    centred = x - x.mean((2, 3), keepdim=True)
    power = torch.fft.fft2(centred).abs().square()  # (N, C, H, W)
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=x.device)
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=x.device)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / 0.5
    total = power.sum((2, 3))
    high = (power * (radius > cutoff)).sum((2, 3))
    # a constant image leaves only rounding error after centring: count it as no power at all
    flat = centred.square().sum((2, 3)) <= 1e-24 * x.square().sum((2, 3))
    frac = torch.where(flat, torch.zeros_like(total), high / total.clamp_min(torch.finfo(torch.float64).tiny))
    per_image = frac.mean(1)
    return per_image.mean().item() if reduction == "mean" else per_image
