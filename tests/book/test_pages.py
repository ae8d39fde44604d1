"""What the built pages show a reader: maths that typesets, listings without
escaped reST, a readable API page and bibliography.

These tests read the HTML of the strict smoke build (``smoke_html``: the
``_build/html`` folder). Sphinx writes MathJax input into elements of class
``math``: inline maths as ``<span class="math">\\(...\\)</span>``, display
maths as ``<div class="math">\\[...\\]</div>``. So a ``$`` or a ``\\(`` that
a reader can see anywhere else (outside maths and code) is maths that MyST
did not parse (as is a LaTeX command such as ``\\frac`` in the prose),
and a doubled backslash in a listing is a docstring escape
that the reader should not have to decode.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from book_build import smoke_build

__all__ = ["smoke_build"]  # a fixture, used by name

bs4 = pytest.importorskip("bs4")


@pytest.fixture(scope="module")
def smoke_html(smoke_build) -> Path:
    if smoke_build.returncode != 0 or not (smoke_build.html / "index.html").is_file():
        pytest.fail(f"the smoke build failed:\n{smoke_build.log[-3000:]}")
    return smoke_build.html


SKIP_DIRS = {"_static", "_sources", "_images", "_modules", "_sphinx_design_static"}
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}


def pages(root: Path) -> list[Path]:
    found = [
        p
        for p in sorted(root.rglob("*.html"))
        if not SKIP_DIRS.intersection(p.relative_to(root).parts)
        and p.name not in SKIP_PAGES
    ]
    assert found, f"no HTML pages under {root}"
    return found


def article(path: Path):
    """The page's main content (no navigation, no scripts), parsed."""
    soup = bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    main = soup.find("article") or soup.find("main") or soup.body or soup
    for tag in main.find_all(["script", "style", "noscript"]):
        tag.decompose()
    return main


def is_math(tag) -> bool:
    return "math" in (tag.get("class") or [])


def prose_text(main) -> str:
    """The text a reader sees outside maths and code."""
    for tag in main.find_all(is_math):
        tag.decompose()
    for tag in main.find_all(["pre", "code", "kbd", "samp"]):
        tag.decompose()
    return main.get_text(" ")


def context(text: str, i: int) -> str:
    return " ".join(text[max(0, i - 60) : i + 60].split())


def test_maths_is_balanced_and_nothing_escapes_it(smoke_html):
    problems = []
    for page in pages(smoke_html):
        main = article(page)
        for tag in main.find_all(is_math):
            for number in tag.select(".eqno"):  # "(3)#": the equation number
                number.decompose()
            body = tag.get_text().strip()
            inline = body.startswith("\\(") and body.endswith("\\)")
            display = body.startswith("\\[") and body.endswith("\\]")
            inner = body[2:-2]
            if not (inline or display) or any(
                d in inner for d in ("\\(", "\\)", "\\[", "\\]")
            ):
                problems.append(f"{page.name}: unbalanced maths {body[:80]!r}")
        text = prose_text(main)
        # a dollar, a maths delimiter or a LaTeX command (\frac, \,) in prose
        for match in re.finditer(r"\$|\\[()\[\],;!]|\\[A-Za-z]{2,}", text):
            where = context(text, match.start())
            problems.append(f"{page.name}: {match.group()!r} outside maths: {where}")
    assert not problems, "\n".join(problems)


def test_no_listing_shows_escaped_backslashes(smoke_html):
    problems = []
    for page in pages(smoke_html):
        for pre in article(page).select("div.highlight pre"):
            text = pre.get_text()
            for match in re.finditer(r"\\\\[A-Za-z]", text):
                where = context(text, match.start())
                problems.append(f"{page.name}: {match.group()!r} in a listing: {where}")
    assert not problems, "\n".join(problems)


PLUMBING = re.compile(r"fmt: skip|fork_rng|perf_counter|(?<!\w)_check")
"""What no code on a page may show a reader: formatter pragmas (ruff format
owns the layout), random-state bookkeeping (the zoo's runner owns it), hand
timing (``bayesdl.timing.Stopwatch`` does it) and private argument checks
(they run at the boundaries, outside the listed methods). ``_check`` counts
only as a name of its own: ``save_checkpoint`` is fine."""


def test_no_listing_shows_plumbing(smoke_html):
    problems = []
    for page in pages(smoke_html):
        for pre in article(page).select("div.highlight pre"):
            text = pre.get_text()
            for match in PLUMBING.finditer(text):
                where = context(text, match.start())
                problems.append(f"{page.name}: {match.group()!r} in a listing: {where}")
    assert not problems, "\n".join(problems)


def test_the_plumbing_pattern_tells_plumbing_from_names_that_contain_it():
    caught = [
        "self._check_name(name)",
        "_check_scales(x)",
        "time.perf_counter()",
        "torch.random.fork_rng()",
        "x = 1  # fmt: skip",
    ]
    fine = [
        "trainer.save_checkpoint(p)",
        'glue("reg_ridge_check", v)',
        "enable_checkpointing=False",
        "clock.seconds",
    ]
    assert all(PLUMBING.search(text) for text in caught)
    assert not any(PLUMBING.search(text) for text in fine)


PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)


def test_no_page_shows_a_markdown_table_as_a_paragraph(smoke_html):
    """A table (from the page source or a cell's Markdown output) renders as
    a table: no paragraph of the built pages is a run of ``| ... |`` rows."""
    shown = []
    for page in pages(smoke_html):
        for para in article(page).find_all("p"):
            text = para.get_text()
            if len(PIPE_ROW.findall(text)) >= 2 or "|---|" in text.replace(" ", ""):
                shown.append(f"{page.name}: {text[:80]!r}")
    assert not shown, "tables shown as text:\n" + "\n".join(shown)


def test_the_pipe_pattern_tells_a_table_row_from_prose():
    assert len(PIPE_ROW.findall("| a | b |\n|---|---|\n| 1 | 2 |")) == 3
    assert not PIPE_ROW.findall("the set {x | x > 0} is open")


def test_no_page_shows_a_warning_or_stderr(smoke_html):
    """A reader sees no warning, traceback or other stderr output in a cell.

    (An error a chapter shows on purpose is caught and printed to stdout.)
    """
    problems = []
    for page in pages(smoke_html):
        for out in article(page).select("div.output.stderr, div.output.traceback"):
            text = " ".join(out.get_text(" ").split())
            problems.append(f"{page.name}: {text[:160]}")
    assert not problems, "\n".join(problems)


def test_bibliography_labels_read_as_author_year(smoke_html):
    page = smoke_html / "book" / "references.html"
    main = article(page)
    labels = [
        span.get_text().strip("[] ")
        for span in main.select("div.citation span.label, dt.label, .label")
    ]
    assert labels, "no bibliography labels found"
    author_year = re.compile(r"^[^\W\d].*(, \d{4}[a-z]?)$")
    bad = [label for label in labels if not author_year.match(label)]
    assert not bad, f"labels that do not read as author, year: {bad}"
    text = main.get_text(" ")
    assert "‘In-Between’" in text, "the Foong et al. title lost its quotes"
    assert "R̂" in text, "Vehtari et al.'s R-hat did not render"


def test_api_page_shows_only_the_readers_api(smoke_html):
    main = article(smoke_html / "book" / "api.html")
    headings = " ".join(h.get_text(" ") for h in main.find_all(["h2", "h3"]))
    for module in (
        "bayesdl.config",
        "bayesdl.data",
        "bayesdl.models.regression",
        "bayesdl.models.layers",
        "bayesdl.models.bnn",
        "bayesdl.infer",
        "bayesdl.metrics",
        "bayesdl.plots",
        "bayesdl.zoo",
    ):
        assert module in headings, f"{module} has no heading on the API page"
    text = main.get_text(" ")
    for boilerplate in (
        "Should be overridden by all subclasses",  # nn.Module.forward
        "extra representation of the module",  # nn.Module.extra_repr
        "bookbuild.sphinxext",
        "benchmarks.bnn",
        "``",  # reST double backticks that did not render
    ):
        assert boilerplate not in text, f"the API page shows {boilerplate!r}"
