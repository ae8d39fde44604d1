"""The whole book as one PDF, printed offline from the built HTML (build plumbing).

``python -m bayesdl pdf`` (after ``jupyter-book build .``) writes
``_build/pdf/book.pdf``:

1. every page of the table of contents, in order, is opened in headless
   Chromium (Debian's ``chromium`` and ``chromium-driver``, through
   Selenium) with no network, the maths typeset by the site's own MathJax,
   every image loaded, solutions and dropdowns opened, and a print style
   that wraps long code lines; Chromium's DevTools ``Page.printToPDF``
   prints it, keeping the page's headings as PDF bookmarks;
2. a title page and a table of contents (each chapter's first page) are
   printed the same way from a page made here;
3. :mod:`pypdf` merges them, stamps the book's page numbers in the footer
   (from one more printed page of numbers) and adds bookmarks: one per part,
   one per chapter, with the chapter's sections below.

Jupyter Book's own ``pdfhtml`` builder downloads a browser at run time, and
Sphinx's ``singlehtml`` builder cannot write myst-nb's hidden cells; printing
the pages the reader already has needs neither a network nor a new build, and
the PDF shows exactly what the site shows.

Example::

    >>> build_pdf(Path("_build/html"))  # doctest: +SKIP
    PosixPath('_build/pdf/book.pdf')
"""

from __future__ import annotations

import base64
import html as htmllib
import io
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A4, in inches, and the margins Chromium leaves around each page.
PAPER = {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True}
MARGINS = {"marginTop": 0.6, "marginBottom": 0.7, "marginLeft": 0.6, "marginRight": 0.6}

#: The print style added to every page: no navigation, code that wraps,
#: figures that fit, and light colours whatever the reader chose on screen.
PRINT_CSS = """
@page { size: A4; }
html, body { background: #fff !important; }
.bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary,
.prev-next-area, .bd-footer, .bd-footer-article, .bd-footer-content, .skip-link,
#pst-back-to-top, .headerlink, .toggle-button { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article, .bd-page-width
  { max-width: 100% !important; width: 100% !important;
    padding: 0 !important; margin: 0 !important; }
pre, pre code, .highlight pre, .cell_output pre, div.output pre
  { white-space: pre-wrap !important; overflow-wrap: anywhere !important;
    word-break: break-word !important; overflow: visible !important;
    max-height: none !important; font-size: 8pt !important; }
div.cell_output, div.output, .highlight { overflow: visible !important; }
img { max-width: 100% !important; height: auto !important;
      break-inside: avoid; page-break-inside: avoid; }
figure, .cell_output img { break-inside: avoid; }
mjx-container[display="true"] { overflow: visible !important; }
table { font-size: 8pt; }
h1, h2, h3 { break-after: avoid; }
.toggle-hidden, .dropdown > *:not(.admonition-title)
  { display: block !important; visibility: visible !important;
    opacity: 1 !important; height: auto !important; }
"""

#: Runs in the page before printing: light mode, solutions and dropdowns open.
PREPARE = """
document.documentElement.dataset.theme = document.documentElement.dataset.mode = "light";
document.head.insertAdjacentHTML("beforeend", "<style>" + arguments[0] + "</style>");
document.querySelectorAll("details.dropdown").forEach((d) => { d.open = true; });
document.querySelectorAll(".toggle-hidden").forEach((e) => e.classList.remove("toggle-hidden"));
document.querySelectorAll("img[loading]").forEach((i) => { i.loading = "eager"; });
"""

#: Waits for MathJax (when the page loads it), the fonts and every image.
READY = """
const done = arguments[arguments.length - 1];
const start = Date.now();
function images() {
  return Promise.all(Array.from(document.images).map((i) => i.complete ? 0 :
    new Promise((r) => { i.onload = i.onerror = r; })));
}
(function wait() {
  const hasMath = document.querySelector(".math") !== null;
  if (!hasMath || (window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    const math = hasMath ? MathJax.startup.promise : Promise.resolve();
    math.then(() => document.fonts.ready).then(images)
      .then(() => done("ok"), (e) => done("error: " + e));
  } else if (Date.now() - start > 60000) {
    done("MathJax did not load");
  } else {
    setTimeout(wait, 100);
  }
})();
"""


class PDFError(RuntimeError):
    """The PDF could not be made (no browser, a page that did not render)."""


@dataclass(frozen=True)
class Entry:
    """One page of the book: its file, title and the part it belongs to."""

    path: Path
    title: str
    part: str


def contents(html: Path) -> list[Entry]:
    """Every page of the table of contents, in order, from the site's sidebar.

    Example::

        >>> [e.title for e in contents(Path("_build/html"))][:1]  # doctest: +SKIP
        ['Introduction']
    """
    from bs4 import BeautifulSoup

    root = _root_page(html)
    soup = BeautifulSoup(root.read_text(encoding="utf8"), "html.parser")
    nav = soup.select_one("nav.bd-links") or soup.select_one(".bd-sidebar-primary")
    if nav is None:
        raise PDFError(f"{root} has no table of contents in its sidebar")
    h1 = soup.select_one("article h1")
    title = h1.get_text(" ", strip=True).rstrip("#").strip() if h1 else root.stem
    entries = [Entry(root, title, "")]
    part = ""
    for tag in nav.find_all(["p", "a"]):
        if tag.name == "p" and "caption" in (tag.get("class") or []):
            part = tag.get_text(" ", strip=True)
        elif tag.name == "a" and "reference" in (tag.get("class") or []):
            href = (tag.get("href") or "").split("#")[0]
            if not href or "://" in href:
                continue
            path = (root.parent / href).resolve()
            if path.is_file() and path not in [e.path for e in entries]:
                entries.append(Entry(path, " ".join(tag.get_text().split()), part))
    return entries


def _root_page(html: Path) -> Path:
    """The book's first page (``index.html`` redirects to it)."""
    index = html / "index.html"
    if not index.is_file():
        raise PDFError(
            f"no built book at {html} (build it first: jupyter-book build .)"
        )
    text = index.read_text(encoding="utf8")
    found = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', text, re.I)
    return (html / found[1]).resolve() if found else index.resolve()


def browser() -> Any:
    """Headless Chromium through chromedriver, with every host unresolvable."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        raise PDFError(
            "the PDF is printed by Chromium: install it with "
            "`apt-get install chromium chromium-driver` (Debian)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("headless=new", "no-sandbox", "disable-gpu", "disable-dev-shm-usage"):
        options.add_argument(f"--{flag}")
    # no network: every host name fails to resolve
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND")
    options.add_argument("--window-size=1100,1400")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    return driver


def _print(driver: Any, url: str) -> bytes:
    driver.get(url)
    state = driver.execute_async_script(READY)
    if state != "ok":
        raise PDFError(f"{url}: {state}")
    driver.execute_script(PREPARE, PRINT_CSS)
    driver.execute_async_script(READY)
    result = driver.execute_cdp_cmd(
        "Page.printToPDF",
        {**PAPER, **MARGINS, "generateDocumentOutline": True},
    )
    return base64.b64decode(result["data"])


def _front_matter(
    title: str, author: str, entries: list[Entry], starts: list[int]
) -> str:
    rows, part = [], None
    for entry, start in zip(entries, starts, strict=True):
        if entry.part and entry.part != part:
            part = entry.part
            rows.append(
                f'<tr class="part"><td colspan="2">{htmllib.escape(part)}</td></tr>'
            )
        rows.append(
            f"<tr><td>{htmllib.escape(entry.title)}</td>"
            f'<td class="num">{start}</td></tr>'
        )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body {{ font-family: sans-serif; color: #222; }}
.title {{ height: 9.5in; display: flex; flex-direction: column;
          justify-content: center; text-align: center; break-after: page; }}
.title h1 {{ font-size: 30pt; margin: 0 0 0.3in; }}
.title p {{ font-size: 14pt; color: #555; }}
h2 {{ font-size: 18pt; }}
table {{ width: 100%; border-collapse: collapse; font-size: 12pt; }}
td {{ padding: 4pt 0; border-bottom: 1px dotted #bbb; }}
td.num {{ text-align: right; width: 1in; }}
tr.part td {{ font-weight: bold; padding-top: 14pt; border: none; }}
</style></head><body>
<div class="title"><h1>{htmllib.escape(title)}</h1>
<p>{htmllib.escape(author)}</p></div>
<h2>Contents</h2><table>{"".join(rows)}</table></body></html>"""


def _numbers_page(first: int, count: int) -> str:
    pages = "".join(
        f'<div class="p"><span>{n}</span></div>' for n in range(first, first + count)
    )
    return f"""<!DOCTYPE html><html><head><style>
@page {{ size: A4; margin: 0; }}
body {{ margin: 0; }}
.p {{ height: 11.69in; position: relative; break-after: page; overflow: hidden; }}
.p span {{ position: absolute; bottom: 0.3in; width: 100%; text-align: center;
          font: 9pt sans-serif; color: #444; }}
</style></head><body>{pages}</body></html>"""


def _print_html(driver: Any, folder: Path, name: str, text: str) -> bytes:
    page = folder / name
    page.write_text(text, encoding="utf8")
    driver.get(page.resolve().as_uri())
    data = driver.execute_cdp_cmd(
        "Page.printToPDF",
        {**PAPER, **MARGINS, "preferCSSPageSize": True},
    )
    return base64.b64decode(data["data"])


def build_pdf(
    html: Path,
    out: Path | None = None,
    *,
    title: str | None = None,
    author: str = "",
    log: Any = None,
) -> Path:
    """Print the built site at ``html`` as one PDF; return its path.

    ``out`` defaults to ``<html>/../pdf/book.pdf``. ``title`` defaults to the
    site's title. ``log``, when given, is called with a line per page.

    Raises :class:`PDFError` when Chromium is missing or a page does not
    render.
    """
    from pypdf import PdfReader, PdfWriter

    html = Path(html).resolve()
    out = Path(out) if out is not None else html.parent / "pdf" / "book.pdf"
    entries = contents(html)
    title = title or _site_title(entries[0].path)
    say = log or (lambda line: None)
    work = out.parent / ".pages"
    work.mkdir(parents=True, exist_ok=True)
    driver = browser()
    try:
        chapters = []
        for entry in entries:
            start = time.perf_counter()
            data = _print(driver, entry.path.as_uri())
            chapters.append(PdfReader(io.BytesIO(data)))
            say(
                f"{entry.title}: {len(chapters[-1].pages)} pages "
                f"in {time.perf_counter() - start:.1f} s"
            )
        front_count = 2
        for _ in range(3):  # the contents may take more than one page
            starts, n = [], front_count + 1
            for chapter in chapters:
                starts.append(n)
                n += len(chapter.pages)
            front = PdfReader(
                io.BytesIO(
                    _print_html(
                        driver,
                        work,
                        "front.html",
                        _front_matter(title, author, entries, starts),
                    )
                )
            )
            if len(front.pages) == front_count:
                break
            front_count = len(front.pages)
        total = n - 1
        numbers = PdfReader(
            io.BytesIO(
                _print_html(driver, work, "numbers.html", _numbers_page(1, total))
            )
        )
    finally:
        driver.quit()
        shutil.rmtree(work, ignore_errors=True)

    writer = PdfWriter()
    writer.append(front, import_outline=False)
    writer.add_outline_item(title, 0)
    parts: dict[str, Any] = {}
    for entry, chapter, start in zip(entries, chapters, starts, strict=True):
        parent = None
        if entry.part:
            if entry.part not in parts:
                parts[entry.part] = writer.add_outline_item(entry.part, start - 1)
            parent = parts[entry.part]
        first = len(writer.pages)
        writer.append(chapter, import_outline=False)
        item = writer.add_outline_item(entry.title, first, parent=parent)
        _copy_outline(writer, chapter, chapter.outline, item, first)
    for i, page in enumerate(writer.pages):
        if i > 0:  # no number on the title page
            page.merge_page(numbers.pages[i])
    writer.add_metadata({"/Title": title, "/Author": author or title})
    writer.page_mode = "/UseOutlines"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".pdf.part")
    with open(partial, "wb") as fh:
        writer.write(fh)
    writer.close()
    partial.replace(out)
    return out


def _copy_outline(
    writer: Any, reader: Any, outline: list, parent: Any, offset: int
) -> None:
    """The chapter's own bookmarks (its headings), below ``parent``; the
    chapter's title itself (its one top-level heading) is skipped."""
    last = None
    for item in outline:
        if isinstance(item, list):
            if last is not None:
                _copy_outline(writer, reader, item, last, offset)
            continue
        page = reader.get_destination_page_number(item)
        if page is None or page < 0:
            continue
        if len(outline) <= 2 and parent is not None and last is None and page == 0:
            # the page's h1: its sections become the chapter's children
            last = parent
            continue
        last = writer.add_outline_item(
            _heading(item.title), offset + page, parent=parent
        )


def _heading(title: str) -> str:
    """A heading as Chromium's outline names it, with its repeat removed.

    Chromium names some headings twice over (``NotationNotation``, ``The
    package The package bayesdl``): keep the second, whole copy.

    Example::

        >>> _heading("NotationNotation"), _heading("Summary")
        ('Notation', 'Summary')
    """
    title = " ".join(title.split())
    for k in range(3, len(title) // 2 + 1):
        head, rest = title[:k].strip(), title[k:].lstrip()
        if len(head) >= 3 and rest.startswith(head):
            return rest
    return title


def _site_title(page: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(encoding="utf8"), "html.parser")
    logo = soup.select_one(".navbar-brand .logo__title") or soup.title
    return " ".join(logo.get_text().split("—")[-1].split()) if logo else "Book"
