"""genlib.plot: every function returns a Figure with the expected axes and artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from genlib import plot  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _shown(fig) -> np.ndarray:
    (ax,) = fig.axes
    (image,) = ax.images
    return np.asarray(image.get_array())


def test_style_sets_the_book_rc_and_palette():
    with matplotlib.rc_context():
        plot.style()
        assert matplotlib.rcParams["figure.dpi"] == 80 and not matplotlib.rcParams["axes.spines.top"]
        colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        assert colors[:2] == [plot.COLORS["data"], plot.COLORS["model"]]


def test_image_grid_tiles_images_with_padding():
    images = torch.rand(7, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    fig = plot.image_grid(images, nrow=3, pad=1, title="seven")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "seven"
    canvas = _shown(fig)
    assert canvas.shape == (3 * 5 + 1, 3 * 5 + 1)  # 3 rows × 3 columns of 4 px + 1 px padding
    assert np.allclose(canvas[1:5, 1:5], images[0, 0].numpy())
    assert np.allclose(canvas[11:15, 1:5], images[6, 0].numpy())  # the 7th image: row 3, column 1
    assert canvas[0].min() == 1.0 and canvas[11:15, 6:].min() == 1.0  # padding and empty cells white


def test_image_grid_accepts_flat_and_three_dim_input():
    x = torch.rand(4, 16)
    a, b = _shown(plot.image_grid(x, nrow=2)), _shown(plot.image_grid(x.reshape(4, 4, 4), nrow=2))
    assert np.array_equal(a, b)


def test_image_grid_value_range_shows_tanh_outputs():
    x = torch.tensor([-1.0, -0.5, 0.0, 1.0]).reshape(1, 1, 2, 2)
    default = _shown(plot.image_grid(x))
    assert default[1, 1] == 0.0 and default[1, 2] == 0.0  # [0, 1] scale: negatives clipped to black
    tanh = _shown(plot.image_grid(x, value_range=(-1, 1)))
    assert np.allclose(tanh[1:3, 1:3], [[0.0, 0.25], [0.5, 1.0]])  # the full range, linearly
    assert tanh[0, 0] == 1.0  # padding stays white


def test_image_grid_row_labels_and_ax():
    fig, ax = plt.subplots()
    out = plot.image_grid(torch.rand(6, 1, 4, 4), nrow=3, ax=ax, row_labels=["a", "b"])
    assert out is fig
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


@pytest.mark.parametrize("images, value_range, match", [
    (torch.rand(2, 3, 4, 4), (0, 1), "one channel"),
    (torch.rand(2, 15), (0, 1), "square"),
    (torch.rand(2, 2, 2, 2, 2), (0, 1), "shape"),
    (torch.rand(2, 1, 4, 4), (1, -1), "value_range"),
])
def test_image_grid_bad_input(images, value_range, match):
    with pytest.raises(ValueError, match=match):
        plot.image_grid(images, value_range=value_range)


def test_curves_one_line_per_key():
    hist = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0], "beta": [1.0, 1.0, 1.0]}
    fig = plot.curves(hist, ["loss", "val_loss"], title="t", labels={"loss": "train"}, logy=True)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["train", "val_loss"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3] and ax.get_yscale() == "log"
    assert ax.get_legend() is not None
    assert len(plot.curves(hist).axes[0].lines) == 3  # default: every key
    with pytest.raises(KeyError, match="kl"):
        plot.curves(hist, ["kl"])


def test_scatter_modes_layers_and_limits():
    samples, centers = torch.randn(50, 2), torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    fig = plot.scatter_modes(samples, centers, data=torch.randn(30, 2), title="ring")
    (ax,) = fig.axes
    assert [c.get_label() for c in ax.collections] == ["data", "samples", "modes"]
    assert ax.get_xlim() == pytest.approx((-2.7, 2.7))  # 1.35 × the farthest centre
    assert len(plot.scatter_modes(samples).axes[0].collections) == 1


def test_new_figure_shapes():
    fig, ax = plot.new_figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 1 and ax is fig.axes[0]
    fig, axes = plot.new_figure(2, nrows=2, width=3.0, height=2.0)
    assert len(axes) == 4 and tuple(fig.get_size_inches()) == (6.0, 4.0)


def test_importing_genlib_does_not_import_pyplot():
    import subprocess
    import sys

    code = "import sys, genlib; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_animation_html_reads_offline_and_has_text_alternatives():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import animation

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    (line,) = ax.plot([0, 1], [0, 1])
    anim = animation.FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=3)
    raw = anim.to_jshtml()
    assert "font-awesome" in raw  # what the helper exists to remove
    out = plot.animation_html(anim, alt='Two "players" chase each other.')
    plt.close(fig)
    assert "http://" not in out and "https://" not in out
    assert 'class="fa ' not in out and "▶" in out and "⏸" in out
    assert 'alt="Two &quot;players&quot; chase each other."' in out
    assert 'aria-label="Frame"' in out
    with pytest.raises(ValueError, match="alt"):
        plot.animation_html(anim, alt=" ")
    with pytest.raises(TypeError, match="Animation"):
        plot.animation_html(fig, alt="x y z w")
