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

Spectral normalisation (``BatchedMLP(..., spectral_norm=True)``, Miyato et al. 2018) is
per member too: member s divides each of its weight matrices by its own σ estimate, with
its own power-iteration vectors drawn from its own seed. :class:`BatchedGenerator` wraps a
``BatchedMLP`` as S generators ``z ~ N(0, I) -> x`` for :func:`genlib.train.train_gan`.

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

import torch.nn.functional as F

from genlib._random import randn
from genlib.models.gan import MLPGenerator
from genlib.nn import make_activation, mlp

__all__ = ["BatchedMLP", "BatchedGenerator", "draw_per_seed", "seeded_generators"]

_SN_EPS = 1e-12  # as torch.nn.utils.parametrizations.spectral_norm


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
    r"""S independent MLPs ``in_dim -> hidden_dims -> out_dim``, one per seed, as one.

    With ``spectral_norm=True`` every member's every weight matrix is used divided by
    its largest singular value (Miyato et al. 2018, "Spectral normalization for
    generative adversarial networks"), :math:`\bar W = W / \sigma(W)`, with σ
    estimated by power iteration as in their Algorithm 1. In the orientation of
    ``nn.Linear`` (:math:`W` of shape (out, in)), each member keeps a vector
    :math:`u \in \mathbb R^{\text{out}}` per layer (a buffer, drawn from
    :math:`\mathcal N(0, I)` with the member's seed after its weights, then
    normalised), and every forward in training mode does one step

    .. math::
        v \leftarrow \frac{W^\top u}{\|W^\top u\|_2},\qquad
        u \leftarrow \frac{W v}{\|W v\|_2},\qquad
        \sigma(W) \approx u^\top W v,

    with u and v held constant in the gradient (only :math:`W` in :math:`u^\top W v`
    carries it). In eval mode the stored u and v are reused (no update), so the
    output of an eval forward equals that of the last training forward on the same
    weights. Biases are not normalised. Every training-mode call is one step: a D
    update that calls D on real and on fake data advances u twice, as PyTorch's
    ``spectral_norm`` does.

    Args:
        in_dim, out_dim: sizes of input and output.
        hidden_dims: hidden layer sizes (may be empty: S linear maps).
        seeds: one distinct non-negative int per member; S = ``len(seeds)``.
        activation: hidden activation, as in :func:`genlib.nn.mlp` (``"relu"``,
            ``"leaky_relu"`` with slope 0.2, ``"tanh"``, ``"elu"``, ``"silu"``).
        spectral_norm: normalise every weight matrix of every member by its σ estimate.

    Raises:
        TypeError: non-int sizes, seeds that are not a sequence, a non-bool
            ``spectral_norm``.
        ValueError: non-positive sizes; empty, negative or repeated seeds; an unknown
            activation.

    Example:
        >>> net = BatchedMLP(3, (8,), 1, seeds=[0, 1], spectral_norm=True)
        >>> for _ in range(50):  # power iterations on fixed weights
        ...     _ = net(torch.zeros(2, 1, 3))
        >>> w = net.effective_weights()[0].detach()  # (S, in, out): W / σ
        >>> torch.allclose(torch.linalg.matrix_norm(w, 2), torch.ones(2))
        True
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        *,
        seeds: Sequence[int],
        activation: str = "relu",
        spectral_norm: bool = False,
    ):
        super().__init__()
        if not isinstance(spectral_norm, bool):
            raise TypeError(
                f"expected spectral_norm to be a bool, got {type(spectral_norm).__name__}"
            )
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
            if spectral_norm:  # u_l after all weights: the init above is unchanged
                us = [torch.randn(b, generator=g) for b in dims[1:]]
                layers = [
                    (w, b, F.normalize(u, dim=0, eps=_SN_EPS))
                    for (w, b), u in zip(layers, us)
                ]
            per_seed.append(layers)
        for layer in range(len(dims) - 1):
            self.weights.append(
                nn.Parameter(torch.stack([p[layer][0] for p in per_seed]).contiguous())
            )
            self.biases.append(
                nn.Parameter(torch.stack([p[layer][1] for p in per_seed]))
            )
        self.spectral_norm = spectral_norm
        if spectral_norm:
            for layer, w in enumerate(self.weights):
                u = torch.stack([p[layer][2] for p in per_seed])  # (S, out)
                v = F.normalize(
                    torch.bmm(w.detach(), u.unsqueeze(2)).squeeze(2), dim=1, eps=_SN_EPS
                )  # W^T u: an eval forward before any training has sigma = |W^T u| > 0
                self.register_buffer(f"sn_u{layer}", u)
                self.register_buffer(f"sn_v{layer}", v)

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
        weights = self._weights(update=self.training)
        for i, (w, b) in enumerate(zip(weights, self.biases)):
            x = torch.baddbmm(b, x, w)  # b + x @ W for every seed at once
            if i < last:
                x = self.act(x)
        return x

    def _weights(self, *, update: bool) -> list[torch.Tensor]:
        if not self.spectral_norm:
            return list(self.weights)
        out = []
        for layer, w in enumerate(self.weights):  # w: (S, in, out) = W^T per member
            u, v = getattr(self, f"sn_u{layer}"), getattr(self, f"sn_v{layer}")
            if update:
                with torch.no_grad():
                    wd = w.detach()
                    v = F.normalize(
                        torch.bmm(wd, u.unsqueeze(2)).squeeze(2), dim=1, eps=_SN_EPS
                    )  # W^T u / |W^T u|
                    u = F.normalize(
                        torch.bmm(v.unsqueeze(1), wd).squeeze(1), dim=1, eps=_SN_EPS
                    )  # W v / |W v|
                    getattr(self, f"sn_u{layer}").copy_(u)
                    getattr(self, f"sn_v{layer}").copy_(v)
            else:  # clones: later in-place updates must not reach autograd
                u, v = u.clone(), v.clone()
            sigma = torch.einsum("si,sio,so->s", v, w, u)  # u^T W v, (S,)
            out.append(w / sigma[:, None, None])
        return out

    def effective_weights(self) -> list[torch.Tensor]:
        r"""The weight matrices a forward uses, ``(S, d_in, d_out)`` per layer.

        Without spectral norm these are the parameters; with it, each member's
        :math:`W / (u^\top W v)` from the stored u and v (no power iteration, so
        calling this changes nothing).
        """
        return self._weights(update=False)

    def member(self, i: int) -> nn.Sequential:
        r"""Member ``i`` as an ordinary ``genlib.nn.mlp`` (a copy of its weights).

        With ``spectral_norm=True`` it is ``mlp(..., spectral_norm=True)`` (PyTorch's
        parametrisation) holding the member's unnormalised weights and its u and v, so
        in eval mode the two compute the same function. In training mode they differ:
        PyTorch orders the power-iteration step the other way round
        (:math:`u \leftarrow Wv/\|Wv\|`, then :math:`v \leftarrow W^\top u/\|W^\top u\|`,
        :math:`\sigma = u^\top W v = \|W^\top u\|`), while this class follows Miyato et
        al.'s Algorithm 1 (v from u first, :math:`\sigma = \|Wv\|`): the u sequences
        coincide, shifted by half a step, but one step from the same state gives two
        different σ estimates.

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
                self.dims[0],
                self.dims[1:-1],
                self.dims[-1],
                activation=self.activation,
                spectral_norm=self.spectral_norm,
            )
        net = net.to(w0.device, w0.dtype)  # before copying: no rounding to float32
        linears = [m for m in net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for layer, (lin, w, b) in enumerate(
                zip(linears, self.weights, self.biases, strict=True)
            ):
                if self.spectral_norm:
                    lin.parametrizations.weight.original.copy_(w[i].T)
                    sn = lin.parametrizations.weight[0]
                    sn._u.copy_(getattr(self, f"sn_u{layer}")[i])
                    sn._v.copy_(getattr(self, f"sn_v{layer}")[i])
                else:
                    lin.weight.copy_(w[i].T)
                lin.bias.copy_(b[i, 0])
        net.train(self.training)
        return net

    def extra_repr(self) -> str:
        sn = ", spectral_norm=True" if self.spectral_norm else ""
        return (
            f"dims={self.dims}, seeds={self.seeds}, activation={self.activation!r}{sn}"
        )


class BatchedGenerator(nn.Module):
    """S generators ``G_s: z ~ N(0, I) -> x``, each a member of one :class:`BatchedMLP`.

    Member s is initialised as ``MLPGenerator(latent_dim, out_dim, hidden_dims=...)``
    built right after ``torch.manual_seed(seeds[s])`` (see the module docstring), and
    :meth:`sample` with a list of per-member generators draws member s's z exactly as
    ``MLPGenerator.sample(n, generator=generator[s])`` would, so a batched run can
    equal S runs alone.

    Args:
        latent_dim: size of z.
        hidden_dims: hidden layer sizes.
        out_dim: size of one sample (flat; the output is linear).
        seeds: one distinct non-negative int per member.
        activation: hidden activation (as :class:`BatchedMLP`).

    Raises:
        TypeError, ValueError: as :class:`BatchedMLP`.

    Example:
        >>> gen = BatchedGenerator(4, (16,), 2, seeds=[0, 1, 2])
        >>> gen.sample(5).shape  # (S, n, out_dim)
        torch.Size([3, 5, 2])
        >>> gens = seeded_generators([7, 8, 9])  # one stream per member
        >>> x = gen.sample(5, generator=gens)
        >>> alone = gen.member(1)  # an MLPGenerator with member 1's weights
        >>> torch.allclose(alone.sample(5, generator=torch.Generator().manual_seed(8)), x[1])
        True
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        *,
        seeds: Sequence[int],
        activation: str = "relu",
    ):
        super().__init__()
        self.net = BatchedMLP(
            latent_dim, hidden_dims, out_dim, seeds=seeds, activation=activation
        )

    @property
    def n_seeds(self) -> int:
        """S, the number of members."""
        return self.net.n_seeds

    @property
    def seeds(self) -> list[int]:
        """The members' seeds."""
        return self.net.seeds

    @property
    def latent_dim(self) -> int:
        """Size of z."""
        return self.net.dims[0]

    @property
    def out_dim(self) -> int:
        """Size of one sample."""
        return self.net.dims[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (S, n, latent_dim) -> x (S, n, out_dim)``; ``z (n, latent_dim)`` goes to all S."""
        return self.net(z)

    def sample(self, n: int, generator=None) -> torch.Tensor:
        """``n`` samples from every member, ``(S, n, out_dim)``, with gradients.

        Args:
            n: samples per member.
            generator: ``None``, one ``torch.Generator`` (z of all members drawn at once
                as one ``(S, n, latent_dim)`` tensor), or a list of S generators (member
                s's ``(n, latent_dim)`` from ``generator[s]``).

        Raises:
            TypeError: ``n`` not an int, or a bad generator.  ValueError: ``n`` ≤ 0, or a
                list whose length is not S.
        """
        _positive_int(n, "n")
        w = self.net.weights[0]
        kw = {"device": w.device, "dtype": w.dtype}
        if generator is None or isinstance(generator, torch.Generator):
            z = randn(self.n_seeds, n, self.latent_dim, generator=generator, **kw)
        else:
            gens = _generator_list(generator, self.n_seeds)
            z = torch.stack(
                [randn(n, self.latent_dim, generator=g, **kw) for g in gens]
            )
        return self(z)

    def member(self, i: int) -> MLPGenerator:
        """Member ``i`` as an ordinary :class:`~genlib.models.MLPGenerator` (a copy).

        Raises:
            TypeError, ValueError: ``i`` not an int in ``[0, S)``.
        """
        net = self.net.member(i)
        with torch.random.fork_rng(devices=[]):  # its own init is replaced below
            gen = MLPGenerator(
                self.latent_dim,
                self.out_dim,
                hidden_dims=self.net.dims[1:-1],
                activation=self.net.activation,
            )
        gen.net = net
        return gen.train(self.training)


def _generator_list(generator, n_seeds: int) -> list[torch.Generator]:
    """A list (or tuple) of exactly ``n_seeds`` torch.Generators, or an error."""
    if not isinstance(generator, (list, tuple)):
        raise TypeError(
            "expected generator to be None, a torch.Generator or a list of "
            f"{n_seeds} (one per member), got {type(generator).__name__}"
        )
    for g in generator:
        if not isinstance(g, torch.Generator):
            raise TypeError(
                f"expected a list of torch.Generator, got an entry {type(g).__name__}"
            )
    if len(generator) != n_seeds:
        raise ValueError(
            f"expected a list of {n_seeds} generators (one per member), "
            f"got {len(generator)}"
        )
    return list(generator)
