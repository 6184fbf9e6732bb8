"""Random draws that honour a caller's ``generator`` on any device."""

from __future__ import annotations

import torch


def _draw(fn, shape, *, generator, device, dtype):
    device = torch.device(device) if device is not None else torch.device("cpu")
    if generator is None:
        return fn(*shape, device=device, dtype=dtype)
    if generator.device.type == device.type:
        return fn(*shape, generator=generator, device=device, dtype=dtype)
    # A CPU generator drives draws for a CUDA tensor: draw on the CPU, then move. This keeps
    # results identical across devices for the same seed.
    return fn(*shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def randn(*shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws of ``shape`` on ``device`` using ``generator`` if given."""
    return _draw(torch.randn, shape, generator=generator, device=device, dtype=dtype)


def rand(*shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Uniform [0, 1) draws of ``shape`` on ``device`` using ``generator`` if given."""
    return _draw(torch.rand, shape, generator=generator, device=device, dtype=dtype)


def randint(high: int, shape, *, generator=None, device=None) -> torch.Tensor:
    device = torch.device(device) if device is not None else torch.device("cpu")
    gdev = generator.device if generator is not None else device
    out = torch.randint(high, tuple(shape), generator=generator, device=gdev)
    return out.to(device)


def randperm(n: int, *, generator=None, device=None) -> torch.Tensor:
    device = torch.device(device) if device is not None else torch.device("cpu")
    gdev = generator.device if generator is not None else device
    return torch.randperm(n, generator=generator, device=gdev).to(device)
