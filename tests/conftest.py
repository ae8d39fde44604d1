"""Shared test setup: a fresh, seeded Pyro state before every test."""

from __future__ import annotations

import matplotlib

# Draw off-screen in this process; chapters' kernels keep their own inline
# backend (an MPLBACKEND set here would reach them and stop their figures).
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import bayesdl  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_state():
    """Seed everything, clear the param store and turn on validation."""
    bayesdl.setup(seed=0)
    yield
    plt.close("all")


@pytest.fixture
def smoke(monkeypatch):
    """Run the test in the smoke profile."""
    monkeypatch.setenv("BAYESDL_PROFILE", "smoke")
    return "smoke"
