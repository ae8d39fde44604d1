"""The bibliography parses, entry by entry, and every citation finds its entry.

A merge that keeps both sides' appended entries can drop a closing brace
(the entries end in identical lines); BibTeX then swallows the next entry
into a field of the previous one, and the page cites a missing key.
"""

import re
from pathlib import Path

from pybtex.database import parse_string

ROOT = Path(__file__).resolve().parents[2]
BIB = ROOT / "book" / "references.bib"


def entries() -> list[str]:
    return [e for e in re.split(r"\n(?=@)", BIB.read_text()) if e.strip()]


def test_every_entry_closes_its_braces():
    unbalanced = [e.splitlines()[0] for e in entries() if e.count("{") != e.count("}")]
    assert not unbalanced, f"entries with unbalanced braces: {unbalanced}"


def test_keys_are_unique_and_parse():
    keys = [re.match(r"@\w+\{([^,]+),", e).group(1) for e in entries()]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicated, f"keys defined twice: {duplicated}"
    parsed = parse_string(BIB.read_text(), "bibtex")
    assert sorted(parsed.entries) == sorted(keys)


def test_every_cited_key_is_in_the_bibliography():
    known = set(parse_string(BIB.read_text(), "bibtex").entries)
    cited = set()
    for page in (ROOT / "book").glob("*.md"):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text()):
            cited.update(k.strip() for k in group.split(","))
    missing = sorted(cited - known)
    assert not missing, f"cited but not in references.bib: {missing}"
