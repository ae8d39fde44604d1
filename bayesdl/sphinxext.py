"""A Sphinx extension that keeps the book's execution cache honest.

Jupyter Book caches executed notebooks keyed on the text of their cells only,
so a change in ``bayesdl`` (which the cells import) or in ``BAYESDL_PROFILE``
would otherwise be served the outputs of the old code or of the other
profile. This extension, listed in ``_config.yml``'s ``extra_extensions``:

* points myst-nb's execution cache at a folder of its own per build key
  (``_build/.jupyter_cache/<profile>-<source hash>``), so outputs executed
  under one key are never served under another (a smoke build's outputs never
  reach a full build);
* records the key as a Sphinx configuration value that invalidates the
  environment, so a changed key makes Sphinx read every chapter again
  instead of reusing its pickled doctrees.

The key is :func:`bayesdl.config.build_key`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import __version__, config


def _on_config_inited(app: Any, cfg: Any) -> None:
    key = config.build_key()
    cfg.bayesdl_build_key = key
    if not cfg.nb_execution_cache_path:
        root = Path(app.outdir).parent / ".jupyter_cache"
        cfg.nb_execution_cache_path = str((root / key).resolve())


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    # "env": a change of this value makes Sphinx re-read every document.
    app.add_config_value("bayesdl_build_key", "", "env")
    # Run after myst-nb's own config handlers, before the builder starts.
    app.connect("config-inited", _on_config_inited, priority=900)
    return {
        "version": __version__,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
