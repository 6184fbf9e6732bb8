"""Input checks shared by genlib's public functions (errors say what was expected and got)."""

from __future__ import annotations

import numbers

import torch


def tensor(x, name: str, *, ndim: int | tuple[int, ...] | None = None, floating: bool = True,
           min_ndim: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a tensor with the expected rank and dtype kind; return it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected {name} to be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"expected {name} to be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            raise ValueError(f"expected {name} to have {' or '.join(map(str, allowed))} dims, "
                             f"got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"expected {name} to have at least {min_ndim} dims, got shape {tuple(x.shape)}")
    if x.ndim > 0 and x.shape[0] == 0:
        raise ValueError(f"expected {name} to be non-empty, got shape {tuple(x.shape)}")
    return x


def as_float64(x, name: str, *, ndim: int | tuple[int, ...], device=None) -> torch.Tensor:
    """Policy for **metrics**: accept a floating tensor or NumPy array and return it as finite
    float64 (on ``device``, default its own). Up-casting loses nothing, and a metric's result is
    a Python float, so the caller's dtype does not leak into anything it keeps."""
    import numpy as np

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    x = tensor(x, name, ndim=ndim)
    finite(x, name)
    return x.to(device=device if device is not None else x.device, dtype=torch.float64)


def require_float64(t, name: str, *, ndim: int | tuple[int, ...], device: torch.device | None = None) -> torch.Tensor:
    """Policy for **exact models** (:class:`genlib.models.LinearGaussian`): a finite float64
    tensor on ``device`` or an error, never a cast: the model's results are tensors the caller
    keeps computing with, and a silent float32 input would make "exact" comparisons fail far
    from their cause."""
    tensor(t, name, ndim=ndim)
    if t.dtype != torch.float64:
        raise TypeError(f"expected {name} to be float64 (the model computes in float64), got {t.dtype}")
    if device is not None and t.device != device:
        raise ValueError(f"expected {name} on the model's device {device}, got {t.device}")
    return finite(t, name)


def finite(x: torch.Tensor, name: str) -> torch.Tensor:
    if not torch.isfinite(x).all():
        raise ValueError(f"expected {name} to be finite, got NaN or inf")
    return x


def same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"expected {name_a} and {name_b} to have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def in_range(x: torch.Tensor, name: str, low: float, high: float) -> torch.Tensor:
    lo, hi = torch.stack(torch.aminmax(x.detach())).tolist()  # one reduction, one device sync
    if lo < low or hi > high:
        raise ValueError(f"expected {name} in [{low:g}, {high:g}], got min={lo:.3g}, max={hi:.3g}")
    return x


def _int(n, name: str) -> int:
    # Python and NumPy integers; not bools, not floats such as 2.0 (TypeError for all of those)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"expected {name} to be an int, got {type(n).__name__}")
    return int(n)


def positive_int(n, name: str) -> int:
    """``n`` as an int if it is an integer > 0; TypeError for a non-integer, ValueError for n ≤ 0."""
    n = _int(n, name)
    if n <= 0:
        raise ValueError(f"expected {name} > 0, got {n}")
    return n


def nonnegative_int(n, name: str) -> int:
    """``n`` as an int if it is an integer ≥ 0 (e.g. a seed); same error types as :func:`positive_int`."""
    n = _int(n, name)
    if n < 0:
        raise ValueError(f"expected {name} >= 0, got {n}")
    return n


def positive_float(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected {name} to be a number, got {type(v).__name__}")
    if not v > 0:
        raise ValueError(f"expected {name} > 0, got {v}")
    return float(v)


def choice(value, name: str, options) -> str:
    if value not in options:
        raise ValueError(f"expected {name} in {sorted(options)}, got {value!r}")
    return value


def generator_arg(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"expected generator to be a torch.Generator or None, got {type(generator).__name__}")


def shape(value, name: str) -> tuple[int, ...]:
    """An example's shape given as an int or a sequence of positive ints, as a tuple."""
    dims = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(f"expected {name} to be an int or a sequence of ints, got {type(value).__name__}") from None
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dims):
        raise ValueError(f"expected {name} to be positive ints, got {value!r}")
    return dims


def flat_batch(x, shape: tuple[int, ...], name: str = "x") -> torch.Tensor:
    """A batch ``(B, *shape)`` or ``(B, prod(shape))`` (any layout with that many values) as ``(B, prod(shape))``."""
    tensor(x, name, min_ndim=2)
    size = 1
    for d in shape:
        size *= d
    got = 1
    for d in x.shape[1:]:
        got *= d
    if got != size:
        raise ValueError(f"expected {name} with {size} values each (shape {shape}), got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1)


def callback(fn, every) -> None:
    """A training loop's ``callback`` (None or callable) and its ``callback_every`` (a positive int)."""
    if fn is None:
        return
    if not callable(fn):
        raise TypeError(f"expected callback to be callable, got {type(fn).__name__}")
    if every is None:
        raise ValueError("expected callback_every (a positive int) with callback, got None: "
                         "the callback would never be called")
    positive_int(every, "callback_every")
