"""Practice material generated from the chapters: the practice page and the Anki deck.

Nothing here is written twice: every question, follow-up and answer is read from the stored
chapters (their "Interview answer" and "Follow-up questions" sections), so the practice page
and the flashcards change when a chapter does::

    python -m tools.nb practice          # regenerate book/practice.md
    python -m tools.practice deck OUT    # write the Anki deck (.apkg) to OUT

The book's build writes the deck into the HTML output (``tools/sphinx_reader.py``), and the
practice page links to it. ``tests/test_practice.py`` keeps the page in sync and checks the
deck (one note per interview question and per follow-up, every card linking to its chapter).
"""

from __future__ import annotations

import ast
import html
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import nbformat

from tools import nb as nbtools
from tools import rules

DIFFICULTY_NAMES = {"E": "Easy", "M": "Medium", "H": "Hard"}
DECK_FILE = "gm30-flashcards.apkg"
DECK_DIR = "downloads"  # under the HTML output: _build/html/downloads/gm30-flashcards.apkg
# Fixed ids: Anki recognises a re-imported deck (and its note types) as the same one.
DECK_ID = 1_730_300_000_001
QUESTION_MODEL_ID = 1_730_300_000_002
FOLLOW_UP_MODEL_ID = 1_730_300_000_003

_DROPDOWN = re.compile(r"^:{3,}\{dropdown\}[^\n]*\n(.*?)^:{3,}[ \t]*$", re.MULTILINE | re.DOTALL)
_GLUE_ROLE = re.compile(r"\{glue(?::([a-z]+))?\}`([^`]+)`")
_GLUE_FIGURE = re.compile(r"^```\{glue:figure\}[^\n]*\n(?::[^\n]*\n)*\n?(.*?)^```[ \t]*$",
                          re.MULTILINE | re.DOTALL)
_FOOTCITE = re.compile(r"\{footcite(?::(t|p))?\}`([^`]+)`")
_ROLE = re.compile(r"\{[a-z:]+\}`([^`<]*?)(?:\s*<[^`>]*>)?`")


@dataclass
class FollowUp:
    number: int
    difficulty: str  # "E", "M" or "H"
    question: str  # markdown, without the number and the tag
    answer: str  # markdown, the dropdown's body


@dataclass
class Chapter:
    stem: str  # e.g. "book/q05_discriminator"
    title: str  # e.g. "Q5 · How does the discriminator work?"
    original: str  # the question in Chinese (原题)
    answer: str  # the English interview answer (markdown)
    answer_zh: str  # 面试回答
    follow_ups: list[FollowUp] = field(default_factory=list)
    glue: dict[str, str] = field(default_factory=dict)  # name -> text/plain of the value
    glue_md: dict[str, str] = field(default_factory=dict)  # name -> text/markdown, if glued as such

    @property
    def name(self) -> str:
        return Path(self.stem).name

    @property
    def number(self) -> str:
        return self.title.split(" ", 1)[0]  # "Q5"


def _follow_ups(nb) -> list[FollowUp]:
    text = "\n\n".join(c.source for c in rules._section(nb, "## Follow-up questions")
                       if c.cell_type == "markdown")
    found = list(rules._QUESTION.finditer(text))
    out = []
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        body = _DROPDOWN.search(text, m.end(), end)
        tag = rules._TAGGED.match(m.group(2))
        if body is None or tag is None:
            raise ValueError(f"follow-up {m.group(1)} has no tag or no dropdown answer")
        question = " ".join(m.group(2)[4:].split())  # drop "[E] ", join wrapped lines
        out.append(FollowUp(int(m.group(1)), tag.group(1), question, body.group(1).strip()))
    return out


def chapters() -> list[Chapter]:
    """Every written chapter, in reading order, with its answers and follow-ups."""
    out = []
    for stem in nbtools.toc_chapters():
        path = nbtools.ROOT / f"{stem}.ipynb"
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        title, english, chinese = nbtools.interview_answer(nb)
        original = ""
        for line in nb.cells[0].source.splitlines():
            if line.startswith("原题"):
                original = line.split("：", 1)[-1].strip()
        out.append(Chapter(stem, title, original, english, chinese, _follow_ups(nb),
                           rules.glued_values(nb), rules.glued_values(nb, "text/markdown")))
    return out


# ---------------------------------------------------------------------------------------------
# The practice page (MyST markdown, built with the book)


def _paste_from(chapter: Chapter, text: str) -> str:
    """Point the chapter's glue roles at the chapter (``{glue:text}`q05_x.ipynb::key:fmt```)."""
    def sub(m: re.Match) -> str:
        kind, body = m.group(1), m.group(2)
        if kind in (None, "text"):
            key, _, fmt = body.partition(":")
            return f"{{glue:text}}`{chapter.name}.ipynb::{key}:{fmt or 's'}`"
        if kind == "md":  # myst-nb's glue:md cannot paste from another page: inline the value
            key = body.partition(":")[0]
            if key not in chapter.glue_md:
                raise ValueError(f"{chapter.stem}: glued markdown {key!r} not found")
            return chapter.glue_md[key]
        return f"{{glue:{kind}}}`{chapter.name}.ipynb::{body}`"

    # a glued figure cannot be pasted from another page (myst-nb's glue:figure has no :doc:):
    # its caption stays, with a link to the chapter that shows it
    text = _GLUE_FIGURE.sub(lambda m: f"*{' '.join(m.group(1).split())}* (The figure is in "
                            f"{{doc}}`{chapter.number} <{chapter.name}>`.)", text)
    return _GLUE_ROLE.sub(sub, text)


def practice_text() -> str:
    chs = chapters()
    n_fu = sum(len(c.follow_ups) for c in chs)
    parts = [
        "% Generated from the chapters by `python -m tools.nb practice`; "
        "tests/test_practice.py keeps it in sync.",
        "# Practice\n",
        f"Every question of the book's {len(chs)} written chapters and all {n_fu} follow-up "
        "questions, with the answers hidden. Say your answer out loud (or write it) before you "
        "open the box; then read the chapter the question links to. The follow-ups are grouped by "
        "difficulty: **easy** checks a definition, **medium** asks for a derivation or a "
        "diagnosis, **hard** asks for a proof, a design or an experiment.\n",
        "The same material as flashcards for [Anki](https://apps.ankiweb.net/), English and "
        "Chinese: <a href=\"" + f"../{DECK_DIR}/{DECK_FILE}" + "\" download>download the deck "
        f"(`{DECK_FILE}`)</a> and open it with Anki (File → Import). Importing a newer deck "
        "updates the cards and keeps your review history.\n",
        "## The interview questions\n",
        "Answer in about sixty seconds: the headline first, then four to six points.\n",
    ]
    for c in chs:
        parts.append(f"**{c.title}** ({{doc}}`chapter <{c.name}>`)<br>原题：{c.original}\n\n"
                     f"::::{{dropdown}} Interview answer\n{c.answer}\n\n**面试回答**\n\n"
                     f"{c.answer_zh}\n::::\n")
    for tag, name in DIFFICULTY_NAMES.items():
        items = [(c, f) for c in chs for f in c.follow_ups if f.difficulty == tag]
        parts.append(f"## {name} follow-ups ({len(items)})\n")
        for c, f in items:
            parts.append(f"**{c.number}.{f.number}** {_paste_from(c, f.question)} "
                         f"({{doc}}`{c.number} <{c.name}>`)\n\n"
                         f"::::{{dropdown}} Answer\n{_paste_from(c, f.answer)}\n::::\n")
    parts.append("## References\n\n```{footbibliography}\n```\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The Anki deck


def pages_url() -> str:
    """Where the book is published: the repository's GitHub Pages site."""
    owner, name = nbtools.repository()[0].split("/")
    return f"https://{owner}.github.io/{name}"


def chapter_url(chapter: Chapter) -> str:
    return f"{pages_url()}/{chapter.stem}.html"


@lru_cache(maxsize=1)
def _bib() -> dict[str, str]:
    """key -> "Author et al. Year" from book/references.bib."""
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(nbtools.BOOK / "references.bib")).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [" ".join(p.last_names) for p in people]
        who = (last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2
               else f"{last[0]} et al." if last else key)
        out[key] = f"{who} {entry.fields.get('year', '')}".strip()
    return out


def _format_glue(value: str, fmt: str) -> str:
    if not fmt:
        return value
    try:
        return format(ast.literal_eval(value), fmt)
    except (ValueError, SyntaxError, TypeError):
        return value


def _plain(chapter: Chapter, text: str) -> str:
    """Markdown for Anki: glued values filled in, citations written out, roles as text."""
    def glue(m: re.Match) -> str:
        key, _, fmt = m.group(2).partition(":")
        value = chapter.glue.get(key)
        if value is None:
            raise ValueError(f"{chapter.stem}: glued value {key!r} not found")
        if m.group(1) == "md":
            return chapter.glue_md.get(key, value.strip("'\""))
        return _format_glue(value, fmt).strip("'") if fmt else value.strip("'")

    def cite(m: re.Match) -> str:
        names = [_bib().get(k.strip(), k.strip()) for k in m.group(2).split(",")]
        if m.group(1) == "t":
            return "; ".join(re.sub(r" (\d{4})$", r" (\1)", n) for n in names)
        space = "" if m.start() == 0 or m.string[m.start() - 1].isspace() else " "
        return space + "(" + "; ".join(names) + ")"

    text = _GLUE_FIGURE.sub(lambda m: f"*{' '.join(m.group(1).split())}* (The figure is in the "
                            "chapter.)", text)
    text = _GLUE_ROLE.sub(glue, text)
    text = _FOOTCITE.sub(cite, text)
    text = _ROLE.sub(lambda m: m.group(1), text)
    text = re.sub(r"^:{3,}\{[a-z]+\}.*$|^:{3,}\s*$", "", text, flags=re.MULTILINE)  # stray fences
    return text


_MATH_BLOCK = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
_MATH_INLINE = re.compile(r"(?<![\\$])\$((?:[^$\n]|\n(?!\s*\n))+?)\$")  # may wrap a line


def to_html(markdown: str) -> str:
    """Markdown with $...$ math -> HTML with Anki's MathJax delimiters \\( \\) and \\[ \\]."""
    from markdown_it import MarkdownIt

    maths: list[str] = []

    def keep(m: re.Match, display: bool) -> str:
        tex = html.escape(m.group(1).strip())
        maths.append(f"\\[{tex}\\]" if display else f"\\({tex}\\)")
        return f"MATHPLACEHOLDER{len(maths) - 1}X"

    text = _MATH_BLOCK.sub(lambda m: keep(m, True), markdown)
    text = _MATH_INLINE.sub(lambda m: keep(m, False), text)
    out = MarkdownIt("commonmark").enable("table").render(text)
    return re.sub(r"MATHPLACEHOLDER(\d+)X", lambda m: maths[int(m.group(1))], out)


_CSS = """.card { font-family: -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", sans-serif;
  font-size: 18px; text-align: left; max-width: 42em; margin: auto; line-height: 1.45; }
pre { background: #f4f4f4; padding: .5em; overflow-x: auto; font-size: 15px; }
.source { font-size: 14px; color: #666; margin-top: 1em; }"""


def deck_notes() -> list[tuple[str, list[str], list[str]]]:
    """(kind, fields, tags) for every note: "question" notes (English and Chinese card) and
    "follow-up" notes, all fields as HTML."""
    notes = []
    for c in chapters():
        link = f'<div class="source"><a href="{chapter_url(c)}">{html.escape(c.title)}</a></div>'
        tag = c.number.lower()
        notes.append(("question", [html.escape(c.title), to_html(_plain(c, c.answer)),
                                   html.escape(c.original), to_html(_plain(c, c.answer_zh)), link],
                      ["gm30", tag, "interview"]))
        for f in c.follow_ups:
            front = to_html(_plain(c, f"**{c.number}.{f.number} [{f.difficulty}]** {f.question}"))
            notes.append(("follow-up", [front, to_html(_plain(c, f.answer)), link],
                          ["gm30", tag, "follow-up", DIFFICULTY_NAMES[f.difficulty].lower()]))
    return notes


def build_deck(path: str | Path) -> Path:
    """Write the Anki deck to ``path`` (.apkg) and return it."""
    import genanki

    q_model = genanki.Model(
        QUESTION_MODEL_ID, "GM30 interview question",
        fields=[{"name": n} for n in ("Question", "Answer", "QuestionZh", "AnswerZh", "Source")],
        templates=[
            {"name": "English", "qfmt": "{{Question}}",
             "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}{{Source}}"},
            {"name": "中文", "qfmt": "<div lang=\"zh-Hans\">{{QuestionZh}}</div>",
             "afmt": "{{FrontSide}}<hr id=answer><div lang=\"zh-Hans\">{{AnswerZh}}</div>{{Source}}"},
        ], css=_CSS)
    f_model = genanki.Model(
        FOLLOW_UP_MODEL_ID, "GM30 follow-up",
        fields=[{"name": n} for n in ("Question", "Answer", "Source")],
        templates=[{"name": "Follow-up", "qfmt": "{{Question}}",
                    "afmt": "{{FrontSide}}<hr id=answer>{{Answer}}{{Source}}"}], css=_CSS)
    deck = genanki.Deck(DECK_ID, "Generative Models in 30 Questions")
    for kind, fields, tags in deck_notes():
        model = q_model if kind == "question" else f_model
        guid = genanki.guid_for(kind, fields[-1], re.sub(r"<[^>]+>", "", fields[0])[:80])
        deck.add_note(genanki.Note(model=model, fields=fields, tags=tags, guid=guid))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    genanki.Package(deck).write_to_file(str(path))
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "deck":
        print("usage: python -m tools.practice deck OUT.apkg", file=sys.stderr)
        return 2
    print(build_deck(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
