"""Hygiene of the committed chapter notebooks (CONTRIBUTING.md), and tests that the checks bite."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from tools import nb as nbtools

NOTEBOOKS = sorted(nbtools.BOOK.glob("q*.ipynb"))


def test_there_are_chapters():
    assert NOTEBOOKS, "no chapter notebooks found in book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_hygiene(path: Path):
    nb = nbformat.read(path, as_version=4)
    problems = nbtools.hygiene_problems(nb, path.name, toc=nbtools.toc_chapters(), size=path.stat().st_size)
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_every_toc_entry_exists():
    for stem in nbtools.toc_chapters():
        assert any((nbtools.ROOT / f"{stem}{suffix}").exists() for suffix in (".ipynb", ".md")), stem


def test_cheatsheet_in_sync():
    expected = nbtools.cheatsheet_text()
    actual = (nbtools.BOOK / "cheatsheet.md").read_text(encoding="utf-8")
    assert actual == expected, "book/cheatsheet.md is stale: run `python -m tools.nb cheatsheet`"


# -- the checks reject what they should --------------------------------------------------------

def _clean_notebook(name="q99_example.ipynb"):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [md(f"# Q99 · Example?\n\n原题：例子？\n\n{nbtools.colab_badge(name)}"),
             code(nbtools.setup_cell_source(), execution_count=1),
             md(f"{nbtools.SECTIONS[0]}\n\n- a\n\n{nbtools.CHINESE_ANSWER}\n\n- 甲")]
    cells += [md(f"{h}\n\ntext") for h in nbtools.SECTIONS[1:]]
    cells.insert(5, code("x = 1\nx", execution_count=2,
                         outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=2)]))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_clean_synthetic_notebook_passes():
    assert nbtools.hygiene_problems(_clean_notebook(), "q99_example.ipynb") == []


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("break_it, message", [
    (lambda nb: _code_cells(nb)[1].outputs.append(
        nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])), "error output"),
    (lambda nb: _code_cells(nb)[1].update(execution_count=5), "not executed top to bottom"),
    (lambda nb: [c.update(execution_count=n) for c, n in zip(_code_cells(nb), (2, 1))], "not executed top to bottom"),
    (lambda nb: _code_cells(nb)[1].update(execution_count=None), "never executed"),
    (lambda nb: nb.metadata.update(kernelspec={"name": "conda-env"}), "kernelspec"),
    (lambda nb: _code_cells(nb)[0].update(source="import genlib"), "canonical setup cell"),
    (lambda nb: nb.cells[0].update(source="# Q99 · Example?\n\n原题：例子？"), "Colab link"),
    (lambda nb: _code_cells(nb)[1].outputs.append(
        nbformat.v4.new_output("stream", name="stdout", text="saved to /home/alice/x.pt")), "absolute local path"),
    (lambda nb: _code_cells(nb)[1].outputs.append(
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: x")), "stderr"),
    (lambda nb: nb.cells.pop(4), "section headings"),
])
def test_hygiene_rejects(break_it, message):
    nb = copy.deepcopy(_clean_notebook())
    break_it(nb)
    problems = nbtools.hygiene_problems(nb, "q99_example.ipynb")
    assert any(message in p for p in problems), problems


def test_hygiene_rejects_large_and_unlisted():
    problems = nbtools.hygiene_problems(_clean_notebook(), "q99_example.ipynb", toc=["book/q01_x"],
                                        size=nbtools.MAX_NOTEBOOK_BYTES + 1)
    assert any("limit" in p for p in problems) and any("_toc.yml" in p for p in problems)


def test_api_reference_in_sync():
    actual = (nbtools.BOOK / "api.md").read_text(encoding="utf-8")
    assert actual == nbtools.api_text(), "book/api.md is stale: run `python -m tools.nb api`"
