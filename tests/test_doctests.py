"""Every ``>>>`` example in the package's docstrings runs and shows what it says.

Examples that need objects they do not build (a trained network, a batch of
images) are written as prose, without prompts; the rest run here, in the
smoke profile and the tests' private artifact cache, so that an example that
trains a model trains a small one and never touches the user's cache.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bayesdl
import benchmarks
import bookbuild


def _modules(package) -> list[str]:
    """``package`` and every module in it, by name."""
    prefix = package.__name__ + "."
    return [package.__name__] + sorted(
        m.name for m in pkgutil.walk_packages(package.__path__, prefix)
    )


# The benchmarks and the book's build tools live beside the package, in the
# checkout (benchmarks/, book/_ext/bookbuild/); their examples run too.
MODULES = [
    name
    for package in (bayesdl, benchmarks, bookbuild)
    for name in _modules(package)
    if name != "bayesdl.__main__"
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, smoke, monkeypatch):
    # Restores the profile after an example that sets it (config.profile's).
    monkeypatch.setenv("BAYESDL_PROFILE", "smoke")
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
