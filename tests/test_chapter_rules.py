"""The chapter rules (CONTRIBUTING.md) on every chapter, and tests that each rule bites."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import nb as nbtools
from tools import rules

NOTEBOOKS = sorted(nbtools.BOOK.glob("q*.ipynb"))
CASES = [(path, rule) for path in NOTEBOOKS for rule in rules.RULES]


@pytest.mark.parametrize("path, rule", CASES, ids=[f"{p.stem}-{r}" for p, r in CASES])
def test_chapter_rule(path: Path, rule: str):
    nb = nbformat.read(path, as_version=4)
    problems = rules.RULES[rule](nb)
    assert not problems, f"{path.name} ({rule}): " + "; ".join(problems)


def test_notebooks_are_ruff_formatted():
    result = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", *map(str, NOTEBOOKS)],
                            capture_output=True, text=True, cwd=nbtools.ROOT)
    assert result.returncode == 0, "run `ruff format book/`:\n" + result.stdout + result.stderr


def test_glossary_in_sync():
    actual = (nbtools.BOOK / "glossary.md").read_text(encoding="utf-8")
    assert actual == rules.glossary_text(), "book/glossary.md is stale: run `python -m tools.nb glossary`"


def test_glossary_is_one_term_per_concept():
    entries = rules.glossary()
    zh = [e["zh"] for e in entries]
    assert len(set(zh)) == len(zh), "two concepts share a Chinese term"
    for e in entries:
        assert e["zh"] not in e["variants"], e
        for v in e["variants"]:
            assert v not in e["zh"], f"variant {v!r} is part of the term {e['zh']!r} itself"
    variants = [v for e in entries for v in e["variants"]]
    assert not set(variants) & set(zh), "a variant of one concept is the term of another"


# -- each rule rejects what it should ------------------------------------------------------------

ANSWER = ("## Interview answer\n\n**A VAE is a latent-variable model trained by a bound.**\n\n"
          "- one $x$\n- two\n- three\n- four\n\n### 面试回答\n\n**变分自编码器是隐变量模型。**\n\n"
          "- 一\n- 二\n- 三\n- 四\n")


def _nb(*cells):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    made = []
    for c in cells:
        made.append(md(c) if isinstance(c, str) else code(**c))
    return nbformat.v4.new_notebook(cells=[md("# Q99 · Example?\n\n原题：例子？"), *made])


def _png(width):
    return nbformat.v4.new_output("display_data", {"image/png": "iVBORw0KGgo="},
                                  metadata={"image/png": {"width": width, "height": 100}})


def _glue(name):
    return nbformat.v4.new_output("display_data", {"text/plain": "1"},
                                  metadata={"scrapbook": {"name": name}})


def test_clean_example_passes_every_rule():
    fig = {"source": "plt.plot()", "outputs": [_png(600)],
           "metadata": {"mystnb": {"image": {"alt": "A line that rises to the right."}}}}
    nb = _nb(ANSWER, fig, {"source": "glue('x', 1)", "outputs": [_glue("x")]},
             "## Claims, verified\n\nThe value {glue:text}`x:.2f` and {footcite:t}`k` show it.",
             {"source": "assert 1\nprint('all claims hold')",
              "outputs": [nbformat.v4.new_output("stream", name="stdout", text="all claims hold\n")]},
             "## Follow-up questions\n\n**1. [E] Why?**\n\n:::{dropdown} Answer\nBecause.\n:::\n\n"
             "**2. [M] How?**\n\n:::{dropdown} Answer\n```python\nx = 1\n```\n:::\n\n"
             "**3. [H] When?**\n\n:::{dropdown} Answer\nNow.\n:::",
             {"source": "x = 1\nassert x == 1", "metadata": {"tags": ["remove-cell"]}},
             "## References\n\n```{footbibliography}\n```")
    for name, rule in rules.RULES.items():
        assert rule(nb) == [], name


@pytest.mark.parametrize("answer, message", [
    (ANSWER.replace("**A VAE is a latent-variable model trained by a bound.**\n\n", ""), "headline"),
    (ANSWER.replace("- four\n", ""), "3 bullets"),
    (ANSWER.replace("- four\n", "- four\n- 5\n- 6\n- 7\n"), "7 bullets"),
    (ANSWER.replace("- 四\n", ""), "Chinese answer has 3 bullets"),
    (ANSWER.replace("- one $x$", "- " + "word " * 181), "words of prose"),
])
def test_interview_rule_rejects(answer, message):
    problems = rules.interview_problems(_nb(answer))
    assert any(message in p for p in problems), problems


def test_math_is_not_counted_as_words():
    assert rules.english_words("a $x + y = z$ b $$\\int f\\,dx = 1$$ c") == 3


def test_glossary_rule_rejects_a_variant():
    assert rules.glossary_problems(_nb(ANSWER)) == []
    problems = rules.glossary_problems(_nb(ANSWER.replace("隐变量", "潜在变量")))
    assert any("隐变量" in p for p in problems), problems


@pytest.mark.parametrize("alt, width, message", [
    ("", 600, "alt text"),
    ("../_images/abc.png", 600, "alt text"),
    ("A line that rises.", 900, "px wide"),
    ("A line that rises to the right.", None, "not a retina"),
])
def test_figure_rule_rejects(alt, width, message):
    out = _png(width)
    if width is None:
        out.metadata = {}
    nb = _nb({"source": "plt.plot()", "outputs": [out], "metadata": {"mystnb": {"image": {"alt": alt}}}})
    problems = rules.figure_problems(nb)
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("source, message", [
    ("x = 1  # " + "a" * 90, "characters"),
    ("# NBVAL_CHECK_OUTPUT\nx", "cell tag"),
])
def test_code_rule_rejects(source, message):
    problems = rules.code_problems(_nb({"source": source}))
    assert any(message in p for p in problems), problems


def test_url_lines_may_be_long():
    assert rules.code_problems(_nb({"source": "u = 'https://" + "a" * 100 + "'"})) == []


@pytest.mark.parametrize("text", ["the bound of {footcite}`k`", "So {footcite}`k` use it",
                                  "as shown in {footcite}`k`", "an idea that {footcite}`k` had"])
def test_citation_rule_rejects(text):
    assert rules.citation_problems(_nb(text))


@pytest.mark.parametrize("text, message", [
    ("- a bullet.\nThe next paragraph, glued to it.", "renders inside the bullet"),
    ("A sum $a\n+ b$ broken before the plus.", "inline formula breaks"),
    ("- in a list: $x\n  - y$ broken before the minus.", "inline formula breaks"),
])
def test_markdown_rule_rejects(text, message):
    problems = rules.markdown_problems(_nb(text))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("text", [
    "- a bullet that goes on\n  on an indented line.\n\nA new paragraph.",
    "- a bullet whose line wraps\nlazily in lower case.",
    "A sum $a +\nb$ broken after the plus, and $\\$5$ escaped.\n- a list after it",
    "```python\n- not markdown\nX = 1\n```",
])
def test_markdown_rule_accepts(text):
    assert rules.markdown_problems(_nb(text)) == []


def test_glue_rule_rejects_unused_and_missing():
    nb = _nb({"source": "glue('a', 1)", "outputs": [_glue("a")]}, "text {glue:text}`b:.1f`")
    problems = rules.glue_problems(nb)
    assert any("never used in the text: a" in p for p in problems), problems
    assert any("never glued: b" in p for p in problems), problems


def test_claims_rule_rejects():
    assert rules.claims_problems(_nb("## Claims, verified", {"source": "x = 1"}))
    no_print = _nb("## Claims, verified", {"source": "assert True"})
    assert "all claims hold" in rules.claims_problems(no_print)[0]


def test_follow_up_rule_rejects():
    untagged = _nb("## Follow-up questions\n\n**1. Why?**\n\n**2. [E] How?**\n\n**3. [M] When?**")
    assert any("difficulty tag" in p for p in rules.follow_up_problems(untagged))
    unexecuted = _nb("## Follow-up questions\n\n**1. [E] a**\n\n**2. [E] b**\n\n**3. [E] c**\n\n"
                     ":::{dropdown} Solution\n```python\nx = 1\n```\n:::")
    assert any("execute them" in p for p in rules.follow_up_problems(unexecuted))
    two_lines = _nb("## Follow-up questions\n\n**1. [E] a**\n\n**2. a question that\nruns on?**\n\n"
                    "**3. [M] c**")
    assert [n for n, _, _ in rules.follow_ups(two_lines)] == [1, 2, 3]
    assert any("follow-up 2 lacks" in p for p in rules.follow_up_problems(two_lines))
    too_few = _nb("## Follow-up questions\n\n**1. [E] a**")
    assert any("1 follow-up" in p for p in rules.follow_up_problems(too_few))


def test_rules_do_not_mutate_the_notebook():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    before = copy.deepcopy(nb)
    for rule in rules.RULES.values():
        rule(nb)
    assert nb == before
