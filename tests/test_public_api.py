"""Every `genlib` name that a chapter uses must exist: a rename cannot break a chapter silently."""

from __future__ import annotations

import ast
import importlib
import re

import nbformat
import pytest

from tools import nb as nbtools

_MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)  # IPython magics/shell lines -> pass


def _used_names() -> set[str]:
    """Dotted ``genlib.*`` attribute chains and ``from genlib... import`` names in the chapters."""
    names: set[str] = set()
    for path in sorted(nbtools.BOOK.glob("q*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse(_MAGIC.sub(r"\1pass", cell.source))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "genlib":
                    names.update(f"{node.module}.{a.name}" for a in node.names)
                elif isinstance(node, ast.Import):
                    names.update(a.name for a in node.names if a.name.split(".")[0] == "genlib")
                elif isinstance(node, ast.Attribute):
                    chain, cur = [], node
                    while isinstance(cur, ast.Attribute):
                        chain.append(cur.attr)
                        cur = cur.value
                    if isinstance(cur, ast.Name) and cur.id == "genlib":
                        names.add(".".join(["genlib", *reversed(chain)]))
    return names


def _resolve(dotted: str):
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


USED = sorted(_used_names())


def test_chapters_use_genlib():
    assert "genlib.seed_everything" in USED


@pytest.mark.parametrize("dotted", USED)
def test_name_exists(dotted):
    _resolve(dotted)


CONTRACT = ["genlib.seed_everything", "genlib.default_device", "genlib.data.mnist", "genlib.data.ring_of_gaussians",
            "genlib.data.grid_of_gaussians", "genlib.losses.gaussian_kl", "genlib.losses.bernoulli_nll",
            "genlib.losses.gaussian_nll", "genlib.losses.discriminator_loss", "genlib.losses.generator_loss",
            "genlib.losses.gradient_penalty", "genlib.losses.r1_penalty", "genlib.metrics.frechet_distance",
            "genlib.metrics.fid", "genlib.metrics.kid", "genlib.metrics.inception_score",
            "genlib.metrics.precision_recall", "genlib.metrics.psnr", "genlib.metrics.ssim",
            "genlib.metrics.mode_coverage", "genlib.metrics.active_units", "genlib.metrics.mnist_classifier",
            "genlib.models.HMM"]


@pytest.mark.parametrize("dotted", CONTRACT)
def test_contract_name_exists(dotted):
    """The names of the spec's §5 table (outside checks call them)."""
    assert callable(_resolve(dotted))
