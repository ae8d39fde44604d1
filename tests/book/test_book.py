"""The book itself: the strict build passes, every chapter executes, and the
execution cache never serves outputs of other code or another profile.

The strict smoke build is made once per test session (``book_build``) and
shared with ``test_site.py``; each chapter's test reads that build's result
for its chapter, so no chapter is executed twice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from book_build import (
    JB,
    ROOT,
    TINY_HEADER,
    build_env,
    chapter_files,
    smoke_build,
    toc_files,
)

__all__ = ["smoke_build"]  # a fixture, used by name


def test_toc_lists_only_existing_chapters():
    for f in toc_files():
        assert (ROOT / f"{f}.md").is_file(), f"_toc.yml names a missing file {f}"
    listed = {f"{f}.md" for f in toc_files()}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "book").glob("*.md")}
    assert on_disk <= listed, f"chapters not in _toc.yml: {sorted(on_disk - listed)}"


# A verdict made by hand from a bare "twice the standard error": the book's
# rule (bayesdl.compare) pairs what two methods share and takes a t-quantile.
HAND_RULE = re.compile(
    r"[<>]=?\s*-?\s*2\s*\*\s*(?:math\.hypot\(|\w*se\b|\w*_se\b|sd\b)"
)


def test_hand_rule_pattern_tells_a_verdict_from_arithmetic():
    assert HAND_RULE.search("word = 'up' if d.mean() > 2 * se else 'level'")
    assert HAND_RULE.search("if abs(d) <= 2 * math.hypot(a, b):")
    assert HAND_RULE.search("x if gain < -2 * gap_se else y")
    assert not HAND_RULE.search("n_out = 2 * settings.m1.latent_dim")
    assert not HAND_RULE.search("width = 2 * z * sigma")


def test_every_verdict_word_comes_from_the_comparison_rule():
    offenders = []
    for f in chapter_files():
        text = (ROOT / f"{f}.md").read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if HAND_RULE.search(line):
                offenders.append(f"{f}.md:{n}: {line.strip()}")
    assert not offenders, (
        "verdicts judged by a bare 2-standard-error rule; use "
        "bayesdl.compare (compare, compare_images):\n" + "\n".join(offenders)
    )


@pytest.mark.book
@pytest.mark.slow
def test_strict_smoke_build(smoke_build):
    """`jupyter-book build . -W --keep-going` in the smoke profile: no warning."""
    log = smoke_build.log
    assert smoke_build.returncode == 0, log[-6000:]
    assert "WARNING" not in log, log[-6000:]
    html = smoke_build.html
    intro = (html / "book" / "intro.html").read_text()
    assert "fig-intro-confidence" in intro and "<img" in intro
    for f in toc_files():
        assert (html / f"{f}.html").is_file(), f"{f} was not written"


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.parametrize("docname", chapter_files(), ids=lambda f: Path(f).stem)
def test_chapter_executes_in_smoke_profile(docname, smoke_build):
    """The chapter ran in the strict smoke build without an error."""
    traceback = smoke_build.report(docname)
    assert traceback is None, f"{docname} failed to execute:\n{traceback[-4000:]}"
    lines = [line for line in smoke_build.log.splitlines() if docname in line]
    assert not [line for line in lines if "WARNING" in line or "ERROR" in line], lines
    page = smoke_build.html / f"{docname}.html"
    assert page.is_file(), f"{docname} was not written:\n{smoke_build.log[-3000:]}"
    text = page.read_text()
    assert "cell_output" in text, f"{docname}.html shows no executed output"
    assert "Traceback (most recent call last)" not in text, f"{docname} shows an error"


TINY_CHAPTER = (
    TINY_HEADER
    + """```{code-cell} ipython3
import uuid
import bayesdl

print("token=" + uuid.uuid4().hex)
print("key=" + bayesdl.config.build_key())
print("from=" + bayesdl.__file__)
```
"""
)

TINY_CONFIG = f"""\
title: Tiny
only_build_toc_files: true
execute:
  execute_notebooks: cache
  raise_on_error: true
sphinx:
  local_extensions:
    bookbuild.sphinxext: {ROOT / "book" / "_ext"}
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
            env=build_env(BAYESDL_PROFILE=profile, PYTHONPATH=pythonpath),
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
        fh.write("\n# a comment: the code is the same, so is the key\n")
    assert build("smoke")["token"] == first["token"], "a comment re-executed"
    with open(lib / "bayesdl" / "config.py", "a") as fh:
        fh.write("\n_AN_EDIT_OF_THE_PACKAGE_CODE = 1\n")
    edited = build("smoke")
    assert edited["token"] != first["token"], "a changed bayesdl was not re-executed"
    assert edited["key"] != first["key"]
