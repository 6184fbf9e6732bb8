"""The book as a reader sees it: every page in a real headless Chromium, offline.

The module builds the book into a temporary folder of its own (so it never races
``make book``), serves it on 127.0.0.1 at an ephemeral port, and visits every page at a phone's
width (390 px) with Debian's ``chromium`` driven by the ``playwright`` pip package. Each test
below asserts one thing about all pages and names every page (and image, formula, element)
that fails it:

- no console errors or failed requests, and no request leaves 127.0.0.1 (MathJax and its fonts are served locally);
- every formula is typeset: no raw TeX in the text outside code, no MathJax errors, also
  with a chapter opened from disk (file://);
- every image has a meaningful alt text (not empty, not a file name or a hash);
- nothing overflows sideways at 390 px with every dropdown open;
- a chapter's follow-up dropdown opens on a click and shows its answer;
- search finds "ELBO" and "变分自编码器";
- a chapter's download menu fetches its notebook (.ipynb), and the practice page's link
  downloads the Anki deck;
- axe-core reports no serious or critical accessibility violation (beyond ``KNOWN_AXE``).

A summary of every page (timings, axe findings) is written to ``_build/browser-report.json``.
Without Chromium the tests are skipped with the install command (they fail instead when
``CI`` is set: ``.ci/run`` installs Chromium). Set ``GM30_BROWSER_HTML`` to a
built ``_build/html`` to check that folder instead of building.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tools import browser, rules

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (listed in requirements.txt)"
)
pytest.importorskip(
    "axe_playwright_python",
    reason="pip install axe-playwright-python (requirements.txt)",
)
CHROMIUM = browser.chromium_path()

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "_build" / "browser-report.json"
DROPDOWN_PAGE = "book/q01_vae_principle.html"
CODE_PAGE = "book/q19_vae_code.html"  # axe checks the contrast of highlighted code here
PRACTICE_PAGE = "book/practice.html"  # links the Anki deck
SEARCHES = {"ELBO": 3, "变分自编码器": 1}  # query -> at least this many result pages
# Serious or critical axe-core violations that are known and accepted: {rule: {page, ...}}.
# Empty: none is accepted. Minor and moderate ones are reported in REPORT, not asserted.
KNOWN_AXE: dict[str, set[str]] = {}
# A guard against a hung page or server, not a budget: building the book and visiting its ~40
# pages took 235 s alone on a 2-core machine (axe-core is three quarters of it) and over 240 s
# beside a chapter run by `make test` on the other core.
TIME_LIMIT_S = 600


def chromium() -> str:
    """The Chromium binary; skip without one, but fail in CI (CI=true), which installs it."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test. {browser.INSTALL_HINT}")
        pytest.skip(browser.INSTALL_HINT)
    return CHROMIUM


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    exe = chromium()
    t0 = time.perf_counter()
    given = os.environ.get("GM30_BROWSER_HTML")
    html = Path(given) if given else browser.build_book(tmp_path_factory.mktemp("book"))
    t_build = time.perf_counter() - t0
    report: dict = {"pages": {}}
    with (
        browser.serve(html, limit_s=TIME_LIMIT_S + 60) as base,
        sync_api.sync_playwright() as pw,
    ):
        chrome = browser.launch(pw, exe)
        try:
            page = chrome.new_page(viewport=browser.PHONE)
            page.set_default_timeout(30_000)
            for rel in browser.pages(html):
                if time.perf_counter() - t0 > TIME_LIMIT_S:
                    pytest.fail(
                        f"the browser visit took over {TIME_LIMIT_S} s (at {rel})"
                    )
                result = browser.inspect(page, base + rel)
                t_axe = time.perf_counter()
                result["axe"] = browser.axe_violations(
                    page, code_contrast=rel == CODE_PAGE
                )
                result["axe_s"] = round(time.perf_counter() - t_axe, 2)
                report["pages"][rel] = result
            # the same chapter opened from disk (file://), as a reader of a local build would
            disk = html.resolve().as_uri() + "/" + DROPDOWN_PAGE
            report["from_disk"] = browser.inspect(page, disk)
            report["dropdown"] = browser.open_dropdown(page, base + DROPDOWN_PAGE)
            report["search"] = {q: browser.search(page, base, q) for q in SEARCHES}
            report["ipynb"] = browser.notebook_download(page, base + DROPDOWN_PAGE)
            report["deck"] = browser.file_download(
                page, base + PRACTICE_PAGE, "a[download]"
            )
            desk = chrome.new_page(viewport=browser.DESKTOP)
            report["desktop_code"] = {
                rel: browser.code_cut_off(desk, base + rel, columns=rules.MAX_CODE_LINE)
                for rel in report["pages"]
                if rel.startswith("book/q")
            }
        finally:
            chrome.close()
    report["build_s"] = round(t_build, 1)
    report["browser_s"] = round(time.perf_counter() - t0 - t_build, 1)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"\nbrowser test: build {report['build_s']} s, pages {report['browser_s']} s")
    return report


def _fail_if(problems: list[str], what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:60])
        more = f"\n  ... and {len(problems) - 60} more" if len(problems) > 60 else ""
        pytest.fail(f"{len(problems)} {what}:\n  {shown}{more}", pytrace=False)


def test_every_page_was_visited(site):
    visited = set(site["pages"])
    for page in ("book/intro.html", DROPDOWN_PAGE, "book/cheatsheet.html"):
        assert page in visited, f"{page} missing from the built site"
    assert len(visited) >= 15


def test_no_console_errors(site):
    problems = [
        f"{page}: {err}"
        for page, r in site["pages"].items()
        for err in r["console_errors"] + r["broken_requests"]
    ]
    _fail_if(problems, "console errors or failed requests")


def test_offline_nothing_leaves_the_machine(site):
    problems = [
        f"{page}: requested {url}"
        for page, r in site["pages"].items()
        for url in r["external_requests"]
    ]
    _fail_if(problems, "requests to other hosts (the book must read offline)")


def test_math_is_typeset_offline(site):
    problems = []
    for page, r in site["pages"].items():
        if r["mathjax"] is not None and not r["mathjax"][:1].isdigit():
            problems.append(f"{page}: MathJax {r['mathjax']}")
        if r["untypeset"]:
            problems.append(f"{page}: {r['untypeset']} math elements were not typeset")
        for e in r["mathjax_errors"]:
            problems.append(f"{page} {e['where']}: MathJax error {e['error']!r}")
        for t in r["raw_tex"]:
            problems.append(
                f"{page} {t['where']}: raw TeX {t['tex']!r} in “{t['text']}”"
            )
    _fail_if(problems, "formulas not typeset")
    assert sum(r["math"] for r in site["pages"].values()) > 1000, (
        "too few typeset formulas"
    )


def test_math_typesets_from_disk(site):
    r = site["from_disk"]
    assert r["mathjax"] and r["mathjax"][:1].isdigit(), (
        f"MathJax from file://: {r['mathjax']}"
    )
    assert r["math"] > 100 and not r["untypeset"], r["math"]
    assert not (r["raw_tex"] or r["mathjax_errors"]), r["raw_tex"] + r["mathjax_errors"]
    problems = r["console_errors"] + r["broken_requests"] + r["external_requests"]
    assert not problems, problems


def test_images_have_meaningful_alt_text(site):
    problems = []
    for page, r in site["pages"].items():
        for img in r["images"]:
            why = browser.alt_problem(img["alt"])
            if why:
                alt = (img["alt"] or "")[:60]
                problems.append(
                    f"{page} {img['where']}: {img['src'][:24]}: {why} ({alt!r})"
                )
            elif not img["loaded"]:
                problems.append(f"{page} {img['where']}: {img['src']} did not load")
    _fail_if(problems, "images without a meaningful alt text")


def test_code_fits_its_column_on_a_laptop(site):
    # Code cells are formatted to rules.MAX_CODE_LINE columns; at 1280 px every such line
    # must show whole (book.css sets the code font size for this).
    assert len(site["desktop_code"]) >= 30, sorted(site["desktop_code"])
    problems = [
        f"{page}: a code cell with {n}-character lines scrolls sideways"
        for page, cut in site["desktop_code"].items()
        for n in cut
    ]
    _fail_if(problems, "code cells cut off at 1280 px")


def test_nothing_overflows_at_phone_width(site):
    problems = []
    for page, r in site["pages"].items():
        if r["scroll_width"] > r["inner_width"] + 1:
            culprits = "; ".join(
                f"{c['element'][:50]} {c['where']} right={c['right']} “{c['text'][:40]}”"
                for c in r["culprits"]
            )
            problems.append(
                f"{page}: {r['scroll_width']} px wide at {r['inner_width']} px: {culprits}"
            )
    _fail_if(problems, "pages that scroll sideways at 390 px")


def test_followup_dropdown_opens_and_shows_its_answer(site):
    d = site["dropdown"]
    assert not d["open_before"] and d["hidden_before"], (
        f"answer shown before the click: {d}"
    )
    assert d["open_after"], f"the dropdown did not open: {d}"
    assert d["answer_height"] > 20 and len(d["answer"]) > 40, f"empty answer: {d}"


@pytest.mark.parametrize("query", list(SEARCHES))
def test_search_finds(site, query):
    hits = site["search"][query]
    assert len(hits) >= SEARCHES[query], f"search for {query!r} found {hits}"
    assert any(h.startswith("book/q") for h in hits), f"no chapter among {hits}"


def test_chapter_downloads_as_a_notebook(site):
    d = site["ipynb"]
    assert d["label"] == ".ipynb" and d["status"] == 200, d
    assert d.get("nbformat") == 4 and d["title"].startswith("# Q1 "), d
    assert d["outputs"] > 0, f"the downloaded notebook is not the executed one: {d}"


def test_practice_page_downloads_the_anki_deck(site):
    d = site["deck"]
    assert d["name"] == "gm30-flashcards.apkg", d
    assert d["head"] == "504b0304" and d["bytes"] > 10_000, f"not an .apkg (zip): {d}"


def test_no_serious_accessibility_violations(site):
    problems = []
    for page, r in site["pages"].items():
        for v in r["axe"]:
            if v["impact"] in ("serious", "critical") and page not in KNOWN_AXE.get(
                v["rule"], set()
            ):
                problems.append(
                    f"{page}: {v['rule']} ({v['impact']}, {v['nodes']} elements: "
                    f"{v['help']}) e.g. {v['targets'][:2]}"
                )
    _fail_if(problems, "serious or critical axe-core violations")


# --------------------------------------------------------------------------------------------
# The test of the test: the same checks on a page broken on purpose must fail.

BROKEN_PAGE = r"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>broken</title>
</head><body><main id="main-content"><section id="s">
<h1>A broken page</h1>
<p>Raw inline math \(q_\phi(z\mid x)\) in prose.</p>
<p>A leftover $\sum_t x_t$ from a formula cut in two.</p>
<p><code>\(this is code, not math\)</code></p>
<img src="a.png" alt="../_images/6ebbb82349231ff218df64459e13e9ce.png">
<img src="b.png" alt="">
<img src="c.png">
<img src="d.png" alt="A line chart of the ELBO against the epoch.">
<p style="white-space: nowrap">genlib.models.linear_gaussian.LinearGaussian.a_very_long_name_indeed</p>
<script>console.error("boom");</script>
</section></main></body></html>
"""


def test_checks_catch_a_broken_page(tmp_path):
    exe = chromium()
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    with browser.serve(tmp_path, limit_s=60) as base, sync_api.sync_playwright() as pw:
        chrome = browser.launch(pw, exe)
        try:
            page = chrome.new_page(viewport=browser.PHONE)
            r = browser.inspect(page, base + "broken.html")
        finally:
            chrome.close()
    assert [t["tex"] for t in r["raw_tex"]] == ["\\(", "$\\sum_t x_t$"], r["raw_tex"]
    alts = {img["src"]: browser.alt_problem(img["alt"]) for img in r["images"]}
    assert alts == {
        "a.png": "alt text is a file path",
        "b.png": "empty alt text",
        "c.png": "no alt attribute",
        "d.png": None,
    }
    assert r["scroll_width"] > r["inner_width"] + 1 and r["culprits"], r
    assert any("boom" in e for e in r["console_errors"])
    assert (
        browser.alt_problem("6ebbb82349231ff218df64459e13e9ce") == "alt text is a hash"
    )
