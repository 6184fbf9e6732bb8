"""Several seeds of a small MLP trained as one model (batched matmuls over a seed axis).

A chapter that asserts what a *trained* network does needs several seeds (CONTRIBUTING.md, "Rules").
For the book's toy networks a step is launch-bound, so S networks cost little more
than one when their parameters carry a leading seed dimension and every layer is one
batched matmul (``torch.baddbmm``)::

    h_l = act(h_{l-1} @ W_l + b_l)
    h_l: (S, B, d_l)    W_l: (S, d_{l-1}, d_l)    b_l: (S, 1, d_l)

Member s is initialised exactly as :func:`genlib.nn.mlp` is right after
``torch.manual_seed(seeds[s])``: PyTorch's default ``nn.Linear`` init, drawn in the
same order from ``torch.Generator().manual_seed(seeds[s])``. Training stays exact too.
The members share no parameter, so the gradient of ``sum_s loss_s`` with respect to
member s is the gradient of ``loss_s`` alone; and Adam (like SGD or RMSprop, with no
global-norm clipping) updates every element independently, so one
``torch.optim.Adam(model.parameters())`` *is* S independent Adams. Sum the per-seed
losses rather than averaging them: Adam's ``eps`` makes a 1/S scale not quite
invisible. Draw each seed's data from its own generator (:func:`draw_per_seed`) and
member s equals seed s trained alone (``tests/test_batched.py`` checks all of this).

Speed-up, measured on the book's 2-core CPU (torch 2.13) for Q4's GAN step (G
4→64→64→1, D 1→64→64→1, batch 256, Adam, one D and one G step): one seed alone takes
2.1 ms per step; 3, 5 and 10 seeds batched take 3.1, 4.0 and 7.1 ms, i.e. 2.0×, 2.6×
and 3.0× faster than running the seeds one after the other.

Example:
    >>> import torch
    >>> net = BatchedMLP(2, (16,), 1, seeds=[0, 1, 2])
    >>> net(torch.zeros(3, 5, 2)).shape  # (S, B, in) -> (S, B, out)
    torch.Size([3, 5, 1])
    >>> net(torch.zeros(5, 2)).shape  # (B, in): the same inputs for every seed
    torch.Size([3, 5, 1])
    >>> alone = net.member(1)  # an ordinary nn.Sequential with seed 1's weights
    >>> torch.allclose(alone(torch.ones(4, 2)), net(torch.ones(4, 2))[1])
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from genlib.nn import make_activation, mlp

__all__ = ["BatchedMLP", "draw_per_seed", "seeded_generators"]


def _positive_int(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected {name} to be an int, got {type(n).__name__}")
    if n <= 0:
        raise ValueError(f"expected {name} > 0, got {n}")
    return n


def _seed_list(seeds) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(
            f"expected seeds to be a sequence of ints, got {type(seeds).__name__}"
        )
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(
                f"expected seeds to be non-negative ints, got {list(seeds)!r}"
            )
        out.append(s)
    if not out:
        raise ValueError("expected at least one seed, got an empty sequence")
    if len(set(out)) != len(out):
        raise ValueError(f"expected distinct seeds, got {out}")
    return out


def seeded_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One fresh CPU ``torch.Generator().manual_seed(s)`` per seed (per-seed streams).

    Raises:
        TypeError, ValueError: as :class:`BatchedMLP` for a bad ``seeds``.
    """
    return [torch.Generator().manual_seed(s) for s in _seed_list(seeds)]


def draw_per_seed(generators: Sequence[torch.Generator], draw) -> torch.Tensor:
    """``torch.stack([draw(g) for g in generators])``: each seed draws from its stream.

    With one generator per seed, member s sees exactly the data and noise it would see
    if it were trained alone, so the whole batched run equals S separate runs (not only
    the initialisation). One shared generator drawing ``(S, B, ...)`` at once is cheaper
    and still gives independent seeds, but not that equality.

    Args:
        generators: one ``torch.Generator`` per member (e.g. :func:`seeded_generators`).
        draw: ``draw(g) -> Tensor``, e.g. ``lambda g: torch.randn(8, 4, generator=g)``.

    Returns:
        A tensor of shape ``(S, *draw(g).shape)``.

    Raises:
        TypeError: an entry that is not a ``torch.Generator``, or ``draw`` not callable.
        ValueError: no generators.
    """
    if not callable(draw):
        raise TypeError(f"expected draw to be callable, got {type(draw).__name__}")
    gens = list(generators)
    if not gens:
        raise ValueError("expected at least one generator, got none")
    for g in gens:
        if not isinstance(g, torch.Generator):
            raise TypeError(f"expected torch.Generator entries, got {type(g).__name__}")
    return torch.stack([draw(g) for g in gens])


class BatchedMLP(nn.Module):
    """S independent MLPs ``in_dim -> hidden_dims -> out_dim``, one per seed, as one.

    Args:
        in_dim, out_dim: sizes of input and output.
        hidden_dims: hidden layer sizes (may be empty: S linear maps).
        seeds: one distinct non-negative int per member; S = ``len(seeds)``.
        activation: hidden activation, as in :func:`genlib.nn.mlp` (``"relu"``,
            ``"leaky_relu"`` with slope 0.2, ``"tanh"``, ``"elu"``, ``"silu"``).

    Raises:
        TypeError: non-int sizes, or seeds that are not a sequence.
        ValueError: non-positive sizes; empty, negative or repeated seeds; an unknown
            activation.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        *,
        seeds: Sequence[int],
        activation: str = "relu",
    ):
        super().__init__()
        dims = [
            _positive_int(in_dim, "in_dim"),
            *(_positive_int(h, "hidden_dims entry") for h in hidden_dims),
            _positive_int(out_dim, "out_dim"),
        ]
        self.seeds = _seed_list(seeds)
        self.dims, self.activation = tuple(dims), activation
        self.act = make_activation(activation)  # validates the name
        self.weights = (
            nn.ParameterList()
        )  # W_l: (S, d_in, d_out), i.e. nn.Linear.weight transposed
        self.biases = nn.ParameterList()  # b_l: (S, 1, d_out)
        per_seed = []
        for s in (
            self.seeds
        ):  # nn.Linear's default init, in mlp()'s order: W_1, b_1, W_2, b_2, ...
            g = torch.Generator().manual_seed(s)
            layers = []
            for a, b in itertools.pairwise(dims):
                w = torch.empty(b, a)
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
                bias = torch.empty(b).uniform_(
                    -1 / math.sqrt(a), 1 / math.sqrt(a), generator=g
                )
                layers.append((w.T, bias.unsqueeze(0)))
            per_seed.append(layers)
        for layer in range(len(dims) - 1):
            self.weights.append(
                nn.Parameter(torch.stack([p[layer][0] for p in per_seed]).contiguous())
            )
            self.biases.append(
                nn.Parameter(torch.stack([p[layer][1] for p in per_seed]))
            )

    @property
    def n_seeds(self) -> int:
        """S, the number of members."""
        return len(self.seeds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (S, B, in_dim) -> (S, B, out_dim)``; ``x (B, in_dim)`` is fed to all S.

        Raises:
            TypeError: ``x`` not a floating-point tensor.
            ValueError: wrong rank, S or feature size.
        """
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(
                "expected x to be a floating-point torch.Tensor, got "
                f"{type(x).__name__}"
                + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else "")
            )
        if x.ndim == 2:
            x = x.unsqueeze(0).expand(self.n_seeds, -1, -1)
        if x.ndim != 3 or x.shape[0] != self.n_seeds or x.shape[2] != self.dims[0]:
            raise ValueError(
                f"expected x of shape ({self.n_seeds}, B, {self.dims[0]}) or "
                f"(B, {self.dims[0]}), got {tuple(x.shape)}"
            )
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)  # b + x @ W for every seed at once
            if i < last:
                x = self.act(x)
        return x

    def member(self, i: int) -> nn.Sequential:
        """Member ``i`` as an ordinary ``genlib.nn.mlp`` (a copy of its weights).

        Raises:
            TypeError, ValueError: ``i`` not an int in ``[0, S)``.
        """
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"expected i to be an int, got {type(i).__name__}")
        if not 0 <= i < self.n_seeds:
            raise ValueError(f"expected 0 <= i < {self.n_seeds}, got {i}")
        w0 = self.weights[0]
        with torch.random.fork_rng(devices=[]):  # mlp() draws an init we overwrite
            net = mlp(
                self.dims[0], self.dims[1:-1], self.dims[-1], activation=self.activation
            )
        net = net.to(w0.device, w0.dtype)  # before copying: no rounding to float32
        linears = [m for m in net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, w, b in zip(linears, self.weights, self.biases, strict=True):
                lin.weight.copy_(w[i].T)
                lin.bias.copy_(b[i, 0])
        return net

    def extra_repr(self) -> str:
        return f"dims={self.dims}, seeds={self.seeds}, activation={self.activation!r}"
