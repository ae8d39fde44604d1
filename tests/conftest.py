"""Shared test setup: a fresh, seeded Pyro state before every test."""

from __future__ import annotations

import matplotlib

# Draw off-screen in this process; chapters' kernels keep their own inline
# backend (an MPLBACKEND set here would reach them and stop their figures).
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import bayesdl  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_artifact_cache(tmp_path_factory):
    """Train into a temporary cache, never into the user's real one.

    The verified data (BAYESDL_DATA) is shared: it is read-only here.
    """
    import os

    folder = tmp_path_factory.mktemp("artifacts")
    previous = os.environ.get("BAYESDL_CACHE")
    os.environ["BAYESDL_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("BAYESDL_CACHE", None)
    else:
        os.environ["BAYESDL_CACHE"] = previous


@pytest.fixture(autouse=True)
def _fresh_state():
    """Seed everything, clear the param store and turn on validation."""
    bayesdl.setup(seed=0)
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def real_root():
    """The real data folder, with both datasets fetched and verified (read-only)."""
    from bayesdl import config, data

    root = config.data_dir()
    for name in data.NAMES:
        data.fetch(name, root)
    return root


@pytest.fixture
def smoke(monkeypatch):
    """Run the test in the smoke profile."""
    monkeypatch.setenv("BAYESDL_PROFILE", "smoke")
    return "smoke"
