"""Figures with the book's look: one palette, readable labels, modest sizes.

Every function returns the :class:`matplotlib.figure.Figure` (and draws into ``ax`` when given),
so a chapter can add to it before it is shown. matplotlib is imported on first use, not when
``genlib`` is imported.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

__all__ = ["COLORS", "style", "image_grid", "curves", "scatter_modes", "new_figure",
           "animation_html"]

#: One colour per role, used in every chapter: data is blue, the model orange, a second model
#: green, a reference/optimum grey-black, a highlighted failure red.
COLORS = {"data": "#3b6ea8", "model": "#e07b39", "model2": "#4a9a5b", "reference": "#333333",
          "bad": "#c0392b", "accent": "#8e6bb8"}

_CYCLE = ("data", "model", "model2", "accent", "bad")  # the colour order of plain plot() calls


def _rc() -> dict:
    from matplotlib import cycler

    return {"figure.dpi": 80, "savefig.dpi": 80, "font.size": 10, "axes.titlesize": 11,
            "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False,
            "legend.frameon": False, "figure.autolayout": False,
            "axes.prop_cycle": cycler(color=[COLORS[k] for k in _CYCLE])}


def _plt():
    import matplotlib.pyplot as plt

    return plt


def style() -> None:
    """Apply the book's matplotlib style globally (the setup cell calls it).

    Inside IPython it also switches inline figures to ``retina`` PNGs: drawn at twice the
    resolution and displayed at the same size, so labels stay sharp on high-density screens.
    """
    plt = _plt()  # pyplot first: in IPython its import activates the inline backend and its rc
    plt.rcParams.update(_rc())
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: nothing to configure
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def new_figure(ncols: int = 1, *, width: float = 4.0, height: float = 3.2, nrows: int = 1):
    """``fig, axes`` with the book's proportions (``width``/``height`` per panel, inches).

    Args:
        ncols, nrows: the grid of panels (keep ``ncols`` ≤ 3 so figures stay readable on a phone).
        width, height: inches per panel (at 80 dpi, 10 inches of total width is 800 px).

    Returns:
        ``(fig, ax)`` for one panel, else ``(fig, axes)`` with the axes flattened row by row.

    Example:
        >>> fig, axes = new_figure(2, nrows=2)
        >>> len(axes), fig.get_size_inches().tolist()
        (4, [8.0, 6.4])
    """
    fig, axes = _plt().subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                             layout="constrained")
    return fig, (axes[0, 0] if nrows * ncols == 1 else axes.ravel())


def _np(t) -> np.ndarray:
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def image_grid(images, *, nrow: int = 10, title: str | None = None, ax=None, cmap: str = "gray",
               pad: int = 1, row_labels: Sequence[str] | None = None, scale: float = 0.45,
               value_range: tuple[float, float] = (0.0, 1.0)):
    """Tile images (N, 1, H, W), (N, H, W) or (N, H·W with square H=W) into one panel.

    Values are shown on a fixed scale so that panels compare honestly: ``value_range`` maps
    to black…white and values outside it are clipped. Images in [0, 1] (the default) need
    nothing; tanh outputs in [-1, 1] need ``value_range=(-1, 1)`` (with the default they would
    be clipped, and every negative pixel shown black).

    Args:
        images: a tensor or array of one-channel images.
        nrow: images per row.
        title: the panel's title.
        ax: draw into this axes (else a new figure sized ``scale`` inches per image).
        cmap: matplotlib colour map.
        pad: pixels of white between images.
        row_labels: a label left of each row.
        value_range: ``(low, high)``, the values shown as black and white.

    Returns:
        The figure (with one axes holding one image).

    Example:
        >>> fig = image_grid(torch.rand(6, 1, 8, 8), nrow=3)
        >>> len(fig.axes), len(fig.axes[0].images)
        (1, 1)
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"expected value_range (low, high) with low < high, got {value_range!r}")
    arr = _np(images)
    if arr.ndim == 2:
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(f"expected square flattened images, got {arr.shape[1]} values")
        arr = arr.reshape(-1, side, side)
    elif arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {arr.shape}")
        arr = arr[:, 0]
    elif arr.ndim != 3:
        raise ValueError(f"expected (N, H, W), (N, 1, H, W) or (N, H*W), got shape {arr.shape}")
    n, h, w = arr.shape
    ncol = min(nrow, n)
    nrows = int(np.ceil(n / ncol))
    canvas = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad), high)  # white padding
    for i in range(n):
        r, c = divmod(i, ncol)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = arr[i]
    if ax is None:
        fig, ax = _plt().subplots(figsize=(max(2.0, scale * ncol), max(1.2, scale * nrows)), layout="constrained")
    else:
        fig = ax.figure
    shown = np.clip((canvas - low) / (high - low), 0, 1)  # value_range -> [0, 1]
    ax.imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(len(row_labels))], labels=list(row_labels))
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title)
    return fig


def curves(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None, *, title: str | None = None,
           xlabel: str = "epoch", ylabel: str | None = None, ax=None, labels: Mapping[str, str] | None = None,
           logy: bool = False):
    """Line plot of ``history[key]`` for each key (x = 1, 2, ...), e.g. a training history.

    Args:
        history: a mapping of names to sequences (lists, arrays or 1-D tensors).
        keys: which entries to draw (default: all); a legend is added for more than one.
        title, xlabel, ylabel: labels.
        ax: draw into this axes (else a new figure).
        labels: legend labels by key (default: the key).
        logy: a logarithmic y axis.

    Returns:
        The figure.

    Raises:
        KeyError: for a key that ``history`` does not have.
    """
    keys = list(history) if keys is None else list(keys)
    if ax is None:
        fig, ax = new_figure()
    else:
        fig = ax.figure
    for k in keys:
        if k not in history:
            raise KeyError(f"history has no {k!r}; it has {sorted(history)}")
        y = _np(history[k])
        ax.plot(np.arange(1, len(y) + 1), y, label=(labels or {}).get(k, k))
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig


def scatter_modes(samples, centers=None, *, title: str | None = None, ax=None, data=None, lim: float | None = None,
                  s: float = 3.0):
    """2-D samples (orange) over optional real data (blue) and mode centres (black crosses).

    Args:
        samples: (N, 2) model samples.
        centers: (K, 2) mode centres; they also set the axis limits (1.35 × the farthest).
        title: the panel's title.
        ax: draw into this axes (else a new square figure).
        data: (M, 2) real samples drawn underneath.
        lim: symmetric axis limit (overrides the one from ``centers``).
        s: marker size.

    Returns:
        The figure.
    """
    if ax is None:
        fig, ax = new_figure(width=3.4, height=3.4)
    else:
        fig = ax.figure
    if data is not None:
        d = _np(data)
        ax.scatter(d[:, 0], d[:, 1], s=s, color=COLORS["data"], alpha=0.35, linewidths=0, label="data")
    x = _np(samples)
    ax.scatter(x[:, 0], x[:, 1], s=s, color=COLORS["model"], alpha=0.6, linewidths=0, label="samples")
    if centers is not None:
        c = _np(centers)
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=25, color=COLORS["reference"], linewidths=1.2, label="modes")
        if lim is None:
            lim = float(np.abs(c).max()) * 1.35
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return fig


#: Text glyphs for the buttons of matplotlib's JavaScript animation player, which otherwise
#: draws Font Awesome icons loaded from a CDN (a book that reads offline cannot).
_ANIM_GLYPHS = {"minus": "−", "fast-backward": "⏮", "step-backward": "◂",
                "play fa-flip-horizontal": "◀", "pause": "⏸", "play": "▶", "step-forward": "▸",
                "fast-forward": "⏭", "plus": "+"}


def animation_html(anim, *, alt: str, default_mode: str = "loop") -> str:
    """An animation as self-contained, offline and accessible HTML (for ``IPython.display.HTML``).

    matplotlib's ``anim.to_jshtml()`` plays in any browser without a video codec, but it loads
    its button icons from a CDN and leaves the frame image and the frame slider without a text
    alternative. This returns the same player with the CDN link removed, text glyphs in the
    buttons (which keep their ``aria-label``), ``alt`` on the frame image and a label on the
    slider.

    Args:
        anim: a :class:`matplotlib.animation.Animation`.
        alt: what the animation shows, one sentence (read by screen readers).
        default_mode: ``"loop"``, ``"once"`` or ``"reflect"``, as in ``to_jshtml``.

    Returns:
        str: the HTML.

    Raises:
        TypeError: if ``anim`` has no ``to_jshtml`` or ``alt`` is not a string.
        ValueError: if ``alt`` is empty.
    """
    import html
    import re

    if not hasattr(anim, "to_jshtml"):
        raise TypeError(f"expected a matplotlib Animation, got {type(anim).__name__}")
    if not isinstance(alt, str):
        raise TypeError(f"expected alt to be a str, got {type(alt).__name__}")
    if not alt.strip():
        raise ValueError("expected a non-empty alt text saying what the animation shows")
    text = anim.to_jshtml(default_mode=default_mode)
    text = re.sub(r"<link[^>]*font-awesome[^>]*>\s*", "", text)

    def glyph(m: re.Match) -> str:
        return f'<span aria-hidden="true">{_ANIM_GLYPHS.get(m.group(1), "·")}</span>'

    text = re.sub(r'<i class="fa fa-([a-z -]+?)"></i>', glyph, text)
    safe = html.escape(alt.strip(), quote=True)
    text = re.sub(r'<img id="(_anim_img\w+)"', rf'<img id="\1" alt="{safe}"', text)
    text = re.sub(r'<input id="(_anim_slider\w+)"', r'<input id="\1" aria-label="Frame"', text)
    return text
