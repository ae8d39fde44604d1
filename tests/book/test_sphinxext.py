"""bookbuild.sphinxext (book/_ext): MathJax ships with the site."""

from __future__ import annotations

import os

import pytest

from bookbuild import sphinxext


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


def test_old_execution_caches_are_pruned_never_the_one_in_use(tmp_path):
    import time

    root = tmp_path / ".jupyter_cache"
    names = [f"smoke-{i:016x}" for i in range(5)]
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        stamp = time.time() - 1000 + 100 * i
        os.utime(root / name, (stamp, stamp))
    (root / "full-0000000000000000").mkdir()  # another profile: kept
    (root / "notes").mkdir()  # not a cache: kept
    in_use = names[0]  # the oldest, but the one this build uses
    removed = sphinxext.prune_caches(root, in_use, keep=3)
    left = sorted(p.name for p in root.iterdir())
    assert left == sorted(
        [in_use, names[4], names[3], "full-0000000000000000", "notes"]
    )
    assert sorted(p.name for p in removed) == sorted(names[1:3])
    # a new key (its folder not made yet) keeps the two most recent others
    sphinxext.prune_caches(root, "smoke-ffffffffffffffff", keep=3)
    assert {p.name for p in root.iterdir() if p.name.startswith("smoke")} == {
        in_use,
        names[4],
    }


def test_menu_choices_have_their_mathjax_files():
    root = sphinxext.mathjax_source()
    for part in ("input/mml.js", "output/svg.js", "a11y/explorer.js"):
        assert (root / part).is_file(), part
        assert any(part.startswith(p) for p in sphinxext._MATHJAX_PARTS), part
