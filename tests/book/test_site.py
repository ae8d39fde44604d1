"""The built site as a reader meets it: offline, in a real browser.

The pages of the strict smoke build (``book_build.smoke_build``, shared with
``test_book.py``) are scanned for resources from outside the site, then opened
in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven
through Selenium's WebDriver) with every host name unresolvable, as on a
machine without a network. On every page of the table of contents:

* the maths is typeset: each ``.math`` element holds MathJax's output
  (``mjx-container``) and no raw ``\\(``, ``\\[`` or ``$$`` is left in the text;
* every image has loaded (non-zero natural width);
* the browser logs no error and requests nothing outside the site;
* every internal link and cross-reference resolves (file and anchor).

Where Chromium cannot be had the browser tests skip and say why; in CI
(``CI=true``) they fail instead. A screenshot of one chapter is saved as
``_build/screenshots/variational_inference.png`` for a person to look at,
and one in the theme's dark mode as ``variational_inference_dark.png``: in
dark mode the figures keep a light background, and equation numbers and
glued numbers stay readable.

MathJax's menu stores a reader's choices (the accessibility explorer, the SVG
renderer) for every later page; with each choice on, the next page still
typesets every formula offline, with no failed request (issue 21, M3).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from book_build import ROOT, need, smoke_build, toc_files

__all__ = ["smoke_build"]  # a fixture, used by name

pytestmark = [pytest.mark.book, pytest.mark.slow]

SCREENSHOT_PAGE = "book/variational_inference"
SCREENSHOT = ROOT / "_build" / "screenshots" / "variational_inference.png"
DARK_SCREENSHOT = SCREENSHOT.with_name("variational_inference_dark.png")
# Tags whose src/href the browser fetches on its own (an <a href> is a link).
RESOURCE_TAGS = {"script", "link", "img", "iframe", "source", "video", "audio"}
# Sphinx's own cross-reference roles; unresolved, they render without a link.
STD_XREF = re.compile(r"\bstd-(ref|numref|doc|term)\b")


class Page(HTMLParser):
    """The ids, links, resources and dangling cross-references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.dangling: list[str] = []
        self._open_a = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids.update(a[k] for k in ("id", "name") if a.get(k))
        if tag == "a":
            self._open_a += 1
            if a.get("href"):
                self.links.append(a["href"])
        if tag in RESOURCE_TAGS:
            self.resources += [a[k] for k in ("src", "href") if a.get(k)]
        if STD_XREF.search(a.get("class") or "") and not self._open_a:
            self.dangling.append(a.get("class"))

    def handle_endtag(self, tag):
        if tag == "a" and self._open_a:
            self._open_a -= 1


@functools.cache
def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf8"))
    return page


def is_external(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip(), re.IGNORECASE))


@pytest.fixture(scope="module")
def html(smoke_build) -> Path:
    if smoke_build.returncode != 0 or not (smoke_build.html / "index.html").is_file():
        pytest.fail(f"the smoke build failed:\n{smoke_build.log[-3000:]}")
    return smoke_build.html


def test_the_site_loads_nothing_from_outside(html):
    """No page or stylesheet of the site fetches a CDN script, font or style."""
    found = []
    for path in sorted(html.rglob("*.html")):
        found += [(path.name, u) for u in parse(path).resources if is_external(u)]
    for path in sorted(html.rglob("*.css")):
        text = path.read_text(encoding="utf8", errors="replace")
        urls = re.findall(r"(?:url\(|@import)\s*['\"]?([^'\")\s;]+)", text)
        found += [(path.name, u) for u in urls if is_external(u)]
    assert not found, found[:20]
    mathjax = html / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file(), "MathJax was not copied into the site"
    page = (html / "book" / "variational_inference.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert '"macros"' in page and "mathbb{E}" in page, "the book's macros are lost"


@pytest.mark.parametrize("docname", toc_files(), ids=lambda f: Path(f).stem)
def test_internal_links_and_references_resolve(html, docname):
    source = html / f"{docname}.html"
    page = parse(source)
    assert not page.dangling, f"unresolved cross-references: {page.dangling}"
    broken = []
    for href in page.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href == "#":
            continue
        target = (
            (source.parent / unquote(parts.path)).resolve() if parts.path else source
        )
        if not target.is_file():
            broken.append(href)
        elif parts.fragment and target.suffix == ".html":
            if unquote(parts.fragment) not in parse(target).ids:
                broken.append(href)
    assert not broken, f"{docname}: links that lead nowhere: {broken}"


_need = need


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through chromedriver, with no network."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    _need(chromium is not None, "no Chromium (apt-get install chromium)")
    _need(driver_path is not None, "no chromedriver (apt-get install chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - selenium is in requirements.txt
        _need(False, "selenium is not installed (pip install -r requirements.txt)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        # No network: every host name fails to resolve, as offline (the
        # tests' own local web server on 127.0.0.1 excepted).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"}
    )
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as error:  # a browser that does not start at all
        _need(False, f"Chromium did not start: {error}")
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# MathJax is loaded with ``defer`` and starts up on its own schedule: wait
# (up to 30 s) for its startup object before waiting on its promise.
TYPESET = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function wait() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done("ok"), (e) => done("MathJax: " + e));
  } else if (Date.now() - start > 30000) {
    done("MathJax did not load");
  } else {
    setTimeout(wait, 100);
  }
})();
"""

INSPECT = """
const math = Array.from(document.querySelectorAll(".math"));
const text = document.body.cloneNode(true);
text.querySelectorAll("pre, code, script, style, .highlight, mjx-container")
    .forEach((e) => e.remove());
return {
  math: math.length,
  untypeset: math.filter((e) => !e.querySelector("mjx-container"))
                 .map((e) => e.textContent.slice(0, 80)),
  errors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
  text: text.textContent,
  images: Array.from(document.images).map((i) => [i.src, i.naturalWidth]),
};
"""


def _requests(driver) -> list[str]:
    """The URLs the page asked for, from Chromium's performance log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("docname", toc_files(), ids=lambda f: Path(f).stem)
def test_page_renders_in_a_browser(html, browser, docname):
    page = html / f"{docname}.html"
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get_log("performance")
    browser.get(page.as_uri())
    source = page.read_text(encoding="utf8")
    has_math = 'class="math' in source  # Sphinx loads MathJax only there
    if has_math:
        assert browser.execute_async_script(TYPESET) == "ok"
    seen = browser.execute_script(INSPECT)

    raw = [m for m in ("\\(", "\\)", "\\[", "\\]", "$$") if m in seen["text"]]
    assert not raw, f"raw TeX {raw} is visible in {docname}"
    assert not seen["untypeset"], f"maths left untypeset: {seen['untypeset'][:5]}"
    assert seen["errors"] == 0, "MathJax reports TeX errors"
    assert seen["math"] > 0 or not has_math
    unloaded = [src for src, width in seen["images"] if not width]
    assert not unloaded, f"images that did not load: {unloaded}"

    errors = [
        e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
    ]
    assert not errors, f"console errors on {docname}: {errors}"
    outside = [u for u in _requests(browser) if not u.startswith(("file:", "data:"))]
    assert not outside, f"{docname} asked for resources outside the site: {outside}"

    if docname == SCREENSHOT_PAGE:
        browser.execute_script(
            "const m = document.querySelector('div.math');"
            "if (m) m.scrollIntoView({block: 'center'});"
        )
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))


# The colours a reader sees in dark mode, as [r, g, b, a] (0-255, alpha 0-1).
DARK_COLOURS = """
document.documentElement.dataset.theme = "dark";
const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number).concat([1]).slice(0, 4);
const body = rgba(getComputedStyle(document.body).backgroundColor);
const look = (sel) => Array.from(document.querySelectorAll(sel)).slice(0, 20)
  .map((e) => { const s = getComputedStyle(e);
                return {colour: rgba(s.color), background: rgba(s.backgroundColor)}; });
return {body: body, images: look("article img"), eqno: look("article .eqno"),
        glued: look("article .pasted-text")};
"""


def _luminance(rgb) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_dark_mode_keeps_figures_and_numbers_readable(html, browser):
    browser.get((html / f"{SCREENSHOT_PAGE}.html").as_uri())
    assert browser.execute_async_script(TYPESET) == "ok"
    seen = browser.execute_script(DARK_COLOURS)
    body = seen["body"]
    assert _luminance(body) < 0.1, f"dark mode did not turn on: {body}"
    assert seen["images"], "no figure on the page"
    for image in seen["images"]:  # transparent PNGs need a light background
        assert image["background"][3] == 1, image
        assert _luminance(image["background"]) > 0.8, image
    assert seen["eqno"] and seen["glued"]
    for text in seen["eqno"] + seen["glued"]:
        assert _contrast(text["colour"], body) >= 4.5, text
    # a figure, its caption and the glued numbers below it
    browser.execute_script(
        "const f = document.querySelector('article figure img');"
        "if (f) f.scrollIntoView({block: 'center'});"
    )
    DARK_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(DARK_SCREENSHOT))
    browser.execute_script("localStorage.clear()")


# Each option of MathJax's menu that loads more of MathJax on the next page.
MENU_CHOICES = {
    "explorer": "lookup('explorer').setValue(true)",
    "svg": "lookup('renderer').setValue('SVG')",
    "collapsible": "lookup('collapsible').setValue(true)",
}


def _failed_requests(driver) -> list[str]:
    failed, urls = [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed":
            failed.append(urls.get(params["requestId"], params.get("errorText")))
    return failed


@pytest.fixture(scope="module")
def served(html):
    """The site served over http on 127.0.0.1 (a reader's local web server)."""
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(html), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("scheme", ["file", "http"])
@pytest.mark.parametrize("choice", list(MENU_CHOICES))
def test_a_mathjax_menu_choice_keeps_later_pages_typeset(
    html, served, browser, choice, scheme
):
    """The choice is kept in localStorage; the next page must still typeset.

    Opened from disk, the choices that need the speech rule engine are
    forgotten (``bookbuild.sphinxext.MENU_GUARD``); served, they are kept.
    """
    root = html.as_uri() if scheme == "file" else served
    browser.get(f"{root}/book/variational_inference.html")
    browser.execute_script("localStorage.clear()")
    browser.get(f"{root}/book/variational_inference.html")
    assert browser.execute_async_script(TYPESET) == "ok"
    browser.execute_script(
        "MathJax.startup.document.menu.menu.pool." + MENU_CHOICES[choice]
    )
    stored = browser.execute_script("return localStorage['MathJax-Menu-Settings']")
    assert stored, "the menu stored no setting"
    # What the choice loads on this page (on disk, the explorer fails here:
    # its rules cannot be read) settles before the next page is opened.
    time.sleep(3)
    browser.get_log("browser")
    browser.get_log("performance")
    try:
        browser.get(f"{root}/book/probabilistic_programs.html")
        assert browser.execute_async_script(TYPESET) == "ok"
        seen = browser.execute_script(INSPECT)
        failed = _failed_requests(browser)
        errors = [
            e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
        ]
        kept = browser.execute_script("return localStorage['MathJax-Menu-Settings']")
    finally:
        browser.execute_script("localStorage.clear()")
    assert not failed, f"with {choice} on, requests failed: {failed}"
    assert seen["math"] > 0 and not seen["untypeset"], seen["untypeset"][:5]
    assert seen["errors"] == 0
    assert not errors, errors
    if scheme == "http" or choice == "svg":
        assert kept == stored, "the reader's choice was not kept"
