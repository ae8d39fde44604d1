"""Plots used by the chapters. Every function takes ``ax=None`` and returns
the ``matplotlib`` Axes it drew on, so a figure can be composed from several.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes

__all__ = ["new_axes", "probability_map"]


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    """Return ``ax`` or, when it is ``None``, the Axes of a new figure.

    Example::

        >>> ax = new_axes()
    """
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


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

        >>> ax = probability_map(net, x, y, extent=8.0)
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {tuple(x.shape)}.")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}.")
    if not extent > 0 or resolution < 2:
        raise ValueError("extent must be positive and resolution at least 2.")
    ax = new_axes(ax, figsize=(5.5, 4.5))
    grid = torch.linspace(-extent, extent, resolution)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
    with torch.no_grad():
        out = predict(points.to(x.device)).detach().cpu()
    if not torch.allclose(out.sum(-1), torch.ones(len(out)), atol=1e-4) or (out < 0).any():
        out = out.softmax(-1)
    conf = out.max(-1).values.reshape(resolution, resolution)
    k = out.shape[-1]
    mesh = ax.pcolormesh(
        gx.numpy(), gy.numpy(), conf.numpy(), cmap="viridis", vmin=1.0 / k, vmax=1.0,
        shading="auto",
    )
    ax.figure.colorbar(mesh, ax=ax, label="confidence (max. class probability)")
    xs, ys = x.detach().cpu(), y.detach().cpu()
    for c, marker in zip(ys.unique().tolist(), "os^v<>", strict=False):
        sel = ys == c
        ax.scatter(
            xs[sel, 0], xs[sel, 1], s=10, marker=marker, edgecolor="black",
            linewidth=0.3, label=f"class {c}",
        )
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel="$x_1$", ylabel="$x_2$")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    return ax
