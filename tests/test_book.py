"""The book itself: every chapter executes, the strict build passes, and the
execution cache never serves outputs of other code or another profile."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JB = [str(Path(sys.executable).with_name("jupyter-book"))]


def toc_files() -> list[str]:
    """Every file the table of contents names, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def chapter_paths() -> list[Path]:
    paths = [ROOT / f"{f}.md" for f in toc_files()]
    # Only notebooks (with code cells) execute; plain pages are skipped here.
    return [p for p in paths if "{code-cell}" in p.read_text()]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    # The kernel must use its inline backend, or figures reach no page.
    env.pop("MPLBACKEND", None)
    env["BAYESDL_PROGRESS"] = "0"
    return env


def test_toc_lists_only_existing_chapters():
    for f in toc_files():
        assert (ROOT / f"{f}.md").is_file(), f"_toc.yml names a missing file {f}"
    listed = {f"{f}.md" for f in toc_files()}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "book").glob("*.md")}
    assert on_disk <= listed, f"chapters not in _toc.yml: {sorted(on_disk - listed)}"


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.parametrize("path", chapter_paths(), ids=lambda p: p.stem)
def test_chapter_executes_in_smoke_profile(path, monkeypatch):
    import jupytext
    import nbclient

    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("BAYESDL_PROFILE", "smoke")
    monkeypatch.setenv("BAYESDL_PROGRESS", "0")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors


@pytest.mark.book
@pytest.mark.slow
def test_strict_smoke_build(tmp_path):
    """`jupyter-book build . -W --keep-going` in the smoke profile: no warning."""
    proc = subprocess.run(
        [*JB, "build", str(ROOT), "-W", "--keep-going", "--path-output", str(tmp_path)],
        env=_env(BAYESDL_PROFILE="smoke"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "WARNING" not in log, log[-6000:]
    html = tmp_path / "_build" / "html"
    assert (html / "book" / "intro.html").is_file()
    intro = (html / "book" / "intro.html").read_text()
    assert "fig-intro-confidence" in intro and "<img" in intro
    for f in toc_files():
        assert (html / f"{f}.html").is_file(), f"{f} was not written"


TINY_CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny

```{code-cell} ipython3
import uuid
import bayesdl

print("token=" + uuid.uuid4().hex)
print("key=" + bayesdl.config.build_key())
print("from=" + bayesdl.__file__)
```
"""

TINY_CONFIG = """\
title: Tiny
only_build_toc_files: true
execute:
  execute_notebooks: cache
  raise_on_error: true
sphinx:
  extra_extensions:
    - bayesdl.sphinxext
"""


@pytest.mark.book
@pytest.mark.slow
def test_execution_cache_follows_profile_and_package_source(tmp_path):
    """A changed profile or a changed ``bayesdl`` re-executes the chapters."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(TINY_CONFIG)
    (book / "_toc.yml").write_text("format: jb-book\nroot: tiny\n")
    (book / "tiny.md").write_text(TINY_CHAPTER)
    # A private copy of the package, first on the path, that we may edit.
    lib = tmp_path / "lib"
    shutil.copytree(
        ROOT / "bayesdl", lib / "bayesdl", ignore=shutil.ignore_patterns("__pycache__")
    )
    pythonpath = os.pathsep.join([str(lib), os.environ.get("PYTHONPATH", "")])

    def build(profile: str) -> dict[str, str]:
        proc = subprocess.run(
            [*JB, "build", str(book)],
            env=_env(BAYESDL_PROFILE=profile, PYTHONPATH=pythonpath),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        page = (book / "_build" / "html" / "tiny.html").read_text()
        return dict(re.findall(r"(token|key|from)=(\S+?)(?:<|\s)", page))

    first = build("smoke")
    assert first["from"].startswith(str(lib)), first
    assert first["key"].startswith("smoke-")
    assert build("smoke")["token"] == first["token"], "unchanged: served from cache"

    full = build("full")
    assert full["key"].startswith("full-")
    assert full["token"] != first["token"], "a full build reused smoke outputs"
    assert build("smoke")["token"] == first["token"], "the smoke cache is kept apart"

    with open(lib / "bayesdl" / "config.py", "a") as fh:
        fh.write("\n# an edit of the package source\n")
    edited = build("smoke")
    assert edited["token"] != first["token"], "a changed bayesdl was not re-executed"
    assert edited["key"] != first["key"]
