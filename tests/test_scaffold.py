"""tools.nb new_chapter: the scaffold has the anatomy the hygiene test checks (written to a temp folder)."""

from __future__ import annotations

import nbformat
import pytest

from tools import nb as nbtools


@pytest.fixture
def book(tmp_path, monkeypatch):
    folder = tmp_path / "book"
    folder.mkdir()
    monkeypatch.setattr(nbtools, "BOOK", folder)
    return folder


def test_scaffold_has_the_anatomy(book):
    path = nbtools.new_chapter("q99_scaffold_test", "Is this a test?", "原题：这是测试吗？")
    assert path == book / "q99_scaffold_test.ipynb"
    nb = nbformat.read(path, as_version=4)
    title, setup = nb.cells[0], nb.cells[1]
    assert title.source.startswith("# Q99 · Is this a test?") and "原题：这是测试吗？" in title.source
    assert nbtools.colab_url(path) in title.source
    assert setup.cell_type == "code" and setup.source == nbtools.setup_cell_source()
    headings = [c.source.splitlines()[0] for c in nb.cells[2:]]
    assert headings == list(nbtools.SECTIONS)
    assert any(nbtools.CHINESE_ANSWER in c.source for c in nb.cells)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # what hygiene says about the unexecuted scaffold: only that it is not executed yet
    # (and not in _toc.yml, which this call does not check)
    problems = nbtools.hygiene_problems(nb, path.name)
    assert problems and all("execut" in p or "count" in p for p in problems), problems


def test_scaffold_refuses_bad_stems_and_existing_files(book):
    with pytest.raises(ValueError, match="stem"):
        nbtools.new_chapter("Q5 discriminator", "?", "原题")
    nbtools.new_chapter("q98_once", "?", "原题")
    with pytest.raises(FileExistsError):
        nbtools.new_chapter("q98_once", "?", "原题")
