"""Sphinx extension: the Anki deck of ``tools/practice.py``, written into the HTML output.

After an HTML build, ``downloads/gm30-flashcards.apkg`` holds every interview question and
follow-up of the book as flashcards (the practice page links to it). Loaded by ``_config.yml``
(``sphinx.local_extensions``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _write_deck(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tools import practice

    practice.build_deck(Path(app.outdir) / practice.DECK_DIR / practice.DECK_FILE)


def setup(app):
    app.connect("build-finished", _write_deck)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
