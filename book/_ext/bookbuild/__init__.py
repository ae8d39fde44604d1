"""What builds the book and nothing a reader imports: Sphinx extensions and exports.

This package lives in ``book/_ext/``, outside the readers' package
``bayesdl``, so it is neither installed with ``bayesdl`` nor part of the
chapters' execution key (editing it re-executes no chapter).
``_config.yml`` registers its Sphinx extensions through
``sphinx: local_extensions``, which puts ``book/_ext`` on ``sys.path``:

* :mod:`bookbuild.sphinxext`: the execution cache keyed on the profile and
  the readers' package, MathJax shipped with the site, and the hooks of
  :mod:`bookbuild.notebook_pages` (each chapter as a notebook, converted by
  :mod:`bookbuild.nbexport`);
* :mod:`bookbuild.bibstyle`: author-year labels for the bibliography;
* :mod:`bookbuild.pdf`: the built site printed as one PDF
  (``python -m bayesdl pdf`` from a checkout).
"""
