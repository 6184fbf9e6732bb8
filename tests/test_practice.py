"""The practice page and the Anki deck are generated from the chapters and stay in sync."""

from __future__ import annotations

import re
import sqlite3
import zipfile

import pytest

from tools import nb as nbtools
from tools import practice

CHAPTERS = practice.chapters()
N_FOLLOW_UPS = sum(len(c.follow_ups) for c in CHAPTERS)


def test_practice_page_is_in_sync():
    page = (nbtools.BOOK / "practice.md").read_text(encoding="utf-8")
    assert page == practice.practice_text(), "run `python -m tools.nb practice`"


def test_practice_page_is_in_the_toc():
    assert "book/practice" in nbtools.toc_chapters()


def test_every_question_and_follow_up_is_on_the_page_under_its_difficulty():
    page = practice.practice_text()
    sections = re.split(r"^## ", page, flags=re.MULTILINE)
    by_name = {s.split("\n", 1)[0]: s for s in sections}
    for c in CHAPTERS:
        assert f"**{c.title}**" in by_name["The interview questions"]
        for f in c.follow_ups:
            name = practice.DIFFICULTY_NAMES[f.difficulty]
            (section,) = [s for k, s in by_name.items() if k.startswith(f"{name} follow-ups")]
            assert f"**{c.number}.{f.number}** " in section, (c.stem, f.number)
    assert page.count("::::{dropdown}") == len(CHAPTERS) + N_FOLLOW_UPS  # every answer hidden


def test_glued_values_point_at_their_chapter():
    page = practice.practice_text()
    assert "{glue:md}" not in page  # myst-nb cannot paste markdown from another page: inlined
    for m in re.finditer(r"\{glue(?::[a-z]+)?\}`([^`]+)`", page):
        doc, sep, key = m.group(1).partition("::")
        assert sep and (nbtools.BOOK / doc).exists(), m.group(0)


def test_follow_ups_are_parsed_with_their_answers():
    assert N_FOLLOW_UPS >= 3 * len(CHAPTERS)
    for c in CHAPTERS:
        assert [f.number for f in c.follow_ups] == list(range(1, len(c.follow_ups) + 1)), c.stem
        for f in c.follow_ups:
            assert f.difficulty in "EMH" and f.question and len(f.answer) > 40, (c.stem, f.number)
            assert ":::" not in f.answer.splitlines()[0], (c.stem, f.number)


def test_to_html_keeps_math_for_anki_and_renders_markdown():
    out = practice.to_html("**bold** and $a<b$, then\n\n$$x^2$$\n\n```python\nx = 1\n```")
    assert "<strong>bold</strong>" in out
    assert r"\(a&lt;b\)" in out and r"\[x^2\]" in out
    assert "<code" in out and "x = 1" in out


def test_plain_fills_glue_and_citations():
    c = next(c for c in CHAPTERS if c.glue)
    key, value = next(iter(c.glue.items()))
    assert practice._plain(c, f"{{glue:text}}`{key}`") == value.strip("'")
    assert practice._plain(c, "{footcite:t}`kingma2014vae`") == "Kingma and Welling (2014)"
    assert practice._plain(c, "as shown{footcite}`kingma2014vae`.") == (
        "as shown (Kingma and Welling 2014)."
    )
    assert practice.chapter_url(c).startswith("https://gm30-book.github.io/")
    with pytest.raises(ValueError, match="not found"):
        practice._plain(c, "{glue:text}`no_such_key_anywhere`")


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    path = practice.build_deck(tmp_path_factory.mktemp("deck") / practice.DECK_FILE)
    with zipfile.ZipFile(path) as z:
        db = tmp_path_factory.mktemp("db") / "collection.anki2"
        db.write_bytes(z.read("collection.anki2"))
    con = sqlite3.connect(db)
    notes = [row[0].split("\x1f") for row in con.execute("select flds from notes")]
    n_cards = con.execute("select count(*) from cards").fetchone()[0]
    con.close()
    return notes, n_cards


def test_deck_has_one_note_per_question_and_follow_up(deck):
    notes, n_cards = deck
    assert len(notes) == len(CHAPTERS) + N_FOLLOW_UPS
    assert n_cards == 2 * len(CHAPTERS) + N_FOLLOW_UPS  # questions: an English and a 中文 card


def test_every_card_links_back_to_its_chapter(deck):
    notes, _ = deck
    urls = {practice.chapter_url(c) for c in CHAPTERS}
    for fields in notes:
        (link,) = re.findall(r'href="([^"]+)"', fields[-1])
        assert link in urls


def test_deck_fields_hold_no_unrendered_markup(deck):
    notes, _ = deck
    for fields in notes:
        for text in fields:
            for raw in ("{glue", "{footcite", "{doc}", ":::", "$$"):
                assert raw not in text, (raw, fields[0][:80])
            outside_code = re.sub(r"<code[^>]*>.*?</code>", "", text, flags=re.DOTALL)
            assert "$" not in outside_code, fields[0][:80]


def test_chinese_cards_carry_the_chinese_answer(deck):
    notes, _ = deck
    questions = [f for f in notes if len(f) == 5]
    assert len(questions) == len(CHAPTERS)
    for fields in questions:
        assert re.search(r"[\u4e00-\u9fff]", fields[2]) and re.search(r"[\u4e00-\u9fff]", fields[3])
