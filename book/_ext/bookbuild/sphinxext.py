"""Build plumbing for the book: an honest execution cache and offline maths.

Registered as ``bookbuild.sphinxext`` under ``sphinx: local_extensions`` in
``_config.yml`` (it lives in ``book/_ext/``, outside the readers' package, so
editing it re-executes no chapter), this Sphinx extension does two jobs.

**The execution cache.** Jupyter Book caches executed notebooks keyed on the
text of their cells only, so a change in ``bayesdl`` (which the cells import)
or in ``BAYESDL_PROFILE`` would otherwise be served the outputs of the old
code or of the other profile. The extension

* points myst-nb's execution cache at a folder of its own per build key
  (``_build/.jupyter_cache/<profile>-<source hash>``), so outputs executed
  under one key are never served under another (a smoke build's outputs never
  reach a full build);
* records the key as a Sphinx configuration value that invalidates the
  environment, so a changed key makes Sphinx read every chapter again
  instead of reusing its pickled doctrees.

The key is :func:`bayesdl.config.build_key`.

**Maths that renders offline.** Sphinx loads MathJax from a CDN by default,
so a page opened without a network shows raw LaTeX. The extension points
``mathjax_path`` at a copy of MathJax 3 inside the site
(``_static/mathjax/tex-chtml.js``) and copies the files it needs (the TeX
input with its extensions, the CommonHTML output with its fonts, the menu)
from the pip package ``django-static-mathjax``, which holds the unmodified
npm release of MathJax 3.2.2 (``mathjax-full``) and nothing else that we use.
The book's macros stay in ``mathjax3_config`` in ``_config.yml``. The same
extension tells myst-nb not to add its CDN scripts for ipywidgets, and keeps
sphinx-thebe (live code through Binder, which needs a network) off the pages.
MathJax's menu can switch a reader to the SVG renderer or turn on the
accessibility explorer, and it remembers that in the browser's storage for
every later page: the MathML input and the SVG output are shipped too, so
that every menu choice still typesets offline (see :data:`MENU_GUARD` for
the choices that a page opened from disk cannot keep).

**Old execution caches are pruned.** Each edit of the package gives a new
build key and so a new cache folder; only the :data:`KEEP_CACHES` most
recently used per profile are kept, the one in use always among them.

**Each chapter as a notebook.** :mod:`bookbuild.notebook_pages` offers every
executed chapter's notebook in the page's download menu, and a zip of them
all; this extension registers its hooks.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from bayesdl import __version__, config

from . import notebook_pages

#: Where the pages load MathJax from, relative to the site's ``_static``.
MATHJAX_PATH = "mathjax/tex-chtml.js"

#: What ``tex-chtml.js`` loads at run time, relative to MathJax's ``es5``:
#: TeX extensions (autoloaded by macro), fonts, the menu and its a11y parts.
#: The MathML input and the SVG output are loaded only when a reader picks
#: the menu's accessibility explorer or its SVG renderer (issue 21, M3).
_MATHJAX_PARTS = (
    "tex-chtml.js",
    "input/tex/extensions",
    "input/mml.js",
    "input/mml",
    "output/chtml",
    "output/svg.js",
    "output/svg",
    "ui",
    "a11y",
    "sre",
    "adaptors",
)

#: Runs on every page before MathJax starts. Three of the menu's choices
#: (the explorer, collapsible maths, assistive MathML) enrich the maths with
#: the speech rule engine, which reads its rules (``sre/mathmaps/*.json``)
#: with an XMLHttpRequest; a browser refuses that on a page opened from disk
#: (``file:``), and MathJax then typesets nothing on any later page. Opened
#: from disk, the site forgets those three choices; served over http(s) it
#: keeps them, and the files they need are shipped.
MENU_GUARD = """(function () {
  if (location.protocol !== "file:") return;
  try {
    var key = "MathJax-Menu-Settings";
    var settings = JSON.parse(localStorage.getItem(key) || "{}");
    var changed = false;
    ["explorer", "collapsible", "assistiveMml"].forEach(function (name) {
      if (settings[name]) { delete settings[name]; changed = true; }
    });
    if (changed) localStorage.setItem(key, JSON.stringify(settings));
  } catch (e) {}
})();"""

#: How many execution caches each profile keeps (the one in use included).
KEEP_CACHES = 3

_CACHE_NAME = re.compile(r"^(?P<profile>[a-z]+)-[0-9a-f]{16}$")


def mathjax_source() -> Path:
    """The folder of MathJax's browser components (``es5``), as installed.

    Example::

        >>> (mathjax_source() / "tex-chtml.js").is_file()
        True

    Raises a ``RuntimeError`` that says how to install it when it is missing.
    """
    try:
        root = Path(str(resources.files("mathjax"))) / "static" / "mathjax" / "es5"
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / "tex-chtml.js").is_file():
        raise RuntimeError(
            "MathJax is not installed, so the book's maths could not be shipped "
            "with the site: run `pip install -r requirements.txt` (it installs "
            "MathJax 3 from the PyPI package django-static-mathjax)."
        )
    return root


def _copy_if_changed(src: Path, dst: Path) -> None:
    """Copy a file or folder, skipping files whose size and mtime match."""
    if src.is_dir():
        for item in src.rglob("*"):
            if item.is_file():
                _copy_if_changed(item, dst / item.relative_to(src))
        return
    if dst.is_file():
        a, b = src.stat(), dst.stat()
        if a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime):
            return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def prune_caches(root: Path, key: str, keep: int = KEEP_CACHES) -> list[Path]:
    """Delete all but the ``keep`` most recently used caches of ``key``'s profile.

    ``root`` holds one folder per build key (``<profile>-<hash>``); the one
    of ``key`` is marked as just used and never deleted, and folders of other
    profiles or with other names are left alone. Returns what was deleted.

    Example::

        >>> prune_caches(Path("_build/.jupyter_cache"), "smoke-0123456789abcdef")
        []
    """
    match = _CACHE_NAME.match(key)
    if not match or not root.is_dir():
        return []
    current = root / key
    if current.is_dir():
        os.utime(current)  # in use: the most recent
    same = []
    for path in root.iterdir():
        found = _CACHE_NAME.match(path.name)
        if (
            path.is_dir()
            and not path.is_symlink()
            and path.name != key
            and found
            and found["profile"] == match["profile"]
        ):
            same.append(path)
    same.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for path in same[max(keep - 1, 0) :]:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _on_config_inited(app: Any, cfg: Any) -> None:
    key = config.build_key()
    cfg.bayesdl_build_key = key
    if not cfg.nb_execution_cache_path:
        root = Path(app.outdir).parent / ".jupyter_cache"
        cfg.nb_execution_cache_path = str((root / key).resolve())
        prune_caches(root, key)
    # MathJax from the site itself, unless the book asks for another copy.
    if "://" in (cfg.mathjax_path or "://"):
        cfg.mathjax_path = MATHJAX_PATH
    # myst-nb would load require.js and the widget manager from CDNs on a page
    # with widget state; the book shows no widgets.
    cfg.nb_ipywidgets_js = {}
    # The theme logs a console error on a first visit unless a mode is set.
    cfg.html_context.setdefault("default_mode", "auto")
    # sphinx-thebe, which Jupyter Book always loads, writes thebe's address on
    # unpkg and a Binder configuration into every page (its script twice, a
    # console error). Live code needs Binder online; the book has no button.
    for event in ("env-before-read-docs", "doctree-resolved"):
        for listener in list(app.events.listeners.get(event, ())):
            handler = listener.handler
            if getattr(handler, "__module__", "") == "sphinx_thebe" and (
                handler.__name__ in ("init_thebe_core", "update_thebe_context")
            ):
                app.disconnect(listener.id)


def _on_builder_inited(app: Any) -> None:
    if app.builder.format != "html" or app.config.mathjax_path != MATHJAX_PATH:
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        _copy_if_changed(source / part, target / part)
    for name in ("LICENSE",):
        _copy_if_changed(source.parent / name, target / name)


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    # "env": a change of this value makes Sphinx re-read every document.
    app.add_config_value("bayesdl_build_key", "", "env")
    # Run after myst-nb's own config handlers, before the builder starts.
    app.connect("config-inited", _on_config_inited, priority=900)
    app.connect("builder-inited", _on_builder_inited)
    app.add_js_file(None, body=MENU_GUARD, priority=200)
    # Before sphinx-book-theme builds its download menu (priority 501).
    app.connect("html-page-context", notebook_pages.on_html_page_context, priority=500)
    app.connect("build-finished", notebook_pages.on_build_finished)
    return {
        "version": __version__,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
