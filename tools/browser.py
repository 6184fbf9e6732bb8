"""Look at the built book the way a reader's browser shows it (used by tests/test_browser.py).

- ``build_book(out)``: builds the HTML into a folder of its own (never ``_build/html``, so it
  cannot race ``make book``) and returns the ``html`` folder.
- ``serve(folder)``: serves a folder on 127.0.0.1 at an ephemeral port, in a thread that is
  stopped at the end (and after ``limit_s`` at the latest).
- ``launch(playwright)``: Debian's ``chromium``, driven by the ``playwright`` pip package through
  its executable path (playwright's own browser download is not used).
- ``inspect(page, url)``: loads a page, waits for MathJax, and returns what the checks need:
  console errors, failed requests, requests that left 127.0.0.1, raw TeX left in the text, MathJax errors,
  every image's alt text, and what sticks out sideways at the current width.
- ``open_dropdown(page, url)``: opens a chapter's first follow-up answer by clicking it.
- ``search(page, base, query)``: the links the book's search page finds for ``query``.
- ``alt_problem(alt)``: why an alt text is not meaningful (``None`` when it is).
- ``axe_violations(page)``: what axe-core (pip ``axe-playwright-python``) finds on the page.

Run by hand (after ``make book``)::

    .venv/bin/python -m tools.browser _build/html      # prints a JSON report of every page
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}  # a laptop window (the code column is 684 px)
INSTALL_HINT = (
    "Debian's chromium is needed for the browser test: "
    "`apt-get install -y chromium fonts-noto-cjk` (as root; .ci/run does this), "
    "or point $CHROMIUM at a Chromium binary."
)


def chromium_path() -> str | None:
    """The Chromium binary: $CHROMIUM, else ``chromium`` on the PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def build_book(out: Path, *, timeout: float = 600) -> Path:
    """Build the book into ``out/_build/html`` (not -W: ``make book`` checks warnings)."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(jb),
        "build",
        str(ROOT),
        "--path-output",
        str(out),
        "-n",
        "--keep-going",
        "-q",
    ]
    proc = subprocess.run(
        cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    html = out / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").exists():
        raise RuntimeError(
            f"book build failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log on stderr
        pass


@contextlib.contextmanager
def serve(folder: Path, *, limit_s: float = 600):
    """Serve ``folder`` on 127.0.0.1 (ephemeral port); yields the base URL ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    watchdog = threading.Timer(limit_s, server.shutdown)  # never outlives a stuck test
    watchdog.daemon = True
    watchdog.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def launch(playwright, executable: str):
    return playwright.chromium.launch(
        executable_path=executable,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            # offline, as a reader without network: no name resolves except the local server
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ],
    )


def pages(html: Path) -> list[str]:
    """Every content page of the site, relative to ``html`` (not the redirect, index, search)."""
    skip = {"index.html", "search.html", "genindex.html", "py-modindex.html"}
    found = [p.relative_to(html).as_posix() for p in sorted(html.rglob("*.html"))]
    return [
        p
        for p in found
        if p not in skip and not p.startswith(("_static/", "_sources/", "_images/"))
    ]


# --------------------------------------------------------------------------------------------
# What a page shows (one evaluate call per step, run in the page)

_WAIT_MATH = """
async () => {
  const script = document.querySelector('script[src*="mathjax" i]');
  if (!script) return {mathjax: null};
  if (new URL(script.src).host !== location.host && location.protocol !== 'file:')
    return {mathjax: 'loaded from another host: ' + script.src};  // offline it never starts
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - t0 > 30000) return {mathjax: 'did not start within 30 s'};
    await new Promise(r => setTimeout(r, 25));
  }
  await MathJax.startup.promise;
  return {mathjax: MathJax.version};
}
"""

# Text that is still TeX after typesetting, outside code and outside typeset math.
_INSPECT = r"""
() => {
  const root = document.querySelector('#main-content') || document.body;
  const SKIP = 'pre, code, kbd, samp, script, style, textarea, mjx-container, .highlight';
  const TEX = /\\[()\[\]]|\$\$|\\[A-Za-z]{2,}|\$[^$\s][^$]{0,200}\$/;
  const where = (el) => {
    const sec = el.closest('section[id]');
    return sec ? '#' + sec.id : '';
  };
  // 1. raw TeX: text of each element outside code and math, joined (a formula may span nodes)
  const raw = [];
  const seen = new Set();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(SKIP) || seen.has(el)) continue;
    seen.add(el);
    let text = '';
    for (const c of el.childNodes) {
      if (c.nodeType === 3) text += c.data;
      else if (c.nodeType === 1 && !c.matches(SKIP)) text += ' ';
    }
    const m = text.match(TEX);
    if (m) {
      const i = Math.max(0, m.index - 40);
      raw.push({where: where(el), tex: m[0].slice(0, 40),
                text: text.slice(i, m.index + 60).replace(/\s+/g, ' ').trim()});
    }
  }
  // 2. MathJax's own errors (TeX it could not parse)
  const merror = [...root.querySelectorAll('mjx-merror')].map(e => ({
    where: where(e), error: e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80)}));
  const pending = [...root.querySelectorAll('.math')].filter(
    e => !e.querySelector('mjx-container') && !e.closest('mjx-container')).length;
  // 3. images
  const images = [...document.images].map(img => ({
    src: (img.getAttribute('src') || '').split('/').pop(),
    alt: img.getAttribute('alt'), where: where(img),
    loaded: img.complete && img.naturalWidth > 0}));
  return {raw_tex: raw, mathjax_errors: merror, untypeset: pending, images,
          math: root.querySelectorAll('mjx-container').length};
}
"""

# With every dropdown open: how wide is the page, and what sticks out of the viewport?
_OVERFLOW = r"""
async () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const iw = window.innerWidth, sw = document.scrollingElement.scrollWidth;
  const clips = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o !== 'visible') return true;
    }
    return false;
  };
  const culprits = [];
  if (sw > iw + 1) {
    // elements whose box or content reaches past the viewport, outside any scroll box
    const over = [];
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0) continue;
      const own = getComputedStyle(el).overflowX === 'visible';  // else it scrolls itself
      const right = r.left + (own ? Math.max(r.width, el.scrollWidth) : r.width);
      if (right > iw + 1 && !clips(el)) over.push([el, right]);
    }
    // report the innermost ones (those that hold no other overflowing element)
    const set = new Set(over.map(([el]) => el));
    for (const [el, right] of over) {
      if ([...el.querySelectorAll('*')].some(c => set.has(c))) continue;
      const sec = el.closest('section[id]');
      culprits.push({element: el.tagName.toLowerCase() +
                       (el.className && typeof el.className === 'string'
                        ? '.' + el.className.trim().split(/\s+/).join('.') : ''),
                     where: sec ? '#' + sec.id : '', right: Math.round(right),
                     text: (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 80)});
      if (culprits.length >= 5) break;
    }
  }
  return {inner_width: iw, scroll_width: sw, culprits};
}
"""


def inspect(page, url: str, *, timeout_ms: int = 30_000) -> dict:
    """Load ``url`` in ``page`` and report what a reader sees (see the module docstring)."""
    errors: list[str] = []
    external: list[str] = []
    broken: list[str] = []

    def on_console(msg):
        if msg.type == "error":
            errors.append(msg.text)

    def on_pageerror(exc):
        errors.append(f"uncaught: {exc}")

    def on_request(request):
        local = ("http://127.0.0.1", "file:", "data:", "blob:", "about:")
        if not request.url.startswith(local):
            external.append(request.url)  # the book must read offline

    def on_response(response):
        if response.status >= 400:
            broken.append(f"{response.status} {response.url}")

    def on_failed(request):
        broken.append(f"failed {request.url}: {request.failure}")

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("request", on_request)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="load", timeout=timeout_ms)
        result = page.evaluate(_WAIT_MATH)
        result.update(page.evaluate(_INSPECT))
        result.update(page.evaluate(_OVERFLOW))
        result["load_s"] = round(time.perf_counter() - t0, 2)
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_pageerror)
        page.remove_listener("request", on_request)
        page.remove_listener("response", on_response)
        page.remove_listener("requestfailed", on_failed)
    result["console_errors"] = errors
    result["external_requests"] = external
    result["broken_requests"] = broken
    return result


def open_dropdown(page, url: str, *, section: str = "follow-up-questions") -> dict:
    """Click the first follow-up dropdown of ``url`` as a reader would; report what it shows."""
    page.goto(url, wait_until="load")
    page.evaluate(_WAIT_MATH)
    details = page.locator(f"section#{section} details.sd-dropdown").first
    summary = details.locator("summary")
    body = details.locator(".sd-summary-content")
    was_open = details.evaluate("d => d.open")
    hidden_before = not body.is_visible()
    summary.click()
    body.wait_for(state="visible", timeout=5_000)
    box = body.bounding_box() or {"height": 0}
    return {
        "question": summary.inner_text().strip()[:120],
        "open_before": was_open,
        "hidden_before": hidden_before,
        "open_after": details.evaluate("d => d.open"),
        "answer": body.inner_text().strip()[:300],
        "answer_height": box["height"],
        "answer_math": body.locator("mjx-container").count(),
    }


_CODE_WIDTHS = """() => Array.from(document.querySelectorAll('.bd-article .cell_input div.highlight pre'))
  .map(p => [Math.max(0, ...p.innerText.split('\\n').map(l => l.length)),
             p.scrollWidth > p.clientWidth + 1])"""


def code_cut_off(page, url: str, *, columns: int) -> list[int]:
    """Longest-line lengths of the code cells on ``url`` that fit ``columns`` characters yet
    scroll sideways at the page's viewport (their line ends hide behind a scrollbar)."""
    page.goto(url, wait_until="load")
    return [n for n, scrolls in page.evaluate(_CODE_WIDTHS) if scrolls and 0 < n <= columns]


def notebook_download(page, url: str) -> dict:
    """Open the page's download menu as a reader would and fetch its ``.ipynb`` entry."""
    page.goto(url, wait_until="load")
    page.locator(".dropdown-download-buttons button.dropdown-toggle").click()
    link = page.locator(".dropdown-download-buttons a.btn-download-source-button")
    link.wait_for(state="visible", timeout=5_000)
    href = link.evaluate("a => a.href")  # absolute
    response = page.request.get(href)
    out = {"href": href, "label": link.inner_text().strip(), "status": response.status}
    try:
        nb = json.loads(response.body())
        out["nbformat"] = nb.get("nbformat")
        out["title"] = "".join(nb["cells"][0]["source"]).splitlines()[0]
        out["outputs"] = sum(len(c.get("outputs", [])) for c in nb["cells"])
    except (ValueError, KeyError, IndexError) as err:
        out["error"] = repr(err)
    return out


def file_download(page, url: str, selector: str) -> dict:
    """Click the link ``selector`` on ``url`` and report the file the browser downloads."""
    page.goto(url, wait_until="load")
    link = page.locator(selector).first
    with page.expect_download(timeout=10_000) as info:
        link.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    return {"name": download.suggested_filename, "bytes": len(data), "head": data[:4].hex(),
            "text": link.inner_text().strip()}


def search(page, base: str, query: str, *, timeout_ms: int = 20_000) -> list[str]:
    """The result links the book's search page lists for ``query``."""
    from urllib.parse import quote

    page.goto(f"{base}search.html?q={quote(query)}", wait_until="load")
    page.wait_for_function(
        "() => { const s = document.querySelector('#search-results p.search-summary');"
        " return s && s.textContent.trim().length > 0; }",
        timeout=timeout_ms,
    )
    return page.eval_on_selector_all(
        "#search-results ul.search li > a",
        "els => els.map(a => a.getAttribute('href'))",
    )


_HASH = re.compile(r"^[0-9a-f]{12,}$", re.IGNORECASE)
_FILE = re.compile(r"\.(png|jpe?g|svg|gif|webp)\b|^\.{0,2}/|_images/", re.IGNORECASE)


def alt_problem(alt: str | None) -> str | None:
    """Why ``alt`` is not a meaningful alt text, or None when it is."""
    if alt is None:
        return "no alt attribute"
    text = alt.strip()
    if not text:
        return "empty alt text"
    if _FILE.search(text) or "/" in text:
        return "alt text is a file path"
    stem = re.sub(r"\.\w+$", "", text)
    if _HASH.match(stem) or _HASH.match(stem.replace("-", "")):
        return "alt text is a hash"
    if len(text.split()) < 2:
        return "alt text is a single word"
    return None


def axe_violations(page, *, code_contrast: bool = False) -> list[dict]:
    """axe-core's violations on the loaded page: rule id, impact, node count, first targets.

    Colour contrast is the slow rule (about 4 s a chapter, most of it in the thousands of
    highlighted code tokens). Code is coloured by the same theme on every page, so the contrast
    of code is checked where ``code_contrast`` is true (one chapter) and skipped elsewhere.
    """
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    # preload off: axe would fetch the theme's @import "../basic.css" from the wrong folder
    base = {"resultTypes": ["violations"], "preload": False}
    found = axe.run(
        page, options={**base, "rules": {"color-contrast": {"enabled": False}}}
    ).response.get("violations", [])
    context = None if code_contrast else {"exclude": [[".highlight"]]}
    found += axe.run(
        page, context=context, options={**base, "runOnly": ["color-contrast"]}
    ).response.get("violations", [])
    return [
        {
            "rule": v["id"],
            "impact": v.get("impact"),
            "nodes": len(v["nodes"]),
            "help": v.get("help"),
            "targets": [
                " ".join(map(str, n.get("target", []))) for n in v["nodes"][:3]
            ],
        }
        for v in found
    ]


def _main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    html = Path(argv[0] if argv else ROOT / "_build" / "html").resolve()
    exe = chromium_path()
    if exe is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    report = {}
    with serve(html) as base, sync_playwright() as pw:
        browser = launch(pw, exe)
        page = browser.new_page(viewport=PHONE)
        for rel in pages(html):
            report[rel] = inspect(page, base + rel)
            report[rel]["axe"] = axe_violations(
                page, code_contrast=rel.endswith("q19_vae_code.html")
            )
        browser.close()
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
