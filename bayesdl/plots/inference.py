"""Plots of inference: a loss curve, posterior marginals, a predictive band
and the ellipse of a two-dimensional Gaussian.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes

from .. import checks
from ._axes import _finite, _numpy_1d, new_axes

__all__ = ["gaussian_ellipse", "loss_curve", "posterior_marginals", "predictive_band"]


def loss_curve(
    losses: Sequence[float] | torch.Tensor,
    *,
    label: str | None = None,
    window: int | None = None,
    start: int = 0,
    yscale: str = "linear",
    ax: Axes | None = None,
) -> Axes:
    """Plot a loss history: every step faintly, a running mean on top.

    ``window`` is the running mean's width in steps (default: a fiftieth of
    the run, at least one); ``start`` drops the first steps, whose large
    losses would otherwise squash the rest; ``yscale`` is any matplotlib
    scale (``"symlog"`` suits losses that span orders of magnitude).

    Example::

        fit = fit_svi(model, guide, x, y, num_steps=2000)
        ax = loss_curve(fit.losses, label="AutoNormal", start=100)
    """
    values = _numpy_1d("losses", losses)
    if checks.non_negative_int("start", start) >= values.size:
        raise ValueError(f"start must be in [0, {values.size}), got {start!r}.")
    if window is None:
        window = max(1, values.size // 50)
    window = checks.positive_int("window", window)
    ax = new_axes(ax, figsize=(6.0, 3.5))
    steps = np.arange(values.size)
    line = ax.plot(steps[start:], values[start:], lw=0.5, alpha=0.35)[0]
    if window > 1 and values.size >= window:
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        x_smooth = steps[window - 1 :]
        keep = x_smooth >= start
        ax.plot(
            x_smooth[keep], smooth[keep], color=line.get_color(), lw=1.5, label=label
        )
    else:
        line.set_label(label)
    ax.set(xlabel="step", ylabel="loss (negative ELBO)", yscale=yscale)
    if label is not None:
        ax.legend()
    return ax


def posterior_marginals(
    samples: Mapping[str, torch.Tensor] | None = None,
    *,
    normals: Mapping[str, tuple[float, float]] | None = None,
    bins: int = 40,
    xlabel: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Compare marginal posteriors of one scalar: histograms and normal curves.

    ``samples`` maps a label to draws of the scalar (any shape, flattened);
    ``normals`` maps a label to the ``(mean, sd)`` of a normal density (an
    exact posterior, a Gaussian guide's marginal). Each entry is drawn in
    its own colour and labelled.

    Example::

        ax = posterior_marginals(
            {"NUTS": nuts.flat("weight")},
            normals={"exact": (0.84, 0.05)},
            xlabel="slope",
        )
    """
    samples, normals = dict(samples or {}), dict(normals or {})
    if not samples and not normals:
        raise ValueError("give at least one entry in samples or normals.")
    bins = checks.positive_int("bins", bins)
    drawn = {k: _numpy_1d(f"samples[{k!r}]", v) for k, v in samples.items()}
    normals = {
        k: (
            checks.finite_float(f"the mean of normals[{k!r}]", mu),
            checks.positive_float(f"the sd of normals[{k!r}]", sd),
        )
        for k, (mu, sd) in normals.items()
    }
    lows = [np.quantile(v, 0.001) for v in drawn.values()]
    highs = [np.quantile(v, 0.999) for v in drawn.values()]
    lows += [mu - 4 * sd for mu, sd in normals.values()]
    highs += [mu + 4 * sd for mu, sd in normals.values()]
    lo, hi = min(lows), max(highs)
    ax = new_axes(ax)
    edges = np.linspace(lo, hi, bins + 1)
    for k, v in drawn.items():
        ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.35, label=k)
    grid = np.linspace(lo, hi, 400)
    for k, (mu, sd) in normals.items():
        dens = np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        ax.plot(grid, dens, lw=1.8, label=k)
    ax.set(xlabel=xlabel, ylabel="density")
    ax.legend(fontsize=8)
    return ax


def predictive_band(
    x: torch.Tensor,
    samples: torch.Tensor,
    *,
    level: float = 0.9,
    x_obs: torch.Tensor | None = None,
    y_obs: torch.Tensor | None = None,
    label: str = "predictive mean",
    ax: Axes | None = None,
) -> Axes:
    """Draw a predictive mean and its central ``level`` band over inputs ``x``.

    ``x`` has shape (M,) and ``samples`` shape (S, M): S draws of the
    prediction at each input (e.g. ``Predictive(...)(x)["obs"]``). Observed
    points ``x_obs``, ``y_obs`` are drawn on top when given.

    Example::

        draws = Predictive(model, guide=guide, num_samples=500)(x_grid)
        ax = predictive_band(x_grid, draws["obs"], x_obs=x, y_obs=y)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    xs = _numpy_1d("x", x)
    draws = _finite("samples", samples)
    if draws.ndim < 2 or draws.shape[-1] != xs.size:
        raise ValueError(
            f"samples must have shape (S, {xs.size}) to match x, got "
            f"{tuple(draws.shape)}."
        )
    draws = draws.reshape(-1, xs.size)
    if (x_obs is None) != (y_obs is None):
        raise ValueError("give both x_obs and y_obs, or neither.")
    order = np.argsort(xs)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    ax = new_axes(ax, figsize=(6.0, 4.0))
    band = f"{100 * level:g}% predictive interval"
    ax.fill_between(xs[order], lo[order], hi[order], alpha=0.3, label=band)
    ax.plot(xs[order], draws.mean(0)[order], lw=2, label=label)
    if x_obs is not None:
        xo, yo = _numpy_1d("x_obs", x_obs), _numpy_1d("y_obs", y_obs)
        ax.scatter(xo, yo, s=10, color="black", label="data", zorder=3)
    ax.set(xlabel="$x$", ylabel="$y$")
    ax.legend(fontsize=8)
    return ax


def gaussian_ellipse(
    mean: torch.Tensor,
    cov: torch.Tensor,
    *,
    level: float = 0.9,
    label: str | None = None,
    ax: Axes | None = None,
    **style,
) -> Axes:
    """Draw the contour of a 2-D Gaussian that holds ``level`` of its mass.

    The contour is :math:`\\{z : (z-m)^\\top C^{-1} (z-m) = r^2\\}` with
    :math:`r^2 = -2 \\log(1 - \\mathrm{level})`, the ``level`` quantile of a
    chi-square with two degrees of freedom; the mean is marked with a cross.
    ``style`` goes to ``ax.plot``.

    Example::

        post = conjugate_posterior(x, y, prior_scale=10.0, noise_scale=0.5)
        ax = gaussian_ellipse(post.mean, post.covariance_matrix, label="exact")
    """
    mean = torch.as_tensor(mean, dtype=torch.float64).detach().cpu()
    cov = torch.as_tensor(cov, dtype=torch.float64).detach().cpu()
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(
            f"mean must have shape (2,) and cov (2, 2), got {tuple(mean.shape)} "
            f"and {tuple(cov.shape)}."
        )
    _finite("mean", mean)
    _finite("cov", cov)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    chol, info = torch.linalg.cholesky_ex(cov)
    if info.item() != 0 or not torch.allclose(cov, cov.T):
        raise ValueError("cov must be symmetric positive definite.")
    radius = math.sqrt(-2.0 * math.log1p(-level))
    t = torch.linspace(0, 2 * math.pi, 200, dtype=torch.float64)
    curve = mean[:, None] + radius * chol @ torch.stack([t.cos(), t.sin()])
    ax = new_axes(ax)
    (line,) = ax.plot(curve[0].numpy(), curve[1].numpy(), label=label, **style)
    ax.plot([mean[0].item()], [mean[1].item()], "+", ms=8, color=line.get_color())
    if label is not None:
        ax.legend(fontsize=8)
    return ax
