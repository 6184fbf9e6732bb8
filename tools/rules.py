"""The chapter rules of the book (CONTRIBUTING.md, "Rules") as functions that list what is wrong.

Each ``*_problems`` function takes a notebook (``nbformat`` node) and returns a list of
human-readable problems, empty when the chapter follows the rule; ``tests/test_chapter_rules.py``
runs them on every chapter and shows that each one rejects what it should. The glossary page
is generated here from ``book/data/glossary.yml``::

    python -m tools.nb glossary      # regenerate book/glossary.md
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from tools import nb as nbtools

GLOSSARY_DATA = nbtools.BOOK / "data" / "glossary.yml"

#: Interview answers: a bold one-sentence headline, 4–6 bullets, at most this many words
#: of English prose (formulas aside).
MAX_ANSWER_WORDS = 180
ANSWER_BULLETS = (4, 6)
#: Follow-up questions per chapter, each tagged with a difficulty.
FOLLOW_UPS = (3, 6)
DIFFICULTIES = ("E", "M", "H")
#: Code lines fit the page's code column (ruff's line length).
MAX_CODE_LINE = 88
#: Logical width of a figure in CSS pixels (retina PNGs are drawn at twice this).
MAX_FIGURE_WIDTH = 820
MIN_ALT_WORDS = 4

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]+\$", re.DOTALL)
_BULLET = re.compile(r"^- ", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")
_GLUE_REF = re.compile(r"\{glue(?::[a-z]+)?\}`([^`:]+)(?::[^`]*)?`")
_GLUE_DIRECTIVE = re.compile(r"^[`:]{3,}\{glue(?::[a-z]+)?\}\s+(\S+)", re.MULTILINE)
_NOUN_CITE = re.compile(r"\b(of|that|by|so|and|in|from|than|see)\s+\{footcite\}", re.IGNORECASE)
_QUESTION = re.compile(r"^\*\*(\d+)\.\s*(.+?)\*\*[ \t]*$", re.MULTILINE | re.DOTALL)
_TAGGED = re.compile(r"^\[(E|M|H)\] \S")


def english_words(text: str) -> int:
    """Words of prose in ``text``: math removed, headings and bullets' markers ignored."""
    prose = _MATH.sub(" ", text)
    # a word is a run of letters/digits (with inner hyphens or apostrophes): "i.i.d." is three
    return len(_WORD.findall(prose))


def _headline(text: str) -> str | None:
    first = text.strip().split("\n\n", 1)[0].strip()
    if first.startswith("**") and first.endswith("**") and first.count("**") == 2:
        return first
    return None


def interview_problems(nb) -> list[str]:
    """Headline, bullet count and length of the English and Chinese interview answers."""
    try:
        _, english, chinese = nbtools.interview_answer(nb)
    except ValueError as err:
        return [str(err)]
    problems = []
    for lang, text in (("English", english), ("Chinese", chinese)):
        if _headline(text) is None:
            problems.append(f"the {lang} interview answer does not open with a bold one-sentence "
                            "headline paragraph (**...**)")
    n_en, n_zh = len(_BULLET.findall(english)), len(_BULLET.findall(chinese))
    lo, hi = ANSWER_BULLETS
    if not lo <= n_en <= hi:
        problems.append(f"the interview answer has {n_en} bullets, expected {lo}-{hi}")
    if n_zh != n_en:
        problems.append(f"the Chinese answer has {n_zh} bullets, the English one {n_en}")
    words = english_words(english)
    if words > MAX_ANSWER_WORDS:
        problems.append(f"the interview answer has {words} words of prose, at most "
                        f"{MAX_ANSWER_WORDS} allowed")
    return problems


@lru_cache(maxsize=1)
def glossary() -> tuple[dict, ...]:
    entries = yaml.safe_load(GLOSSARY_DATA.read_text(encoding="utf-8"))
    for e in entries:
        missing = {"en", "zh", "variants", "definition", "chapter"} - set(e)
        if missing:
            raise ValueError(f"glossary entry {e.get('en')!r} lacks {sorted(missing)}")
    return tuple(entries)


def glossary_problems(nb) -> list[str]:
    """Variants of glossary terms used in the Chinese interview answer."""
    try:
        _, _, chinese = nbtools.interview_answer(nb)
    except ValueError as err:
        return [str(err)]
    return [f"the Chinese answer uses {v!r}; the book's term for {e['en']!r} is {e['zh']!r}"
            for e in glossary() for v in e["variants"] if v in chinese]


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def figure_problems(nb) -> list[str]:
    """Every figure has a meaningful alt text, is a retina PNG, and fits a phone-readable width."""
    problems = []
    for i, cell in enumerate(_code_cells(nb)):
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            continue
        alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        if len(alt.split()) < MIN_ALT_WORDS or re.search(r"\.(png|svg|jpe?g)\b|_images", alt):
            problems.append(f"code cell {i}: figure without a meaningful alt text "
                            "(metadata mystnb.image.alt, at least a short sentence)")
        for out in images:
            width = out.get("metadata", {}).get("image/png", {}).get("width")
            if width is None:
                problems.append(f"code cell {i}: figure is not a retina PNG (no width metadata; "
                                "the setup cell's genlib.plot.style() sets retina)")
            elif width > MAX_FIGURE_WIDTH:
                problems.append(f"code cell {i}: figure is {width} px wide, at most "
                                f"{MAX_FIGURE_WIDTH} (2-3 panels per row)")
    return problems


def code_problems(nb) -> list[str]:
    """Code lines fit the column; test markers are tags, not comments."""
    problems = []
    for i, cell in enumerate(_code_cells(nb)):
        for line in cell.source.splitlines():
            if len(line) > MAX_CODE_LINE and "https://" not in line:
                problems.append(f"code cell {i}: a line of {len(line)} characters: {line[:50]!r}...")
        if "NBVAL_" in cell.source:
            problems.append(f"code cell {i}: an nbval marker as a comment; use the cell tag "
                            "(nbval-check-output)")
    return problems


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def citation_problems(nb) -> list[str]:
    """Citations used as nouns must be textual ({footcite:t})."""
    return [f"'{m.group(0)}': a citation used as a noun; write {{footcite:t}}"
            for m in _NOUN_CITE.finditer(_markdown(nb))]


def glued_values(nb, mime: str = "text/plain") -> dict[str, str]:
    """name -> the stored ``mime`` representation of every value glued with that mime."""
    out = {}
    for cell in _code_cells(nb):
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook", {})
            if meta.get("name") and meta.get("mime_prefix", "") + mime in o.get("data", {}):
                out[meta["name"]] = o["data"][meta["mime_prefix"] + mime]
    return out


def glued_names(nb) -> list[str]:
    names = []
    for cell in _code_cells(nb):
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                names.append(name)
    return names


def glue_problems(nb) -> list[str]:
    """Every glued value is quoted in the prose, and every quoted value is glued."""
    text = _markdown(nb)
    used = set(_GLUE_REF.findall(text)) | set(_GLUE_DIRECTIVE.findall(text))
    glued = set(glued_names(nb))
    problems = [f"glued but never used in the text: {n}" for n in sorted(glued - used)]
    problems += [f"used in the text but never glued: {n}" for n in sorted(used - glued)]
    return problems


def _section(nb, heading: str):
    """Cells from the markdown cell that starts with ``heading`` up to the next '## ' heading."""
    out, inside = [], False
    for cell in nb.cells:
        starts = cell.cell_type == "markdown" and cell.source.lstrip().startswith("## ")
        if starts and inside:
            break
        if cell.cell_type == "markdown" and cell.source.startswith(heading):
            inside = True
        if inside:
            out.append(cell)
    return out


def claims_problems(nb) -> list[str]:
    """The Claims section asserts, and its last code cell reports that all claims hold."""
    code = [c for c in _section(nb, "## Claims, verified") if c.cell_type == "code"]
    if not any(re.search(r"^\s*assert\b", c.source, re.MULTILINE) for c in code):
        return ["the Claims, verified section has no assert"]
    text = "".join(str(o.get("text", "")) for o in code[-1].get("outputs", []))
    if "all claims hold" not in text:
        return ["the Claims, verified section does not end by printing 'all claims hold'"]
    return []


def follow_ups(nb) -> list[tuple[int, str, str]]:
    """``(number, difficulty or '', question)`` for each follow-up question."""
    text = "\n\n".join(c.source for c in _section(nb, "## Follow-up questions")
                       if c.cell_type == "markdown")
    out = []
    for m in _QUESTION.finditer(text):
        tag = _TAGGED.match(m.group(2))
        out.append((int(m.group(1)), tag.group(1) if tag else "", m.group(2)))
    return out


def follow_up_problems(nb) -> list[str]:
    """3-6 follow-ups tagged [E]/[M]/[H]; every coded answer is executed with an assert."""
    qs = follow_ups(nb)
    lo, hi = FOLLOW_UPS
    problems = []
    if not lo <= len(qs) <= hi:
        problems.append(f"{len(qs)} follow-up questions, expected {lo}-{hi}")
    problems += [f"follow-up {n} lacks a difficulty tag [E]/[M]/[H] after its number"
                 for n, tag, _ in qs if not tag]
    section = _section(nb, "## Follow-up questions")
    coded = sum(c.source.count("```python") for c in section if c.cell_type == "markdown")
    executed = sum(1 for c in section if c.cell_type == "code"
                   and "remove-cell" in c.metadata.get("tags", [])
                   and re.search(r"^\s*assert\b", c.source, re.MULTILINE))
    if executed < coded:
        problems.append(f"{coded} follow-up answers show python code but only {executed} "
                        "remove-cell code cells with an assert execute them")
    return problems


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s")
_DOLLARS = re.compile(r"\$\$|(?<!\\)\$")


def markdown_problems(nb) -> list[str]:
    """Markdown that MyST renders other than it reads: a new paragraph glued to a list item
    (no blank line: it becomes part of the bullet), and an inline formula broken before a
    line that starts with '+ ', '- ' or '* ' (MyST starts a list inside the formula)."""
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines, fence, in_list, odd = cell.source.split("\n"), False, False, False
        for i, line in enumerate(lines):
            if line.lstrip().startswith(("```", "~~~")):
                fence = not fence
                continue
            if fence:
                continue
            if not line.strip():
                in_list, odd = False, False
                continue
            if odd and re.match(r"^\s*[-*+]\s", line):
                problems.append(f"an inline formula breaks before {line.strip()[:40]!r}: "
                                "MyST starts a list there; break the line elsewhere")
            if _LIST_ITEM.match(line):
                in_list = True
            elif (in_list and not line[0].isspace() and re.match(r"[A-Z]", line)
                  and re.search(r"[.:;!?]$", lines[i - 1].rstrip())):
                problems.append(f"{line[:40]!r} follows a list item without a blank line: "
                                "it renders inside the bullet")
            for m in _DOLLARS.finditer(line):
                if m.group(0) == "$":
                    odd = not odd
    return problems


RULES = {
    "interview": interview_problems,
    "glossary": glossary_problems,
    "figures": figure_problems,
    "code": code_problems,
    "citations": citation_problems,
    "glue": glue_problems,
    "claims": claims_problems,
    "follow_ups": follow_up_problems,
    "markdown": markdown_problems,
}


def glossary_text() -> str:
    """The glossary page (book/glossary.md), generated from book/data/glossary.yml."""
    rows = []
    for e in sorted(glossary(), key=lambda e: e["en"].lower()):
        stem = e["chapter"]
        if not (nbtools.BOOK / f"{stem}.ipynb").exists():
            raise ValueError(f"glossary entry {e['en']!r}: no chapter {stem}")
        number = int(stem[1:3])
        definition = e["definition"].replace("|", "\\|")
        rows.append(f"| {e['en']} | {e['zh']} | {definition} | [Q{number}]({stem}.ipynb) |")
    return "\n".join([
        "% Generated from book/data/glossary.yml by `python -m tools.nb glossary`; "
        "tests/test_chapter_rules.py keeps it in sync.",
        "# Glossary · 术语表\n",
        "The book's terms in English and Chinese, one Chinese term per concept (the Chinese "
        "interview answers use exactly these), each with a one-line definition and the "
        "chapter that explains it.\n",
        "| English | 中文 | definition | chapter |",
        "|---|---|---|---|",
        *rows,
    ]) + "\n"


def write_glossary() -> Path:
    path = nbtools.BOOK / "glossary.md"
    path.write_text(glossary_text(), encoding="utf-8")
    return path
