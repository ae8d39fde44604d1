"""``python -m bayesdl bench build``: cold and warm build times."""

from __future__ import annotations

import pytest
from book_build import ROOT, TINY_HEADER

from benchmarks import build

PAGE = (
    TINY_HEADER
    + """```{code-cell} ipython3
print("executed")
```
"""
)

CONFIG = f"""\
title: Tiny
only_build_toc_files: true
execute:
  execute_notebooks: cache
sphinx:
  local_extensions:
    bookbuild.sphinxext: {ROOT / "book" / "_ext"}
"""


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="_config.yml"):
        build.bench_build(tmp_path)
    (tmp_path / "_config.yml").write_text(CONFIG)
    with pytest.raises(ValueError, match="profile"):
        build.bench_build(tmp_path, profile="fast")
    with pytest.raises(ValueError, match="timeout"):
        build.bench_build(tmp_path, timeout=0)
    with pytest.raises(SystemExit):
        build.main(["--profile", "fast"])


def test_bad_arguments_are_refused_before_the_build_is_announced(tmp_path, capsys):
    """L17."""
    with pytest.raises(ValueError, match="timeout"):
        build.main(["--timeout", "-1"])
    with pytest.raises(ValueError, match="_config.yml"):
        build.main(["--book", str(tmp_path / "missing")])
    assert "building the book" not in capsys.readouterr().out


@pytest.mark.slow
def test_cold_and_warm_builds_of_a_tiny_book_are_timed(tmp_path, capsys):
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text("format: jb-book\nroot: tiny\n")
    (book / "tiny.md").write_text(PAGE)
    work = tmp_path / "work"
    assert (
        build.main(["--book", str(book), "--profile", "smoke", "--keep", str(work)])
        == 0
    )
    out = capsys.readouterr().out
    assert "cold build" in out and "warm rebuild" in out
    assert (work / "out" / "_build" / "html" / "tiny.html").is_file()
    cold, warm = (float(line.split()[-2]) for line in out.splitlines()[1:3])
    assert cold > 0 and warm > 0
