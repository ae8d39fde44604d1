"""Plot helpers: each takes ax=None, returns the Axes, and rejects bad input."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes

from bayesdl import plots


def test_loss_curve_draws_raw_and_smoothed():
    losses = [100.0 / (i + 1) + 0.1 * math.sin(i) for i in range(200)]
    ax = plots.loss_curve(losses, label="fit", yscale="log", start=10)
    assert isinstance(ax, Axes)
    raw, smooth = ax.lines
    assert raw.get_xdata()[0] == 10
    assert smooth.get_label() == "fit"
    assert ax.get_yscale() == "log"
    _, given = plt.subplots()
    assert plots.loss_curve(torch.tensor(losses), ax=given) is given


@pytest.mark.parametrize(
    "kwargs, message",
    [({"start": 200}, "start must be in"), ({"window": 0}, "window must be")],
)
def test_loss_curve_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.loss_curve([1.0] * 200, **kwargs)
    with pytest.raises(ValueError, match="losses is empty"):
        plots.loss_curve([])


def test_posterior_marginals_samples_and_normals():
    draws = torch.randn(1000, 1)
    ax = plots.posterior_marginals(
        {"draws": draws}, normals={"exact": (0.0, 1.0)}, xlabel="w"
    )
    assert len(ax.patches) == 1 and len(ax.lines) == 1
    grid, dens = ax.lines[0].get_data()
    peak = dens.max()
    assert peak == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-3)
    assert ax.get_xlabel() == "w"
    with pytest.raises(ValueError, match="at least one entry"):
        plots.posterior_marginals()
    with pytest.raises(
        ValueError, match=r"the sd of normals\[.bad.\] must be a positive"
    ):
        plots.posterior_marginals(normals={"bad": (0.0, 0.0)})


def test_predictive_band_quantiles_and_data():
    x = torch.linspace(0, 1, 20)
    draws = x + 0.1 * torch.randn(4000, 20)
    ax = plots.predictive_band(x.flip(0), draws.flip(-1), level=0.9, x_obs=x, y_obs=x)
    band = ax.collections[0].get_paths()[0].vertices
    width = band[:, 1].max() - band[:, 1].min()
    assert width > 1.0  # spans the line from 0 to 1 plus the band
    mean_x, mean_y = ax.lines[0].get_data()
    assert np.all(np.diff(mean_x) > 0)  # sorted by x
    np.testing.assert_allclose(mean_y, np.asarray(x), atol=0.02)
    assert len(ax.collections) == 2  # band and data


def test_predictive_band_rejects_bad_input():
    x = torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match=r"samples must have shape \(S, 5\)"):
        plots.predictive_band(x, torch.zeros(10, 4))
    with pytest.raises(ValueError, match="level must be in"):
        plots.predictive_band(x, torch.zeros(10, 5), level=1.0)
    with pytest.raises(ValueError, match="both x_obs and y_obs"):
        plots.predictive_band(x, torch.zeros(10, 5), x_obs=x)


def test_gaussian_ellipse_lies_on_the_level_contour():
    mean = torch.tensor([1.0, -2.0])
    cov = torch.tensor([[2.0, 0.9], [0.9, 1.0]])
    ax = plots.gaussian_ellipse(mean, cov, level=0.9, label="q")
    xs, ys = ax.lines[0].get_data()
    d = torch.tensor(np.stack([xs, ys], -1)) - mean.double()
    r2 = (d @ torch.linalg.inv(cov.double()) * d).sum(-1)
    np.testing.assert_allclose(r2.numpy(), -2 * math.log(0.1), rtol=1e-6)
    assert ax.lines[1].get_xdata()[0] == pytest.approx(1.0)  # the mean's cross


def test_gaussian_ellipse_rejects_bad_input():
    with pytest.raises(ValueError, match=r"mean must have shape \(2,\)"):
        plots.gaussian_ellipse(torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="positive definite"):
        plots.gaussian_ellipse(torch.zeros(2), -torch.eye(2))
    with pytest.raises(ValueError, match="level must be in"):
        plots.gaussian_ellipse(torch.zeros(2), torch.eye(2), level=0.0)


# --------------------------------------------------------------------------
# Failure 11 of issue 7: uint8 images and NaN were drawn without a word.

NAN = float("nan")


def test_image_grid_rejects_uint8_and_nan():
    pixels = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"uint8 pixels use images.float\(\) / 255"):
        plots.image_grid(pixels)
    assert plots.image_grid(pixels.float() / 255).images  # the advice works
    with pytest.raises(ValueError, match=r"finite with values in \[0, 1\]"):
        plots.image_grid(torch.full((4, 28, 28), NAN))
    with pytest.raises(ValueError, match=r"finite with values in \[0, 1\]"):
        plots.image_grid(torch.rand(4, 28, 28) * 3)
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        plots.image_grid(torch.rand(4, 28, 28), ncols=0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plots.loss_curve([1.0, NAN, 0.5]), "losses must be finite"),
        (lambda: plots.loss_curve([1.0, float("inf")]), "1 NaN or infinite"),
        (lambda: plots.loss_curve([1.0, 2.0], start=True), "start must be"),
        (
            lambda: plots.predictive_band(
                torch.linspace(0, 1, 5), torch.full((9, 5), NAN)
            ),
            "samples must be finite",
        ),
        (
            lambda: plots.predictive_band(
                torch.linspace(0, 1, 5), torch.zeros(9, 5), x_obs=[NAN], y_obs=[0.0]
            ),
            "x_obs must be finite",
        ),
        (
            lambda: plots.posterior_marginals({"a": torch.tensor([0.1, NAN])}),
            r"samples\['a'\] must be finite",
        ),
        (
            lambda: plots.posterior_marginals(normals={"q": (NAN, 1.0)}),
            r"the mean of normals\['q'\] must be a finite number",
        ),
        (
            lambda: plots.uncertainty_histograms({"in": torch.tensor([0.1, NAN])}),
            r"values\['in'\] must be finite",
        ),
        (
            lambda: plots.gaussian_ellipse(torch.tensor([NAN, 0.0]), torch.eye(2)),
            "mean must be finite",
        ),
        (
            lambda: plots.selective_prediction(
                torch.tensor([0.0, 0.5]), {"a": torch.tensor([0.9, NAN])}
            ),
            r"accuracies\['a'\] must be finite",
        ),
        (
            lambda: plots.probability_map(
                lambda p: torch.ones(len(p), 2) / 2,
                torch.tensor([[NAN, 0.0]]),
                torch.tensor([0]),
            ),
            "x must be finite",
        ),
        (
            lambda: plots.probability_map(
                lambda p: torch.full((len(p), 2), NAN),
                torch.zeros(3, 2),
                torch.tensor([0, 1, 0]),
                resolution=4,
            ),
            r"predict\(points\) must be finite",
        ),
        (
            lambda: plots.probability_map(
                lambda p: p, torch.zeros(3, 2), torch.zeros(3), extent=float("inf")
            ),
            "extent must be a positive finite number",
        ),
        (
            lambda: plots.probability_map(
                lambda p: p, torch.zeros(3, 2), torch.zeros(3), resolution=1
            ),
            "resolution must be at least 2",
        ),
    ],
)
def test_plots_reject_nan_and_bad_sizes(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_probability_map_draws_a_confidence_mesh():
    x = torch.randn(20, 2)
    y = (x[:, 0] > 0).long()
    ax = plots.probability_map(
        lambda p: torch.stack([-p[:, 0], p[:, 0]], -1), x, y, extent=3.0, resolution=10
    )
    assert ax.collections[0].get_array().shape == (10, 10)
    assert ax.get_xlabel() == "$x_1$"
