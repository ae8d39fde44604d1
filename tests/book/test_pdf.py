"""The whole book as one PDF (issue 20): ``python -m bayesdl pdf`` over the
strict smoke build (``book_build.smoke_pdf``).

The PDF has a page per chapter at least; ``pdftotext`` (Debian's
``poppler-utils``) finds every chapter's title, the table of contents and the
page numbers, and no raw TeX; ``pdfimages`` finds at least as many images as
the pages show figures; its bookmarks list every chapter. Where Chromium or
poppler cannot be had the tests skip and say why; in CI they fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from book_build import need, smoke_build, smoke_pdf, toc_files

__all__ = ["smoke_build", "smoke_pdf"]  # fixtures, used by name

pytestmark = [pytest.mark.book, pytest.mark.slow]


def poppler(tool: str, *args: str) -> str:
    need(bool(shutil.which(tool)), f"no {tool} (apt-get install poppler-utils)")
    proc = subprocess.run([tool, *args], capture_output=True, text=True, check=True)
    return proc.stdout


def code_text(html: Path) -> list[str]:
    """The text of every listing and output on the pages (``pre`` elements)."""
    import html as htmllib

    found = []
    for docname in toc_files():
        page = (html / f"{docname}.html").read_text(encoding="utf8")
        for _, pre in re.findall(r"<(pre|code)\b[^>]*>(.*?)</\1>", page, re.S):
            found.append(htmllib.unescape(re.sub(r"<[^>]+>", "", pre)))
    return found


def titles(html: Path) -> list[str]:
    from bookbuild import pdf

    return [entry.title for entry in pdf.contents(html)]


def test_the_pdf_holds_every_chapter_in_order(smoke_build, smoke_pdf):
    from pypdf import PdfReader

    reader = PdfReader(smoke_pdf)
    chapters = titles(smoke_build.html)
    assert len(chapters) == len(toc_files())
    assert len(reader.pages) >= len(chapters)
    text = poppler("pdftotext", "-layout", str(smoke_pdf), "-")
    flat = " ".join(text.split())
    where = []
    for title in chapters:
        words = " ".join(title.split())
        assert words in flat, f"{title!r} is not in the PDF"
        where.append(flat.index(words, flat.index("Contents")))
    assert "Contents" in flat
    code = " ".join(" ".join(code_text(smoke_build.html)).split())
    raw = [
        word
        for word in text.split()
        if any(m in word for m in ("\\(", "\\)", "\\[", "\\]", "$$"))
        and word not in code  # in a listing or an output, it is code
    ]
    assert not raw, f"raw TeX in the PDF: {raw[:5]}"
    # page numbers in the footers: the last page's number ends its text
    last = text.split("\f")[-2].split()
    assert last and last[-1] == str(len(reader.pages)), last[-5:]
    # one bookmark per chapter, in the contents' order
    top = [item for item in reader.outline if not isinstance(item, list)]
    flat_titles = [t.title for t in _walk(reader.outline)]
    for title in chapters:
        assert title in flat_titles, f"no bookmark for {title!r}"
    assert top, "no bookmarks"


def _walk(outline):
    for item in outline:
        if isinstance(item, list):
            yield from _walk(item)
        else:
            yield item


def test_the_pdf_shows_every_figure_and_solution(smoke_build, smoke_pdf):
    listing = poppler("pdfimages", "-list", str(smoke_pdf))
    images = [
        line
        for line in listing.splitlines()[2:]
        if line.split() and line.split()[2] == "image"
    ]
    figures = 0
    for docname in toc_files():
        page = (smoke_build.html / f"{docname}.html").read_text(encoding="utf8")
        article = page[page.find("<article") : page.find("</article>")]
        figures += len(re.findall(r"<img\b", article))
    assert figures > 0
    assert len(images) >= figures, f"{len(images)} images for {figures} figures"
    text = poppler("pdftotext", str(smoke_pdf), "-")
    assert "Solution to" in text
    # a solution's code is printed (from the first chapter's first solution)
    assert "poutine.condition" in text


def test_long_code_lines_wrap_instead_of_being_cut(smoke_pdf):
    """No line of code runs past the right margin (Chromium clips it there)."""
    from pypdf import PdfReader

    reader = PdfReader(smoke_pdf)
    width = float(reader.pages[0].mediabox.width)
    text = poppler("pdftotext", "-bbox", str(smoke_pdf), "-")
    # words that begin on the page (MathJax's invisible operators come out
    # as empty boxes that start far to the left)
    boxes = re.findall(r'xMin="(-?[\d.]+)" yMin="[^"]*" xMax="([\d.]+)"', text)
    xmax = [float(b) for a, b in boxes if float(a) >= 0]
    assert xmax
    assert max(xmax) <= width - 0.3 * 72, f"text at x={max(xmax)} of {width}"


def test_pdf_command_says_when_there_is_no_build(tmp_path, capsys):
    from bayesdl.__main__ import main

    assert main(["pdf", "--html", str(tmp_path / "missing")]) == 1
    assert "jupyter-book build" in capsys.readouterr().err
