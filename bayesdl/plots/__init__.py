"""Plots used by the chapters. Every function takes ``ax=None`` and returns
the ``matplotlib`` Axes it drew on, so a figure can be composed from several.

They live in three modules (``classification``, ``inference``, ``images``)
and are all importable from here, e.g. ``bayesdl.plots.reliability_diagram``.
"""

from __future__ import annotations

from ._axes import new_axes
from .classification import (
    probability_map,
    reliability_diagram,
    selective_prediction,
    uncertainty_histograms,
)
from .images import image_grid, latent_map
from .inference import (
    gaussian_ellipse,
    loss_curve,
    posterior_marginals,
    predictive_band,
)

__all__ = [
    "gaussian_ellipse",
    "image_grid",
    "latent_map",
    "loss_curve",
    "new_axes",
    "posterior_marginals",
    "predictive_band",
    "probability_map",
    "reliability_diagram",
    "selective_prediction",
    "uncertainty_histograms",
]
