"""Full-reference image quality: PSNR and SSIM, per image, averaged over the batch.

Both take batches of shape (N, C, H, W) or (N, H, W), compute in float64 on the inputs'
device and return a Python float (the batch mean), or with ``reduction="none"`` a float64
tensor (N,) of per-image values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlib import _checks

__all__ = ["psnr", "ssim"]

_SIGMA = 1.5
_RADIUS = 5  # int(3.5 * 1.5 + 0.5): skimage's truncate=3.5 gives Wang et al.'s 11-tap window
_K1, _K2 = 0.01, 0.03
_REDUCTIONS = ("mean", "none")


def _pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = _checks.tensor(x, "x", ndim=(3, 4))
    y = _checks.tensor(y, "y", ndim=(3, 4))
    _checks.same_shape(x, y, "x", "y")
    if x.device != y.device:
        raise ValueError(f"expected x and y on the same device, got {x.device} and {y.device}")
    if x.numel() == 0:
        raise ValueError(f"expected non-empty images, got shape {tuple(x.shape)}")
    _checks.finite(x, "x")
    _checks.finite(y, "y")
    return x.double(), y.double()


def _reduce(per_image: torch.Tensor, reduction: str) -> float | torch.Tensor:
    return per_image.mean().item() if reduction == "mean" else per_image


def psnr(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
         reduction: str = "mean") -> float | torch.Tensor:
    r"""Peak signal-to-noise ratio in dB, per image, then averaged over the batch.

    .. math:: \mathrm{PSNR}(x, y) = 10 \log_{10} \frac{R^2}{\frac{1}{n}\sum_i (x_i - y_i)^2}

    with :math:`R` = ``data_range`` (1 for images in [0, 1], 255 for uint8 scales). An image
    identical to its reference has infinite PSNR, and so then has the batch mean.

    Args:
        x, y: floating tensors of the same shape (N, C, H, W) or (N, H, W).
        data_range: the span of possible pixel values, R > 0.
        reduction: ``"mean"`` (a float, the batch mean) or ``"none"`` (per image).

    Returns:
        The mean PSNR over the batch (float, dB), or with ``reduction="none"`` a float64
        tensor (N,) of per-image PSNRs (``inf`` for an exact match).

    Raises:
        TypeError: for non-floating tensors or a non-numeric data_range.
        ValueError: for mismatched or wrong shapes, NaN/inf, data_range ≤ 0, or an unknown
            reduction.

    Example:
        >>> x = torch.full((1, 1, 4, 4), 0.5)
        >>> round(psnr(x, x + 0.1), 3)
        20.0
        >>> psnr(torch.cat([x, x]), torch.cat([x + 0.1, x + 0.01]), reduction="none")
        tensor([20.0000, 40.0000], dtype=torch.float64)
    """
    x, y = _pair(x, y)
    r = _checks.positive_float(data_range, "data_range")
    _checks.choice(reduction, "reduction", _REDUCTIONS)
    mse = (x - y).square().flatten(1).mean(1)  # (N,)
    return _reduce(10 * torch.log10(r * r / mse), reduction)


def _gaussian_window(device) -> torch.Tensor:
    t = torch.arange(-_RADIUS, _RADIUS + 1, dtype=torch.float64, device=device)
    w = torch.exp(-0.5 * (t / _SIGMA) ** 2)
    return w / w.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
         reduction: str = "mean") -> float | torch.Tensor:
    r"""Structural similarity (Wang et al. 2004), per image, then averaged over the batch.

    With local Gaussian-weighted statistics (window σ = 1.5, 11 × 11 taps; population
    (co)variances) and :math:`C_1 = (K_1 R)^2`, :math:`C_2 = (K_2 R)^2`, K1 = 0.01, K2 = 0.03:

    .. math::
        \mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                                   {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

    averaged over the positions where the whole window fits inside the image (a "valid"
    convolution, as Wang's MATLAB code; equivalently skimage's reflect-padded filter with a
    5-pixel border cropped), then over channels, then over the batch. This matches
    ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=R, channel_axis=0)`` per image. Unlike Wang's
    MATLAB ``ssim.m``, no automatic downsampling is applied to large images.

    Args:
        x, y: floating tensors of the same shape (N, C, H, W) or (N, H, W), H, W ≥ 11.
        data_range: the span of possible pixel values, R > 0.
        reduction: ``"mean"`` (a float, the batch mean) or ``"none"`` (per image).

    Returns:
        The mean SSIM over the batch (float, ≤ 1; 1 iff x = y), or with ``reduction="none"``
        a float64 tensor (N,) of per-image SSIMs (each the mean over its channels).

    Raises:
        TypeError: for non-floating tensors or a non-numeric data_range.
        ValueError: for mismatched or wrong shapes, images smaller than 11 × 11, NaN/inf,
            data_range ≤ 0, or an unknown reduction.

    Example:
        >>> x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> ssim(x, x)
        1.0
    """
    x, y = _pair(x, y)
    r = _checks.positive_float(data_range, "data_range")
    _checks.choice(reduction, "reduction", _REDUCTIONS)
    h, w = x.shape[-2:]
    if min(h, w) < 2 * _RADIUS + 1:
        raise ValueError(f"expected images of at least {2 * _RADIUS + 1}x{2 * _RADIUS + 1} pixels, "
                         f"got {h}x{w}")
    n = x.shape[0]
    x = x.reshape(-1, 1, h, w)  # (N, C, H, W) or (N, H, W) -> (N*C, 1, H, W)
    y = y.reshape(-1, 1, h, w)
    g = _gaussian_window(x.device)
    stack = torch.cat([x, y, x * x, y * y, x * y])  # (5*N*C, 1, H, W)
    stats = F.conv2d(F.conv2d(stack, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    mx, my, mxx, myy, mxy = stats.chunk(5)  # each (N*C, 1, H-10, W-10)
    vx, vy, vxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    c1, c2 = (_K1 * r) ** 2, (_K2 * r) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_channel = s.flatten(1).mean(1).view(n, -1)  # (N, C) or (N, 1)
    return _reduce(per_channel.mean(1), reduction)
