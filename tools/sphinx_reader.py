"""Sphinx extension: fixes on the reader's side of the HTML, made at build time.

1. Chinese passages get ``lang="zh-Hans"``. The pages are ``lang="en"``; without a language tag a screen reader reads the 面试回答 sections
with English rules and a browser may pick a Japanese glyph variant. At build time (no script),
this extension adds the class ``language-zh-Hans`` that docutils' HTML writer turns into a
``lang`` attribute:

- on a block (paragraph, heading, term, caption) whose text is mostly Chinese, and
- on each run of Chinese characters inside an English block (an inline ``<span>``),

never inside code or math.

2. An inline script added twice to a page is written once. sphinx-thebe's configuration
   (``const THEBE_JS_URL = ...``) appears twice in every page of this Jupyter Book stack, and
   the second copy throws "Identifier 'THEBE_JS_URL' has already been declared" in the console.

It is loaded by ``_config.yml`` (``sphinx.local_extensions``).
"""

from __future__ import annotations

import re

from docutils import nodes

LANG_CLASS = "language-zh-Hans"

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef\u2018\u2019\u201c\u201d\u00b7"
HAN = re.compile(f"[{_HAN}]")
LATIN = re.compile(r"[A-Za-z]")
# A run of Chinese: starts and ends with a Han character or Chinese punctuation, and may hold
# spaces, digits and Chinese punctuation in between (e.g. "隐空间（latent）" stays two runs).
RUN = re.compile(f"[{_HAN}](?:[{_HAN}{_CJK_PUNCT}0-9 ]*[{_HAN}{_CJK_PUNCT}])?")

BLOCKS = (
    nodes.paragraph,
    nodes.title,
    nodes.term,
    nodes.caption,
    nodes.rubric,
    nodes.line,
)
# text under these is left alone: code, math, raw HTML, and what is already marked
SKIP = (
    nodes.literal,
    nodes.literal_block,
    nodes.math,
    nodes.math_block,
    nodes.raw,
    nodes.comment,
    nodes.system_message,
)


def _prose(node: nodes.Node) -> str:
    """The text of ``node`` without its code and math."""
    parts = []
    for text in node.findall(nodes.Text):
        if not _skipped(text, stop=node):
            parts.append(str(text))
    return "".join(parts)


def _skipped(text: nodes.Node, stop: nodes.Node | None = None) -> bool:
    parent = text.parent
    while parent is not None and parent is not stop:
        if isinstance(parent, SKIP):
            return True
        parent = parent.parent
    return isinstance(stop, SKIP)


def mostly_chinese(text: str) -> bool:
    """True when Han characters outnumber words written in Latin letters.

    A Chinese character is about a word; an English word is about five letters.
    """
    han = len(HAN.findall(text))
    return han > 0 and han >= len(LATIN.findall(text)) / 5


def _marked(node: nodes.Node) -> bool:
    while node is not None:
        if LANG_CLASS in getattr(node, "get", lambda *_: [])("classes", []):
            return True
        node = node.parent
    return False


def mark_chinese(doctree: nodes.document) -> int:
    """Mark Chinese blocks and inline runs in ``doctree``; return how many were marked."""
    count = 0
    for block in list(doctree.findall(lambda n: isinstance(n, BLOCKS))):
        if _marked(block) or isinstance(block.parent, SKIP):
            continue
        if mostly_chinese(_prose(block)):
            block["classes"].append(LANG_CLASS)
            count += 1
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or _skipped(text) or _marked(parent):
            continue
        value = str(text)
        if not HAN.search(value):
            continue
        pieces: list[nodes.Node] = []
        last = 0
        for m in RUN.finditer(value):
            if m.start() > last:
                pieces.append(nodes.Text(value[last : m.start()]))
            pieces.append(nodes.inline(m.group(), m.group(), classes=[LANG_CLASS]))
            last = m.end()
            count += 1
        if last < len(value):
            pieces.append(nodes.Text(value[last:]))
        parent.replace(text, pieces)
    return count


def _on_doctree_resolved(app, doctree, docname):
    if app.builder.format == "html":
        mark_chinese(doctree)


def _js_key(js) -> tuple:
    attributes = getattr(js, "attributes", {}) or {}
    return (
        str(
            getattr(js, "filename", js) or ""
        ),  # the same script comes as None and as ""
        getattr(js, "priority", 0),
        tuple(sorted((k, str(v)) for k, v in attributes.items())),
    )


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = _js_key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("doctree-resolved", _on_doctree_resolved)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
