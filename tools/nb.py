"""Notebook tooling for the book: execute a chapter, scaffold a new one, build the cheat sheet.

Usage (from the repository root, inside the project's virtual environment)::

    python -m tools.nb run book/q01_vae_principle.ipynb [more.ipynb ...]   # execute in place
    python -m tools.nb new q05_discriminator "How does the discriminator work?" "原题：..."
    python -m tools.nb cheatsheet            # regenerate book/cheatsheet.md from the chapters
    python -m tools.nb practice              # regenerate book/practice.md (questions, follow-ups)
    python -m tools.nb api                   # regenerate book/api.md from genlib's docstrings
    python -m tools.nb glossary              # regenerate book/glossary.md from book/data/glossary.yml

The repository coordinates come from ``_config.yml`` alone; the canonical setup cell and the
Colab link of every chapter are derived from them here and checked by tests/test_notebooks.py.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

#: Section headings of a chapter, in order (CONTRIBUTING.md, "The anatomy"). The title is the first heading.
SECTIONS = ("## Interview answer", "## What the common answer gets wrong", "## Deep dive",
            "## Claims, verified", "## Follow-up questions", "## References")
CHINESE_ANSWER = "### 面试回答"


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def repository() -> tuple[str, str]:
    """``(owner/name, branch)`` from ``_config.yml``."""
    repo = config()["repository"]
    m = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)/?", repo["url"])
    if not m:
        raise ValueError(f"expected a https://github.com/OWNER/NAME repository url, got {repo['url']!r}")
    return m.group(1), repo.get("branch", "main")


def colab_url(notebook: str | Path) -> str:
    slug, branch = repository()
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/book/{Path(notebook).name}"


def colab_badge(notebook: str | Path) -> str:
    """The title cell's Colab link: text, not a remote badge image (which breaks offline)."""
    return f"[Open in Colab]({colab_url(notebook)})"


def setup_cell_source() -> str:
    """The canonical first code cell of every chapter (formatted as ``ruff format`` leaves it)."""
    slug, branch = repository()
    return (
        "# Setup, the same in every chapter: in Colab, install genlib from the book's repo.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install -q \"genlib @ git+https://github.com/{slug}@{branch}\"\n"
        "import genlib\n"
        "\n"
        "genlib.plot.style()\n"
        "generator = genlib.seed_everything(0)\n"
        "device = genlib.default_device()"
    )


def execute(path: Path, *, timeout: int = 600) -> float:
    """Execute ``path`` top to bottom in a fresh kernel and write it back; return seconds."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return seconds


def new_chapter(stem: str, question: str, original: str) -> Path:
    """Write ``book/<stem>.ipynb`` with the chapter skeleton (CONTRIBUTING.md, "The anatomy")."""
    m = re.fullmatch(r"q(\d\d)_[a-z0-9_]+", stem)
    if not m:
        raise ValueError(f"expected a stem like q05_discriminator, got {stem!r}")
    path = BOOK / f"{stem}.ipynb"
    if path.exists():
        raise FileExistsError(path)
    num = int(m.group(1))
    md = nbformat.v4.new_markdown_cell
    cells = [
        md(f"# Q{num} · {question}\n\n{original}\n\n{colab_badge(path)}"),
        nbformat.v4.new_code_cell(setup_cell_source()),
        md(f"{SECTIONS[0]}\n\n- TODO\n\n{CHINESE_ANSWER}\n\n- TODO"),
        md(f"{SECTIONS[1]}\n\nTODO"),
        md(f"{SECTIONS[2]}\n\nTODO"),
        md(f"{SECTIONS[3]}\n\nTODO"),
        md(f"{SECTIONS[4]}\n\nTODO"),
        md(f"{SECTIONS[5]}\n\n```{{footbibliography}}\n```"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


def toc_chapters() -> list[str]:
    """Chapter files (without suffix, relative to the root) in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out = []

    def walk(entries):
        for e in entries:
            if "file" in e:
                out.append(e["file"])
            walk(e.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return out


def interview_answer(nb) -> tuple[str, str, str]:
    """``(title, english, chinese)`` from a chapter's "Interview answer" section."""
    title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    text = None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith(SECTIONS[0]):
            text = cell.source[len(SECTIONS[0]):]
            break
    if text is None or CHINESE_ANSWER not in text:
        raise ValueError(f"{title}: no '{SECTIONS[0]}' cell with a '{CHINESE_ANSWER}' part")
    english, chinese = (s.strip() for s in text.split(CHINESE_ANSWER, 1))
    if "{glue" in english + chinese:
        raise ValueError(f"{title}: the interview answer must not glue values (the cheat sheet copies it)")
    return title, english, chinese


def cheatsheet_text() -> str:
    parts = ["% Generated from the chapters by `python -m tools.nb cheatsheet`; "
             "tests/test_notebooks.py keeps it in sync.",
             "# Cheat sheet\n",
             "Every chapter's 60-second interview answer, in reading order, with its Chinese "
             "version.\n"]
    for stem in toc_chapters():
        path = ROOT / f"{stem}.ipynb"
        if not path.exists():
            continue
        title, english, chinese = interview_answer(nbformat.read(path, as_version=4))
        parts.append(f"## {title}\n\n{english}\n\n**面试回答**\n\n{chinese}\n\n"
                     f"[Read the chapter]({Path(stem).name}.ipynb)\n")
    return "\n".join(parts)


MAX_NOTEBOOK_BYTES = 1_500_000
_LOCAL_PATH = re.compile(r"(/home/|/Users/|/root/|/work/|/tmp/|/private/var/|[A-Za-z]:\\\\Users)")


def hygiene_problems(nb, name: str, *, toc: list[str] | None = None, size: int | None = None) -> list[str]:
    """Everything wrong with an executed chapter notebook (CONTRIBUTING.md); empty when it is clean.

    Checks: code cells executed top to bottom in one kernel (counts 1, 2, 3, ...), no skipped
    (unexecuted) or empty code cells, no error outputs or stderr streams, kernelspec python3,
    the canonical setup cell first, a Colab badge with the right link, the anatomy's section
    headings in order, no absolute local paths in outputs, size under the limit, listed in
    ``_toc.yml``.
    """
    problems = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    if any(not c.source.strip() for c in code):
        problems.append("an empty code cell")
    if any(n is None for n in counts):
        problems.append("a code cell that was never executed")
    elif counts != list(range(1, len(counts) + 1)):
        problems.append(f"not executed top to bottom in one kernel: execution counts {counts}")
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"code cell {i} has an error output ({out.get('ename')})")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"code cell {i} wrote to stderr: {out.get('text', '')[:80]!r}")
            text = str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
            if _LOCAL_PATH.search(text):
                problems.append(f"code cell {i} shows an absolute local path")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"kernelspec is {nb.metadata.get('kernelspec', {}).get('name')!r}, expected 'python3'")
    if not code or code[0].source != setup_cell_source():
        problems.append("the first code cell is not the canonical setup cell (python -m tools.nb new shows it)")
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not nb.cells[0].source.startswith("# Q"):
        problems.append("the first cell is not the title ('# Qn · ...')")
    elif colab_url(name) not in nb.cells[0].source:
        problems.append(f"the title cell lacks the Colab link {colab_url(name)}")
    elif "原题" not in nb.cells[0].source:
        problems.append("the title cell lacks the original question (原题)")
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    found = [h for h in headings if h in SECTIONS]
    if found != list(SECTIONS):
        problems.append(f"section headings {found} differ from the anatomy {list(SECTIONS)}")
    if not any(CHINESE_ANSWER in c.source for c in nb.cells if c.cell_type == "markdown"):
        problems.append(f"no Chinese interview answer ('{CHINESE_ANSWER}')")
    if size is not None and size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{size} bytes, over the {MAX_NOTEBOOK_BYTES}-byte limit")
    if toc is not None and f"book/{Path(name).stem}" not in toc:
        problems.append("not listed in _toc.yml")
    return problems


API_MODULES = ("genlib", "genlib.data", "genlib.nn", "genlib.models", "genlib.losses", "genlib.metrics", "genlib.image", "genlib.text",
               "genlib.train", "genlib.plot", "genlib.zoo")


def _summary(obj) -> str:
    import inspect

    doc = obj if isinstance(obj, str) else (inspect.getdoc(obj) or "")  # a str: a constant's #: comment
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    first = re.sub(r":(?:func|class|data|meth|mod|attr):`~?([^`]+)`", r"`\1`", first)
    first = re.sub(r":math:`([^`]+)`", r"$\1$", first)
    return first.replace("|", "\\|")


def api_text() -> str:
    """The genlib API reference page: every public name with its signature and summary."""
    import importlib
    import inspect

    import sys

    def fmt_annotation(a) -> str:
        import typing

        if isinstance(a, typing.ForwardRef):  # e.g. a NamedTuple's fields under postponed annotations
            return a.__forward_arg__
        return a if isinstance(a, str) else inspect.formatannotation(a)  # postponed annotations are str

    def fmt_signature(obj) -> str:
        """Like str(inspect.signature(obj)), with annotations unquoted and str defaults in quotes."""
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            return ""
        out, star_done = [], False
        for p in sig.parameters.values():
            if p.kind is p.KEYWORD_ONLY and not star_done:
                out.append("*")
            if p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL):
                star_done = True
            text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
            if p.annotation is not p.empty:
                text += f": {fmt_annotation(p.annotation)}"
            if p.default is not p.empty:
                default = repr(p.default)
                if isinstance(p.default, str):
                    default = '"' + p.default.replace('"', '\\"') + '"'
                text += f" = {default}" if p.annotation is not p.empty else f"={default}"
            out.append(text)
        ret = "" if sig.return_annotation is sig.empty else f" -> {fmt_annotation(sig.return_annotation)}"
        return f"({', '.join(out)}){ret}"

    def constant_docs(modname: str) -> dict[str, str]:
        """``#:`` comments right above ``NAME = ...`` in the module and its submodules (Sphinx's convention)."""
        docs: dict[str, str] = {}
        for name, m in sorted(sys.modules.items()):
            if m is None or not (name == modname or name.startswith(modname + ".")):
                continue
            try:
                lines = inspect.getsource(m).splitlines()
            except (OSError, TypeError):
                continue
            for i, line in enumerate(lines):
                found = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=", line)
                comment = []
                for prev in reversed(lines[:i]):
                    if not prev.startswith("#:"):
                        break
                    comment.insert(0, prev[2:].strip())
                if found and comment:
                    docs.setdefault(found.group(1), " ".join(comment))
        return docs

    parts = ["# genlib API reference\n",
             "<!-- Generated by `python -m tools.nb api` from genlib's docstrings; "
             "tests/test_notebooks.py keeps it in sync. Do not edit by hand. -->\n",
             "Every public name of `genlib`, with its signature and the first line of its docstring "
             "(the docstrings in the source carry the formulas and examples).\n"]
    for modname in API_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        names = [n for n in getattr(mod, "__all__", []) if not n.startswith("__") or n == "__version__"]
        if not names:
            continue
        consts = constant_docs(modname)
        parts.append(f"## `{modname}`\n\n{_summary(mod)}\n\n| name | summary |\n|---|---|")
        for name in names:
            obj = getattr(mod, name)
            if callable(obj) or inspect.isclass(obj):
                sig = re.sub(r"\s+", " ", fmt_signature(obj)).replace("|", "\\|")
                kind = "class " if inspect.isclass(obj) else ""
                parts.append(f"| {kind}`{name}{sig}` | {_summary(obj)} |")
            else:  # a constant: its value when short, and its #: comment
                value = repr(obj).replace("'", '"')
                shown = f"{name} = {value}" if len(value) <= 70 else name
                summary = _summary(consts.get(name, ""))
                if not summary:
                    raise ValueError(f"{modname}.{name} is public but has no '#:' comment to document it")
                parts.append(f"| `{shown.replace('|', chr(92) + '|')}` | {summary} |")
        parts.append("")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.nb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute notebooks in place, top to bottom, in a fresh kernel")
    run.add_argument("paths", nargs="+", type=Path)
    new = sub.add_parser("new", help="scaffold a chapter")
    new.add_argument("stem")
    new.add_argument("question")
    new.add_argument("original")
    sub.add_parser("cheatsheet", help="regenerate book/cheatsheet.md")
    sub.add_parser("api", help="regenerate book/api.md")
    sub.add_parser("glossary", help="regenerate book/glossary.md from book/data/glossary.yml")
    sub.add_parser("practice", help="regenerate book/practice.md (questions and follow-ups)")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        for p in args.paths:
            print(f"{p}: {execute(p.resolve()):.1f} s", flush=True)
    elif args.cmd == "new":
        print(new_chapter(args.stem, args.question, args.original))
    elif args.cmd == "glossary":
        from tools import rules

        print(rules.write_glossary())
    elif args.cmd == "practice":
        from tools import practice

        (BOOK / "practice.md").write_text(practice.practice_text(), encoding="utf-8")
        print(BOOK / "practice.md")
    elif args.cmd == "api":
        (BOOK / "api.md").write_text(api_text(), encoding="utf-8")
        print(BOOK / "api.md")
    else:
        (BOOK / "cheatsheet.md").write_text(cheatsheet_text(), encoding="utf-8")
        print(BOOK / "cheatsheet.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
