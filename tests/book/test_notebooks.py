"""Each chapter as a notebook a reader downloads (issue 20).

Over the strict smoke build (``book_build.smoke_build``): every chapter page
links its notebook in the download menu, with a ``download`` attribute; the
file is a valid notebook with the chapter's outputs and as many code cells as
the chapter; no MyST role or directive is left in its markdown; the
introduction links a zip of them all; and one of them runs from the top in a
fresh kernel (smoke profile) outside the book, glue cells included.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from book_build import ROOT, build_env, chapter_files, smoke_build

__all__ = ["smoke_build"]  # a fixture, used by name

pytestmark = [pytest.mark.book, pytest.mark.slow]

#: The fastest chapter to execute in the smoke profile (about 6 s).
RUN_CHAPTER = "book/probabilistic_programs"
#: MyST left in a notebook's markdown: a role, a directive fence, a label.
MYST = re.compile(r"\{[a-z][\w:+-]*\}`|^\s*(```|:::)\{|^\s*\([\w-]+\)=\s*$", re.M)


@pytest.fixture(scope="module")
def html(smoke_build) -> Path:
    if smoke_build.returncode != 0 or not (smoke_build.html / "index.html").is_file():
        pytest.fail(f"the smoke build failed:\n{smoke_build.log[-3000:]}")
    return smoke_build.html


def code_cells(docname: str) -> int:
    text = (ROOT / f"{docname}.md").read_text()
    return len(re.findall(r"^```\{code-cell\}", text, re.M))


def notebook_link(html: Path, docname: str) -> Path:
    page = (html / f"{docname}.html").read_text(encoding="utf8")
    links = re.findall(r'<a href="([^"]+\.ipynb)"([^>]*)>', page)
    assert links, f"{docname}.html offers no notebook"
    href, rest = links[0]
    assert re.search(r"\bdownload\b", rest), f"{docname}: the link has no download"
    return (html / docname).parent / href


@pytest.mark.parametrize("docname", chapter_files(), ids=lambda f: Path(f).stem)
def test_chapter_page_offers_its_notebook(html, docname):
    path = notebook_link(html, docname)
    assert path.is_file(), f"{docname}: {path} is missing"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == code_cells(docname), f"{docname}: code cells differ"
    assert any(c.outputs for c in code), f"{docname}: a notebook without outputs"
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert "pip install -r requirements.txt" in first.source
    left = [
        m.group(0)
        for c in nb.cells
        if c.cell_type == "markdown"
        for m in MYST.finditer(c.source)
    ]
    assert not left, f"{docname}: MyST left in the notebook's markdown: {left[:5]}"
    assert "jupytext" not in nb.metadata


def test_a_glued_figure_and_value_reach_the_notebook(html):
    nb = nbformat.read(html / "_sources/book/variational_inference.ipynb", 4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "### Exercise" in markdown and "#### Solution to Exercise" in markdown
    attached = [c for c in nb.cells if c.get("attachments")]
    assert attached, "no glued figure was attached"
    assert "(attachment:" in attached[0].source
    assert re.search(r"Fig\. \d+", markdown), "a numbered reference was not resolved"
    assert re.search(r"\(\w[^()]*, (19|20)\d\d[a-z]?[;)]", markdown), "no citation"


def test_introduction_links_a_zip_of_every_notebook(html):
    page = (html / "book" / "intro.html").read_text(encoding="utf8")
    found = re.search(r'<a [^>]*href="([^"]+\.zip)"[^>]*>', page)
    assert found, "the introduction links no zip of notebooks"
    assert re.search(r"\bdownload\b", found.group(0))
    archive = (html / "book" / found.group(1)).resolve()
    assert archive.is_file(), archive
    with zipfile.ZipFile(archive) as z:
        names = {Path(n).stem for n in z.namelist() if n.endswith(".ipynb")}
    assert {Path(f).stem for f in chapter_files()} <= names, names


def test_a_downloaded_notebook_runs_in_a_fresh_kernel(html, tmp_path, monkeypatch):
    """The reader's way: the notebook alone, in a plain kernel, from the top."""
    from nbclient import NotebookClient

    source = html / "_sources" / f"{RUN_CHAPTER}.ipynb"
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    for key, value in build_env(BAYESDL_PROFILE="smoke").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": tmp_path}},
    ).execute()
    glued = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if (o.get("metadata") or {}).get("scrapbook")
    ]
    assert glued, "the glue cells stored nothing in a plain kernel"
    errors = [
        o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
