"""Plots of a classifier: its confidence over the plane, its calibration, its
uncertainty, and what refusing the most uncertain inputs buys.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from matplotlib.axes import Axes

from .. import checks
from ._axes import _finite, new_axes

__all__ = [
    "probability_map",
    "reliability_diagram",
    "selective_prediction",
    "uncertainty_histograms",
]


def probability_map(
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    extent: float = 6.0,
    resolution: int = 200,
    ax: Axes | None = None,
) -> Axes:
    """Colour the plane by a classifier's confidence, with the data on top.

    ``predict`` maps points of shape (M, 2) to logits or probabilities of
    shape (M, C); the colour is the largest class probability (logits are
    passed through a softmax when the rows do not already sum to one).

    Example::

        ax = probability_map(net, x, y, extent=8.0)
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (N, 2), got {got}.")
    _finite("x", x)
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
        raise ValueError(f"y must be a tensor of shape ({x.shape[0]},).")
    extent = checks.positive_float("extent", extent)
    if checks.positive_int("resolution", resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}.")
    ax = new_axes(ax, figsize=(5.5, 4.5))
    grid = torch.linspace(-extent, extent, resolution)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
    with torch.no_grad():
        out = predict(points.to(x.device)).detach().cpu()
    _finite("predict(points)", out)
    if (
        not torch.allclose(out.sum(-1), torch.ones(len(out)), atol=1e-4)
        or (out < 0).any()
    ):
        out = out.softmax(-1)
    conf = out.max(-1).values.reshape(resolution, resolution)
    k = out.shape[-1]
    mesh = ax.pcolormesh(
        gx.numpy(),
        gy.numpy(),
        conf.numpy(),
        cmap="viridis",
        vmin=1.0 / k,
        vmax=1.0,
        shading="auto",
    )
    ax.figure.colorbar(mesh, ax=ax, label="confidence (max. class probability)")
    xs, ys = x.detach().cpu(), y.detach().cpu()
    for c, marker in zip(ys.unique().tolist(), "os^v<>", strict=False):
        sel = ys == c
        ax.scatter(
            xs[sel, 0],
            xs[sel, 1],
            s=10,
            marker=marker,
            edgecolor="black",
            linewidth=0.3,
            label=f"class {c}",
        )
    ax.set(
        xlim=(-extent, extent), ylim=(-extent, extent), xlabel="$x_1$", ylabel="$x_2$"
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def reliability_diagram(
    probs: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_bins: int = 15,
    label: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Accuracy against confidence per confidence bin, with the diagonal.

    ``probs`` are predictive probabilities (N, C) or samples of them
    (S, N, C); the bins are those of
    :func:`bayesdl.metrics.calibration_bins`. Points below the diagonal are
    over-confident. Call it twice on one ``ax`` to compare two models.

    Example::

        ax = reliability_diagram(bnn_probs, labels, label="BNN")
        reliability_diagram(det_probs, labels, label="deterministic", ax=ax)
    """
    from ..metrics import calibration_bins, expected_calibration_error

    conf, acc, count = calibration_bins(probs, labels, num_bins)
    ece = expected_calibration_error(probs, labels, num_bins)
    ax = new_axes(ax, figsize=(4.5, 4.5))
    if not ax.lines:
        ax.plot(
            [0, 1],
            [0, 1],
            color="grey",
            linestyle="--",
            linewidth=1,
            label="perfect calibration",
        )
    full = count > 0
    name = f"{label} (ECE {ece:.4f})" if label else f"ECE {ece:.4f}"
    ax.plot(conf[full].numpy(), acc[full].numpy(), marker="o", markersize=4, label=name)
    ax.set(
        xlabel="confidence (largest predictive probability)",
        ylabel="accuracy",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
    )
    ax.legend(loc="upper left", fontsize=8)
    return ax


def uncertainty_histograms(
    values: dict[str, torch.Tensor],
    *,
    xlabel: str = "predictive entropy (nats)",
    bins: int = 40,
    log: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Overlaid histograms of an uncertainty for several data sets.

    ``values`` maps a legend label (e.g. ``"MNIST"``) to a 1-d tensor of
    per-example uncertainties; all share one set of bins. ``log`` puts the
    counts on a log scale, which shows the tails.

    Example::

        ax = uncertainty_histograms({"MNIST": h_in, "Fashion-MNIST": h_out})
    """
    if not values:
        raise ValueError("values must name at least one data set.")
    bins = checks.positive_int("bins", bins)
    arrays = {}
    for name, v in values.items():
        if not isinstance(v, torch.Tensor) or v.ndim != 1 or len(v) == 0:
            raise ValueError(f"values[{name!r}] must be a non-empty 1-d tensor.")
        arrays[name] = _finite(f"values[{name!r}]", v.double())
    hi = max(float(a.max()) for a in arrays.values())
    lo = min(float(a.min()) for a in arrays.values())
    edges = torch.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1).numpy()
    ax = new_axes(ax, figsize=(5.5, 3.5))
    for name, a in arrays.items():
        ax.hist(a, bins=edges, alpha=0.55, label=name, log=log)
    ax.set(xlabel=xlabel, ylabel="number of images")
    ax.legend(fontsize=8)
    return ax


def selective_prediction(
    rejected: torch.Tensor,
    accuracies: dict[str, torch.Tensor],
    *,
    ax: Axes | None = None,
) -> Axes:
    """Accuracy on the kept examples against the share refused, one line each.

    ``accuracies`` maps a label to the output of
    :func:`bayesdl.metrics.selective_accuracy` for the shares ``rejected``.

    Example::

        shares = torch.linspace(0, 0.5, 51)
        acc = selective_accuracy(probs, labels, entropy(probs), shares)
        ax = selective_prediction(shares, {"BNN, entropy": acc})
    """
    rejected = _finite("rejected", rejected)
    curves = {}
    for name, acc in accuracies.items():
        curves[name] = _finite(f"accuracies[{name!r}]", acc)
        if curves[name].shape != rejected.shape:
            raise ValueError(
                f"accuracies[{name!r}] has shape {curves[name].shape}, "
                f"rejected has {rejected.shape}."
            )
    ax = new_axes(ax, figsize=(5.0, 3.5))
    for name, acc in curves.items():
        ax.plot(100 * rejected, 100 * acc, label=name)
    ax.set(
        xlabel="images refused, most uncertain first (%)",
        ylabel="accuracy on the rest (%)",
    )
    ax.legend(fontsize=8)
    return ax
