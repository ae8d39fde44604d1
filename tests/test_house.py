"""House rules of the package that a reviewer would otherwise count by hand."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

from bayesdl import config

ROOT = config.package_dir().parent
LIMIT = 400
"""Lines a module of the readers' package may have: past it, split it."""


def _python_files(*folders: str) -> list[Path]:
    files = []
    for folder in folders:
        files += [
            p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts
        ]
    return sorted(files)


def test_no_module_of_the_package_is_over_the_limit():
    files = _python_files("bayesdl")
    assert len(files) > 40
    long = {
        str(p.relative_to(ROOT)): n
        for p in files
        if (n := len(p.read_text().splitlines())) > LIMIT
    }
    assert not long, f"split these modules (over {LIMIT} lines): {long}"


def test_the_zoo_is_a_registry_not_a_recipe_book():
    assert len((ROOT / "bayesdl" / "zoo.py").read_text().splitlines()) < 200


def _pragmas(path: Path) -> list[int]:
    """Lines of ``path`` with a formatter pragma in a comment (not a string)."""
    with tokenize.open(path) as fh:
        tokens = list(tokenize.generate_tokens(fh.readline))
    return [
        tok.start[0]
        for tok in tokens
        if tok.type == tokenize.COMMENT
        and re.search(r"fmt:\s*(skip|off|on)", tok.string)
    ]


def test_ruff_format_owns_the_layout_without_pragmas(tmp_path):
    example = tmp_path / "example.py"
    example.write_text('x = [1,2]  # fmt: skip\ny = "# fmt: skip"\n')
    assert _pragmas(example) == [1]  # a comment counts, a string does not
    files = _python_files("bayesdl", "benchmarks", "book/_ext", "tests")
    found = {str(p.relative_to(ROOT)): lines for p in files if (lines := _pragmas(p))}
    assert not found, found
