r"""Small convolutional image-to-image networks for 28 × 28 images (Q28, Q30, Q9).

- :class:`ImageToImageNet`: a three-level U-Net 28 → 14 → 7 → 14 → 28 with skip
  connections, the generator of pix2pix-style translation (edges → digit), of 4×
  super-resolution (input: the bicubically upsampled low-resolution image, 28 × 28) and of
  inpainting (input: the masked image and the mask as a second channel).
- :class:`PatchDiscriminator`: strided convolutions → a 7 × 7 map of patch logits
  (pix2pix's "PatchGAN"); conditional use concatenates (condition, image) along channels.

**Seed batching.** Both classes take ``members=S`` (and ``seeds``, one per member): S
independent networks held as one, every layer a grouped convolution
(``groups=S``). A batch ``(S, N, C, H, W)`` (member s gets ``x[s]``) is laid out as
``(N, S·C, H, W)``, so member s owns channels ``[s·C, (s+1)·C)`` of every layer, and
a skip connection concatenates per member. A ``(N, C, H, W)`` input goes to all S members.
Member s is initialised exactly as the ``members=1`` network built with ``seeds=[seeds[s]]``
(PyTorch's default ``nn.Conv2d`` / ``nn.ConvTranspose2d`` init, layer by layer, weight then
bias, drawn from ``torch.Generator().manual_seed(seeds[s])``), and :meth:`member` returns it
as such a network. The members share no parameter, so the gradient of
:math:`\sum_s L_s` with respect to member s is that of :math:`L_s`, and one Adam over all
parameters is S independent Adams (see :mod:`genlib.models.batched`).

**Speed.** On the book's 2-core CPU (torch 2.13, batch 64) these nets are compute-bound, not
launch-bound: S members cost S times one member whatever the layout, and one grouped
convolution is *slower* than the S slices run one after the other (measured: G + D forward
and backward, width 32, 3 members: 191 ms grouped, 124 ms one after the other, 38 ms for one
member; in training, 3 members with the adversarial term: 296 s per 1,000 steps grouped,
185 s one after the other). So on the CPU each layer runs its members' slices in turn (same
parameters), and grouped convolutions are used on other devices (GPUs, where one launch for
S members should pay; not measured here); :data:`GROUPED` overrides the choice. Results agree up to float rounding either way. See
:func:`genlib.train_image.train_image_to_image` for timings per 1,000 steps.

Example:
    >>> net = ImageToImageNet(1, 1, width=8, members=3, seeds=[0, 1, 2])
    >>> net(torch.zeros(3, 5, 1, 28, 28)).shape  # (S, N, C, H, W) -> (S, N, out, H, W)
    torch.Size([3, 5, 1, 28, 28])
    >>> alone = ImageToImageNet(1, 1, width=8, seeds=[1])
    >>> x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(net(x)[1], alone(x), atol=1e-6)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genlib import _checks

__all__ = ["GROUPED", "ImageToImageNet", "PatchDiscriminator"]

#: How members' convolutions run: None (default) = one grouped convolution on a GPU, the members'
#: slices one after the other on the CPU (faster there; see the module docstring); True or
#: False forces grouped or sliced everywhere.
GROUPED: bool | None = None

_OUTPUTS = ("sigmoid", "clamp", "linear")
_SLOPE = 0.2  # LeakyReLU slope (pix2pix, DCGAN)
_SN_EPS = 1e-12


def _members_and_seeds(members, seeds) -> tuple[int, list[int] | None]:
    members = _checks.positive_int(members, "members")
    if seeds is None:
        return members, None
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"expected seeds to be None or a sequence of ints, got {type(seeds).__name__}")
    out = [_checks.nonnegative_int(s, "seeds entry") for s in seeds]
    if len(out) != members:
        raise ValueError(f"expected one seed per member ({members}), got {len(out)} seeds {out}"
                         + (f" (pass members={len(out)})" if members == 1 else ""))
    if len(set(out)) != len(out):
        raise ValueError(f"expected distinct seeds, got {out}")
    return members, out


class _Conv(nn.Module):
    """S members' ``Conv2d`` (or ``ConvTranspose2d``) as one grouped weight.

    ``weight``: (S·out, in, k, k) for a convolution, (S·in, out, k, k) for a transposed one
    (PyTorch's grouped layouts); ``bias``: (S·out,). With ``spectral_norm`` each member's weight
    (as an (out, in·k·k) matrix) is divided by its own σ estimate (one power-iteration step per
    training-mode forward, Miyato et al.'s Algorithm 1, as :class:`~genlib.models.BatchedMLP`).
    """

    def __init__(self, members: int, c_in: int, c_out: int, k: int, *, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, transpose: bool = False, spectral_norm: bool = False):
        super().__init__()
        self.members, self.c_in, self.c_out, self.k = members, c_in, c_out, k
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.transpose, self.spectral_norm = transpose, spectral_norm
        shape = (c_in, c_out, k, k) if transpose else (c_out, c_in, k, k)
        self.weight = nn.Parameter(torch.empty(members * shape[0], *shape[1:]))
        self.bias = nn.Parameter(torch.empty(members * c_out))
        if spectral_norm:
            self.register_buffer("sn_u", torch.zeros(members, c_out))

    def init_member(self, s: int, g: torch.Generator | None) -> None:
        """Member s's default PyTorch init (weight, then bias) from ``g``."""
        w = self.weight.detach()
        rows = w.shape[0] // self.members
        ws = torch.empty(rows, *w.shape[1:])
        nn.init.kaiming_uniform_(ws, a=math.sqrt(5), generator=g)
        fan_in = ws.shape[1] * self.k * self.k  # what nn.init computes for this layout
        bound = 1 / math.sqrt(fan_in)
        bs = torch.empty(self.c_out).uniform_(-bound, bound, generator=g)
        with torch.no_grad():
            self.weight[s * rows:(s + 1) * rows] = ws
            self.bias[s * self.c_out:(s + 1) * self.c_out] = bs

    def init_u(self, s: int, g: torch.Generator | None) -> None:
        u = torch.randn(self.c_out, generator=g)
        self.sn_u[s] = F.normalize(u, dim=0, eps=_SN_EPS)

    def _weight(self) -> torch.Tensor:
        if not self.spectral_norm:
            return self.weight
        w = self.weight.view(self.members, self.c_out, -1)  # (S, out, in·k·k)
        u = self.sn_u
        if self.training:
            with torch.no_grad():
                wd = w.detach()
                v = F.normalize(torch.bmm(u.unsqueeze(1), wd).squeeze(1), dim=1, eps=_SN_EPS)  # Wᵀu
                u = F.normalize(torch.bmm(wd, v.unsqueeze(2)).squeeze(2), dim=1, eps=_SN_EPS)  # Wv
                self.sn_u.copy_(u)
            u = u.clone()
        else:
            u = u.clone()
            v = F.normalize(torch.bmm(u.unsqueeze(1), w.detach()).squeeze(1), dim=1, eps=_SN_EPS)
        sigma = torch.einsum("so,soi,si->s", u, w, v)  # uᵀ W v per member
        return (w / sigma[:, None, None]).view_as(self.weight)

    def _one(self, x, w, b, groups):
        if self.transpose:
            return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding, groups)
        return F.conv2d(x, w, b, self.stride, self.padding, 1, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, S·c_in, H, W) -> (N, S·c_out, H', W')
        w = self._weight()
        grouped = GROUPED if GROUPED is not None else x.device.type != "cpu"
        if self.members == 1 or grouped:
            return self._one(x, w, self.bias, self.members)
        xs, ws, bs = x.chunk(self.members, 1), w.chunk(self.members, 0), self.bias.chunk(self.members, 0)
        return torch.cat([self._one(a, b, c, 1) for a, b, c in zip(xs, ws, bs)], 1)


def _cat(members: int, *ts: torch.Tensor) -> torch.Tensor:
    """Concatenate member-major channel blocks per member: (N, S·a), (N, S·b) -> (N, S·(a+b))."""
    if members == 1:
        return torch.cat(ts, 1)
    n, h, w = ts[0].shape[0], ts[0].shape[2], ts[0].shape[3]
    return torch.cat([t.view(n, members, -1, h, w) for t in ts], 2).view(n, -1, h, w)


class _Members(nn.Module):
    """Shared plumbing: (S, N, C, H, W) or (N, C, H, W) in, member-major channels inside."""

    members: int
    in_channels: int

    def _init(self, seeds: list[int] | None) -> None:
        convs = [m for m in self.modules() if isinstance(m, _Conv)]
        for s in range(self.members):
            g = torch.Generator().manual_seed(seeds[s]) if seeds is not None else None
            for conv in convs:
                conv.init_member(s, g)
            for conv in convs:  # power-iteration vectors after all weights
                if conv.spectral_norm:
                    conv.init_u(s, g)

    def _pack(self, x) -> tuple[torch.Tensor, bool]:
        """x -> (N, S·C, H, W) and whether the input carried a member axis."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError("expected x to be a floating-point torch.Tensor, got "
                            + (f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__))
        s, c = self.members, self.in_channels
        if x.ndim == 4 and x.shape[1] == c:
            if s == 1:
                return x, False
            return x.repeat(1, s, 1, 1), True
        if x.ndim == 5 and x.shape[0] == s and x.shape[2] == c:
            return x.transpose(0, 1).reshape(x.shape[1], s * c, *x.shape[3:]), True
        raise ValueError(f"expected x of shape (N, {c}, H, W) or ({s}, N, {c}, H, W), got {tuple(x.shape)}")

    def _unpack(self, y: torch.Tensor, stacked: bool) -> torch.Tensor:
        if not stacked:
            return y
        n = y.shape[0]
        return y.view(n, self.members, -1, *y.shape[2:]).transpose(0, 1)

    def _member_copy(self, i: int, **kwargs):
        """Member i as a members=1 network of the same class (a copy of its parameters)."""
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"expected i to be an int, got {type(i).__name__}")
        if not 0 <= i < self.members:
            raise ValueError(f"expected 0 <= i < {self.members}, got {i}")
        net = type(self)(**kwargs, members=1, seeds=[0])
        p0 = next(self.parameters())
        net = net.to(p0.device, p0.dtype)
        with torch.no_grad():
            for mine, theirs in zip((m for m in self.modules() if isinstance(m, _Conv)),
                                    (m for m in net.modules() if isinstance(m, _Conv)), strict=True):
                theirs.weight.copy_(mine.weight.chunk(self.members, 0)[i])
                theirs.bias.copy_(mine.bias.chunk(self.members, 0)[i])
                if mine.spectral_norm:
                    theirs.sn_u.copy_(mine.sn_u[i:i + 1])
        return net.train(self.training)


class ImageToImageNet(_Members):
    r"""A small U-Net ``c -> y`` for 28 × 28 images (any H, W divisible by 4).

    Layers (w = ``width``, w/2 rounded down, at least 1; LeakyReLU(0.2) after every convolution but
    the last)::

        e1 = conv3×3 (C_in → w/2)(c)                    28 × 28
        e2 = conv3×3 stride 2 (w/2 → w)(e1)             14 × 14
        e3 = conv3×3 stride 2 (w → 2w)(e2)               7 × 7
        m  = conv3×3 (2w → 2w)(e3)                       7 × 7
        d2 = convT3×3 stride 2 (2w → w)(m)              14 × 14
        d1 = convT3×3 stride 2 (2w → w/2)([d2, e2])     28 × 28
        h  = conv3×3 (w → C_out)([d1, e1])              28 × 28

    with ``[a, b]`` a concatenation along channels (the skip connections). Output:

    - ``residual=False``: ``output="sigmoid"`` gives σ(h) ∈ (0, 1); ``"clamp"`` gives
      clamp(h, 0, 1) (zero gradient where h is outside [0, 1]); ``"linear"`` gives h.
    - ``residual=True``: the network predicts a correction of its input's first ``C_out``
      channels, :math:`y = c_{[:C_\text{out}]} + h` (the last layer starts at PyTorch's default
      init, so y ≈ c + small noise at first), then ``output="clamp"`` gives clamp(y, 0, 1) and
      ``"linear"`` gives y unchanged. No sigmoid is applied with a residual: ``output="sigmoid"``
      with ``residual=True`` raises ValueError.

    Width 32 has 88,209 parameters (C_in = C_out = 1); width 16, 22,217; width 8, 5,637.

    Args:
        in_channels: C_in (1 for super-resolution and edges → digit, 2 for inpainting:
            masked image and mask).
        out_channels: C_out (≤ C_in with ``residual=True``).
        width: w, channels of the middle (14 × 14) level: w/2 at 28 × 28, 2w at 7 × 7.
        residual: predict a correction added to the input (see above).
        output: ``"sigmoid"``, ``"clamp"`` or ``"linear"`` (see above).
        members: S, independent networks held as one (module docstring).
        seeds: None (init from the global RNG) or S distinct non-negative ints; member s is
            initialised from ``torch.Generator().manual_seed(seeds[s])`` and equals
            ``ImageToImageNet(..., seeds=[seeds[s]])``.

    Shapes:
        ``(N, C_in, H, W) -> (N, C_out, H, W)`` for S = 1; ``(S, N, C_in, H, W)`` (member s gets
        ``x[s]``) or ``(N, C_in, H, W)`` (the same for all) ``-> (S, N, C_out, H, W)`` for S > 1.
        An input with a member axis keeps it for S = 1 too.

    Raises:
        TypeError: non-int sizes, a non-bool ``residual``, seeds not a sequence of ints.
        ValueError: non-positive sizes, an unknown ``output``, ``"sigmoid"`` with a residual,
            ``residual`` with ``out_channels > in_channels``, len(seeds) ≠ members, repeated seeds.

    Example:
        >>> net = ImageToImageNet(2, 1, seeds=[0])  # inpainting: (masked image, mask) -> image
        >>> y = net(torch.rand(4, 2, 28, 28))
        >>> y.shape, bool(((y > 0) & (y < 1)).all())
        (torch.Size([4, 1, 28, 28]), True)
        >>> sum(p.numel() for p in ImageToImageNet().parameters())
        88209
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, *, width: int = 32, residual: bool = False,
                 output: str = "sigmoid", members: int = 1, seeds: Sequence[int] | None = None):
        super().__init__()
        self.in_channels = _checks.positive_int(in_channels, "in_channels")
        self.out_channels = _checks.positive_int(out_channels, "out_channels")
        self.width = w = _checks.positive_int(width, "width")
        if not isinstance(residual, bool):
            raise TypeError(f"expected residual to be a bool, got {type(residual).__name__}")
        self.output = _checks.choice(output, "output", _OUTPUTS)
        if residual and output == "sigmoid":
            raise ValueError("expected output='clamp' or 'linear' with residual=True (y = input + correction "
                             "is not passed through a sigmoid), got output='sigmoid'")
        if residual and out_channels > in_channels:
            raise ValueError(f"expected out_channels <= in_channels with residual=True (the correction is "
                             f"added to the input's first out_channels channels), got {out_channels} > {in_channels}")
        self.residual = residual
        self.members, seeds = _members_and_seeds(members, seeds)
        self.seeds = seeds
        s = self.members
        h = max(w // 2, 1)
        self.e1 = _Conv(s, in_channels, h, 3, padding=1)
        self.e2 = _Conv(s, h, w, 3, stride=2, padding=1)
        self.e3 = _Conv(s, w, 2 * w, 3, stride=2, padding=1)
        self.mid = _Conv(s, 2 * w, 2 * w, 3, padding=1)
        self.d2 = _Conv(s, 2 * w, w, 3, stride=2, padding=1, output_padding=1, transpose=True)
        self.d1 = _Conv(s, 2 * w, h, 3, stride=2, padding=1, output_padding=1, transpose=True)
        self.out = _Conv(s, 2 * h, out_channels, 3, padding=1)
        self._init(seeds)

    @property
    def n_seeds(self) -> int:
        """S, the number of members (as :class:`~genlib.models.BatchedMLP`)."""
        return self.members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """See the class docstring (Shapes).

        Raises:
            TypeError: ``x`` not a floating-point tensor.
            ValueError: a shape other than those listed, or H, W not divisible by 4.
        """
        c, stacked = self._pack(x)
        if c.shape[-2] % 4 or c.shape[-1] % 4:
            raise ValueError(f"expected H and W divisible by 4 (two stride-2 levels), got {tuple(x.shape[-2:])}")
        s, act = self.members, lambda t: F.leaky_relu(t, _SLOPE)
        e1 = act(self.e1(c))
        e2 = act(self.e2(e1))
        m = act(self.mid(act(self.e3(e2))))
        d2 = act(self.d2(m))
        d1 = act(self.d1(_cat(s, d2, e2)))
        h = self.out(_cat(s, d1, e1))
        if self.residual:
            n, hh, ww = c.shape[0], c.shape[2], c.shape[3]
            base = c.view(n, s, self.in_channels, hh, ww)[:, :, :self.out_channels].reshape_as(h)
            h = base + h
        if self.output == "sigmoid":
            h = torch.sigmoid(h)
        elif self.output == "clamp":
            h = h.clamp(0.0, 1.0)
        return self._unpack(h, stacked)

    def member(self, i: int) -> ImageToImageNet:
        """Member ``i`` as a ``members=1`` :class:`ImageToImageNet` (a copy of its parameters).

        Raises:
            TypeError, ValueError: ``i`` not an int in ``[0, S)``.
        """
        return self._member_copy(i, in_channels=self.in_channels, out_channels=self.out_channels,
                                 width=self.width, residual=self.residual, output=self.output)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, width={self.width}, "
                f"residual={self.residual}, output={self.output!r}, members={self.members}, seeds={self.seeds}")


class PatchDiscriminator(_Members):
    r"""A PatchGAN discriminator: strided convolutions -> one logit per overlapping patch.

    Layers (w = ``width``; LeakyReLU(0.2) after the first two)::

        conv4×4 stride 2 (C_in → w)        28 → 14
        conv4×4 stride 2 (w → 2w)          14 → 7
        conv3×3 (2w → 1)                    7 → 7

    so a 28 × 28 input gives P = 7 × 7 = 49 logits, each seeing an 18 × 18 receptive field
    (1 + 2·4 + 3·2 + 3·1) at stride 4. The logits are flattened to (N, P): the GAN losses of
    :mod:`genlib.losses` then average over patches and the batch alike. For a **conditional**
    discriminator concatenate (condition, image) along channels,
    ``D(torch.cat([c, y], 1))``, with ``in_channels = C_c + C_y`` (2 for super-resolution and
    edges → digit, 3 for inpainting); :func:`genlib.train_image.train_image_to_image` does so.
    Width 32 has 34,465 parameters at C_in = 2 (width 16: 9,041).

    With ``spectral_norm=True`` each member's every weight (an (out, in·k·k) matrix) is divided
    by its own σ estimate, one power-iteration step per training-mode forward (Miyato et al.
    2018, Algorithm 1, as :class:`~genlib.models.BatchedMLP`; u drawn from the member's seed
    after all its weights); eval mode reuses the stored u.

    Args:
        in_channels: C_in.
        width: w.
        spectral_norm: normalise every weight by its σ estimate.
        members: S, independent discriminators held as one.
        seeds: as :class:`ImageToImageNet`.

    Shapes:
        ``(N, C_in, H, W) -> (N, P)`` for S = 1; ``(S, N, C_in, H, W)`` or
        ``(N, C_in, H, W) -> (S, N, P)`` for S > 1, with P = (H/4)·(W/4) for H, W divisible by 4.

    Raises:
        TypeError, ValueError: as :class:`ImageToImageNet`.

    Example:
        >>> disc = PatchDiscriminator(2, members=3, seeds=[10, 11, 12])
        >>> disc(torch.zeros(3, 5, 2, 28, 28)).shape
        torch.Size([3, 5, 49])
    """

    def __init__(self, in_channels: int, *, width: int = 32, spectral_norm: bool = False, members: int = 1,
                 seeds: Sequence[int] | None = None):
        super().__init__()
        self.in_channels = _checks.positive_int(in_channels, "in_channels")
        self.width = w = _checks.positive_int(width, "width")
        if not isinstance(spectral_norm, bool):
            raise TypeError(f"expected spectral_norm to be a bool, got {type(spectral_norm).__name__}")
        self.spectral_norm = spectral_norm
        self.members, seeds = _members_and_seeds(members, seeds)
        self.seeds = seeds
        s = self.members
        self.c1 = _Conv(s, in_channels, w, 4, stride=2, padding=1, spectral_norm=spectral_norm)
        self.c2 = _Conv(s, w, 2 * w, 4, stride=2, padding=1, spectral_norm=spectral_norm)
        self.c3 = _Conv(s, 2 * w, 1, 3, padding=1, spectral_norm=spectral_norm)
        self._init(seeds)

    @property
    def n_seeds(self) -> int:
        """S, the number of members."""
        return self.members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """See the class docstring (Shapes).

        Raises:
            TypeError: ``x`` not a floating-point tensor.
            ValueError: a shape other than those listed.
        """
        c, stacked = self._pack(x)
        h = F.leaky_relu(self.c1(c), _SLOPE)
        h = F.leaky_relu(self.c2(h), _SLOPE)
        h = self.c3(h)  # (N, S, h, w) after the 1-channel layer
        n = h.shape[0]
        if stacked:
            return h.view(n, self.members, -1).transpose(0, 1)
        return h.view(n, -1)

    def member(self, i: int) -> PatchDiscriminator:
        """Member ``i`` as a ``members=1`` :class:`PatchDiscriminator` (a copy, u included).

        Raises:
            TypeError, ValueError: ``i`` not an int in ``[0, S)``.
        """
        return self._member_copy(i, in_channels=self.in_channels, width=self.width,
                                 spectral_norm=self.spectral_norm)

    def extra_repr(self) -> str:
        sn = ", spectral_norm=True" if self.spectral_norm else ""
        return f"in_channels={self.in_channels}, width={self.width}{sn}, members={self.members}, seeds={self.seeds}"
