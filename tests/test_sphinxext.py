"""bayesdl.sphinxext: MathJax ships with the site."""

from __future__ import annotations

import os

import pytest

from bayesdl import sphinxext


def test_mathjax_is_installed_with_its_fonts():
    root = sphinxext.mathjax_source()
    assert (root / "tex-chtml.js").is_file()
    assert any((root / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    for part in sphinxext._MATHJAX_PARTS:
        assert (root / part).exists(), part


def test_missing_mathjax_says_how_to_install_it(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(sphinxext.resources, "files", missing)
    with pytest.raises(RuntimeError, match="pip install -r requirements.txt"):
        sphinxext.mathjax_source()


def test_copy_skips_unchanged_files(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.js").write_text("a")
    sphinxext._copy_if_changed(src, dst)
    assert (dst / "sub" / "a.js").read_text() == "a"
    (dst / "sub" / "a.js").write_text("b")  # same size; mtime set below
    stamp = (src / "sub" / "a.js").stat().st_mtime
    os.utime(dst / "sub" / "a.js", (stamp, stamp))
    sphinxext._copy_if_changed(src, dst)
    assert (dst / "sub" / "a.js").read_text() == "b", "an unchanged file was copied"
    (src / "sub" / "a.js").write_text("new")
    sphinxext._copy_if_changed(src, dst)
    assert (dst / "sub" / "a.js").read_text() == "new"
