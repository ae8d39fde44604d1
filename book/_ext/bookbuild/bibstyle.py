"""Author-year labels for the book's bibliography (a Sphinx extension).

sphinxcontrib-bibtex labels bibliography entries with pybtex's ``alpha``
style by default, which gives labels such as ``[DHernandezLDVU18]``. This
extension registers a pybtex formatting style, ``bayesdl_author_year``, whose
labels read like the in-text citations (``Bishop, 2006``, ``Gal & Ghahramani,
2016``, ``Blundell et al., 2015``, with ``a``, ``b`` appended where two
entries would get the same label) and which sorts the entries by author, year
and title. It makes that style the default unless ``bibtex_default_style`` is
set to something else than sphinxcontrib-bibtex's default.

Registered as ``bookbuild.bibstyle`` under ``sphinx: local_extensions`` in
``_config.yml``.

Example::

    from pybtex.plugin import find_plugin
    style = find_plugin("pybtex.style.formatting", "bayesdl_author_year")()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

STYLE = "bayesdl_author_year"


def _surname(person) -> str:
    """A person's last name(s) as plain text (LaTeX accents resolved)."""
    latex = " ".join(person.prelast_names + person.last_names)
    return Text.from_latex(latex).render_as("text")


def author_year(entry) -> str:
    """The label of one entry: ``Surname, 2006``, ``A & B, 2016``, ``A et al., 2015``.

    Example::

        >>> from pybtex.database import Entry, Person
        >>> e = Entry("book", [("year", "2006")])
        >>> e.persons["author"] = [Person("Bishop, Christopher M.")]
        >>> author_year(e)
        'Bishop, 2006'
    """
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in persons]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} & {names[1]}"
    else:
        who = f"{names[0]} et al."
    year = entry.fields.get("year", "n.d.")
    return f"{who}, {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """pybtex label style: author-year labels, made unique with a, b, ..."""

    def format_labels(self, sorted_entries: Iterable) -> Iterator[str]:
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        count = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if count[label] > 1:
                yield f"{label}{chr(ord('a') + seen[label])}"
                seen[label] += 1
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """pybtex formatting style: ``unsrt`` with author-year labels and sorting."""

    default_label_style = STYLE
    default_sorting_style = "author_year_title"


def _register() -> None:
    for kind, cls in (
        ("pybtex.style.labels", AuthorYearLabelStyle),
        ("pybtex.style.formatting", AuthorYearStyle),
    ):
        try:
            register_plugin(kind, STYLE, cls)
        except Exception:  # already registered (a second build in one process)
            pass


def _use_style(app, config) -> None:
    if getattr(config, "bibtex_default_style", "alpha") == "alpha":
        config.bibtex_default_style = STYLE


def setup(app) -> dict:
    """Register the style with pybtex and make it the bibliography's default."""
    _register()
    app.connect("config-inited", _use_style)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
