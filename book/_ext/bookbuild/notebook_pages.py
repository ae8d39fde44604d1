"""Each chapter page offers its notebook (Sphinx hooks; build plumbing).

For every page that myst-nb executed, :func:`on_html_page_context` writes a
plain-Jupyter copy of the executed notebook (:func:`bookbuild.nbexport.convert`:
outputs kept, MyST roles and directives turned into text, the numbers,
titles and citations answered by :func:`resolver` from the built
environment) to ``_sources/<page>.ipynb``, and sets the page's
``ipynb_source``, which is what sphinx-book-theme's download menu shows. The
theme sets it itself only when launch buttons are configured, and the book
has none (no repository to launch from), so this hook runs on
``html-page-context`` just before the theme's (priority 500 < 501).

:func:`on_build_finished` gives those links a ``download`` attribute (some
browsers show a notebook as JSON text otherwise) and writes
:data:`NOTEBOOKS_ZIP`, every chapter's notebook, linked from the
introduction. ``bookbuild.sphinxext`` registers both hooks.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from bayesdl import config

#: The zip of every chapter's notebook, relative to the site's root.
NOTEBOOKS_ZIP = "_downloads/notebooks/bayesdl-notebooks.zip"


def _split_title(text: str) -> tuple[str, str]:
    """``title <label>`` as (title, label); a bare label as ("", label)."""
    found = re.match(r"^(.*?)\s*<([^<>]+)>$", text.strip(), re.DOTALL)
    return (found[1].strip(), found[2].strip()) if found else ("", text.strip())


def resolver(app: Any, docname: str) -> Any:
    """A :class:`bookbuild.nbexport.Resolver` answered from the built environment.

    Numbers come from ``env.toc_fignumbers`` (figures, equations, exercises,
    as the pages number them), titles from the standard domain and
    ``env.titles``, citations from the bibliography's author-year labels,
    ``literalinclude`` from Sphinx's own reader.
    """
    from docutils.nodes import make_id
    from sphinx.directives.code import LiteralIncludeReader
    from sphinx.util import docname_join

    from . import nbexport

    env = app.env
    std = env.get_domain("std")
    numbers = env.toc_fignumbers

    def target(label: str) -> tuple[str, str, str]:
        for name in (label, label.lower()):
            if name in std.labels:
                return std.labels[name]
            if name in std.anonlabels:
                return (*std.anonlabels[name], "")
        return ("", "", "")

    def number(doc: str, node_id: str, figtype: str | None = None):
        for kind, ids in numbers.get(doc, {}).items():
            if (figtype is None or kind == figtype) and node_id in ids:
                return kind, ".".join(map(str, ids[node_id]))
        return None, None

    def numref(text: str) -> str:
        title, label = _split_title(text)
        doc, node_id, name = target(label)
        kind, num = number(doc, node_id)
        if num is None:
            return title or name or label
        fmt = title or app.config.numfig_format.get(kind, "%s")
        return fmt.replace("{number}", num).replace("{name}", name).replace("%s", num)

    def ref(text: str) -> str:
        title, label = _split_title(text)
        return title or target(label)[2] or label

    def equation_number(label: str) -> str | None:
        doc, eqno = env.get_domain("math").data["objects"].get(label, (None, None))
        if doc is None:
            return None
        if app.config.math_numfig and app.config.numfig:
            return number(doc, make_id(f"equation-{label}"), "displaymath")[1]
        return str(eqno)

    def eq(text: str) -> str:
        found = equation_number(_split_title(text)[1])
        return f"({found})" if found else text

    def doc(text: str) -> str:
        title, name = _split_title(text)
        name = docname_join(docname, name.removesuffix(".md"))
        return title or (env.titles[name].astext() if name in env.titles else name)

    labels = _citation_labels(app)

    def cite(text: str) -> str:
        keys = [k.strip() for k in text.split(",") if k.strip()]
        return "(" + "; ".join(labels.get(k, k) for k in keys) + ")"

    def include(arg: str, options: dict[str, str]) -> str:
        _, path = env.relfn2path(arg, docname)
        opts: dict[str, Any] = {
            k: v for k, v in options.items() if k not in ("caption", "name", "class")
        }
        for k in ("dedent", "lineno-start"):
            if k in opts:
                opts[k] = int(opts[k]) if opts[k] else None
        return LiteralIncludeReader(path, opts, app.config).read()[0]

    def exercise_number(label: str) -> str | None:
        return (
            number(docname, label, "exercise")[1]
            or number(docname, make_id(label), "exercise")[1]
        )

    def figure_number(label: str) -> str | None:
        doc, node_id, _ = target(label)
        return number(doc or docname, node_id or label)[1]

    return nbexport.Resolver(
        numref=numref,
        ref=ref,
        eq=eq,
        doc=doc,
        cite=cite,
        include=include,
        exercise_number=exercise_number,
        figure_number=figure_number,
        equation_number=equation_number,
    )


def _citation_labels(app: Any) -> dict[str, str]:
    """Citation key -> the bibliography's author-year label."""
    if hasattr(app, "_bayesdl_cite_labels"):
        return app._bayesdl_cite_labels
    labels: dict[str, str] = {}
    try:
        from pybtex.database import parse_file
        from pybtex.plugin import find_plugin

        from . import bibstyle

        bibstyle._register()
        style = find_plugin("pybtex.style.formatting", bibstyle.STYLE)()
        for name in app.config.bibtex_bibfiles:
            data = parse_file(str(Path(app.srcdir) / name))
            for entry in style.format_entries(data.entries.values()):
                labels[entry.key] = entry.label
    except Exception:  # no bibliography: keys stay as they are
        pass
    app._bayesdl_cite_labels = labels
    return labels


def _with_outputs(app: Any, nb: Any) -> Any:
    """The notebook with its outputs (and glue values) from the execution cache.

    In ``cache`` mode myst-nb writes ``jupyter_execute/<doc>.ipynb`` without
    the outputs it merged from the cache, or, just executed, without the glue
    outputs; the cache holds them all, so merge them the same way here.
    """
    path = getattr(app.env.mystnb_config, "execution_cache_path", "")
    if not path or not Path(path).is_dir():
        return nb
    from jupyter_cache import get_cache

    try:
        return get_cache(path).merge_match_into_notebook(nb)[1]
    except KeyError:  # not executed under this key: shown without outputs
        return nb


def on_html_page_context(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Offer the page's executed notebook, as plain Jupyter, for download."""
    if doctree is None or app.builder.format != "html":
        return
    folder = getattr(getattr(app.env, "mystnb_config", None), "output_folder", None)
    executed = Path(folder or "", f"{pagename}.ipynb")
    if not folder or not executed.is_file():
        return
    import nbformat

    from . import nbexport

    nb = _with_outputs(app, nbformat.read(executed, as_version=4))
    title = app.env.titles[pagename].astext() if pagename in app.env.titles else ""
    glue_file = executed.with_name(f"{Path(pagename).name}.glue.json")
    glue = {}
    if glue_file.is_file():  # what myst-nb kept of the glued values
        glue = {k: v["data"] for k, v in json.loads(glue_file.read_text()).items()}
    plain = nbexport.convert(
        nb,
        resolver(app, pagename),
        glue=glue,
        title=title,
        book=app.config.html_title or app.config.project,
        profile=config.build_key().split("-")[0],
    )
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(plain, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


_NOTEBOOK_LINK = re.compile(r'(<a href="[^"]*_sources/[^"]*\.ipynb")(?! download)')


def on_build_finished(app: Any, exception: Exception | None) -> None:
    """Give the notebook links ``download``; zip every chapter's notebook."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    sources = out / "_sources"
    notebooks = [
        (doc, sources / f"{doc}.ipynb")
        for doc in app.env.found_docs
        if (sources / f"{doc}.ipynb").is_file()
    ]
    for doc, _ in notebooks:
        page = out / f"{doc}.html"
        if page.is_file():
            html = page.read_text(encoding="utf8")
            fixed = _NOTEBOOK_LINK.sub(r"\1 download", html)
            if fixed != html:
                page.write_text(fixed, encoding="utf8")
    order = {doc: i for i, doc in enumerate(_toc_order(app))}
    notebooks.sort(key=lambda item: (order.get(item[0], len(order)), item[0]))
    if not notebooks:
        return
    target = out / NOTEBOOKS_ZIP
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc, path in notebooks:
            archive.write(path, f"bayesdl-notebooks/{doc}.ipynb")
    partial.replace(target)


def _toc_order(app: Any) -> list[str]:
    """Every document in the order of the table of contents."""
    found: list[str] = []

    def walk(doc: str) -> None:
        if doc in found:
            return
        found.append(doc)
        for child in app.env.toctree_includes.get(doc, []):
            walk(child)

    walk(app.config.root_doc)
    return found
