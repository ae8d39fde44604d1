"""The strict smoke build of the book, built once per test session.

``tests/book/test_book.py`` (the build passes; every chapter executed without an
error) and ``tests/book/test_site.py`` (the pages in a browser) share it: use the
``smoke_build`` fixture, imported into the test module. The build itself runs
once per process even though each importing module registers the fixture.

``BAYESDL_TEST_BUILD=<folder>`` builds into that folder instead of a
temporary one, so that it can be looked at afterwards, and a rerun reuses its
execution cache (``<folder>/_build/.jupyter_cache``) instead of executing
every chapter again.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

TINY_HEADER = """\
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

"""
"""The top of a one-page MyST notebook, for the tests' tiny books."""
JB = [str(Path(sys.executable).with_name("jupyter-book"))]


def toc_files() -> list[str]:
    """Every file the table of contents names, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def chapter_files() -> list[str]:
    """The notebooks (files with code cells) among ``toc_files()``."""
    return [f for f in toc_files() if "{code-cell}" in (ROOT / f"{f}.md").read_text()]


def build_env(**extra: str) -> dict[str, str]:
    """The environment of a ``jupyter-book`` subprocess."""
    env = dict(os.environ)
    env.update(extra)
    # The kernel must use its inline backend, or figures reach no page.
    env.pop("MPLBACKEND", None)
    env["BAYESDL_PROGRESS"] = "0"
    return env


@dataclasses.dataclass(frozen=True)
class Build:
    """What one ``jupyter-book build`` left: its exit code, log and folders."""

    returncode: int
    log: str
    out: Path

    @property
    def html(self) -> Path:
        return self.out / "_build" / "html"

    def report(self, docname: str) -> str | None:
        """The traceback myst-nb saved for a chapter whose execution failed."""
        path = self.html / "reports" / f"{docname}.err.log"
        return path.read_text() if path.is_file() else None


def strict_build(out: Path, profile: str = "smoke", timeout: int = 1800) -> Build:
    """``jupyter-book build . -W --keep-going`` into ``out`` (a folder)."""
    proc = subprocess.run(
        [*JB, "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)],
        env=build_env(BAYESDL_PROFILE=profile),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Build(proc.returncode, proc.stdout + proc.stderr, out)


_BUILDS: dict[str, Build] = {}


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory) -> Build:
    """The strict smoke build, made on first use and shared by every test."""
    if "smoke" not in _BUILDS:
        keep = os.environ.get("BAYESDL_TEST_BUILD")
        if keep:
            out = Path(keep).resolve()
            # A fresh environment (so every warning is seen again), with the
            # execution cache of the last run kept.
            for stale in ("html", ".doctrees", "jupyter_execute"):
                shutil.rmtree(out / "_build" / stale, ignore_errors=True)
        else:
            out = tmp_path_factory.mktemp("book")
        _BUILDS["smoke"] = strict_build(out)
    return _BUILDS["smoke"]


def need(condition: bool, reason: str) -> None:
    """Skip, or fail in CI (``CI=true``), when a tool cannot be had."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


_PDFS: dict[str, Path | str] = {}


@pytest.fixture(scope="session")
def smoke_pdf(smoke_build) -> Path:
    """``python -m bayesdl pdf`` over the smoke build, made once per session."""
    if smoke_build.returncode != 0:
        pytest.fail(f"the smoke build failed:\n{smoke_build.log[-3000:]}")
    need(
        bool(shutil.which("chromium") or shutil.which("chromium-browser")),
        "no Chromium (apt-get install chromium)",
    )
    need(
        bool(shutil.which("chromedriver")),
        "no chromedriver (apt-get install chromium-driver)",
    )
    if "smoke" not in _PDFS:
        out = smoke_build.out / "_build" / "pdf" / "book.pdf"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bayesdl",
                "pdf",
                "--html",
                str(smoke_build.html),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        _PDFS["smoke"] = out if proc.returncode == 0 else proc.stdout + proc.stderr
    found = _PDFS["smoke"]
    if not isinstance(found, Path):
        pytest.fail(f"python -m bayesdl pdf failed:\n{found[-3000:]}")
    return found
