"""Plots of images and of the codes a generative model gives them."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torchvision.utils import make_grid

from .. import checks
from ._axes import _finite, new_axes

__all__ = ["image_grid", "latent_map"]


def image_grid(
    images: torch.Tensor,
    captions: list[str] | None = None,
    *,
    ncols: int = 8,
    ax: Axes | None = None,
) -> Axes:
    """Show gray-scale images (N, 1, H, W) or (N, H, W) as one tiled picture.

    ``captions`` (one short string per image) are written above each tile.

    Example::

        ax = image_grid(images[:16], [f"{p:.2f}" for p in conf[:16]])
    """
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        raise ValueError("images must be a tensor of shape (N, 1, H, W) or (N, H, W).")
    if not images.is_floating_point():
        raise ValueError(
            "images must be floating point with values in [0, 1], got dtype "
            f"{images.dtype}; for uint8 pixels use images.float() / 255."
        )
    if images.numel() and not (
        torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    ):
        raise ValueError("images must be finite with values in [0, 1].")
    ncols = checks.positive_int("ncols", ncols)
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images must have one channel, got {images.shape[1]}.")
        images = images[:, 0]
    n, h, w = images.shape
    if n == 0:
        raise ValueError("need at least one image.")
    if captions is not None and len(captions) != n:
        raise ValueError(f"got {len(captions)} captions for {n} images.")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    pad = 2
    top = 10 if captions is not None else pad  # room for a caption above a tile
    # torchvision tiles the images with `pad` pixels between and around them;
    # padding each image above first leaves room for its caption.
    tiles = F.pad(images.detach().float().cpu(), (0, 0, top - pad, 0))
    canvas = make_grid(tiles[:, None], nrow=ncols, padding=pad, pad_value=0.0)[0]
    ax = new_axes(ax, figsize=(1.2 * ncols, 1.45 * nrows + 0.2))
    ax.imshow(canvas.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    for i, text in enumerate(captions or []):
        r, c = divmod(i, ncols)
        ax.text(
            pad + c * (w + pad) + w / 2,
            top + r * (h + top) - 1,
            text,
            ha="center",
            va="bottom",
            fontsize=7,
        )
    for r in range(nrows):  # thin frames so that white digits edges show
        for c in range(min(ncols, n - r * ncols)):
            ax.add_patch(
                plt.Rectangle(
                    (pad + c * (w + pad) - 0.5, top + r * (h + top) - 0.5),
                    w,
                    h,
                    fill=False,
                    linewidth=0.4,
                    edgecolor="0.7",
                )
            )
    ax.set_axis_off()
    return ax


def latent_map(
    codes: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str] | None = None,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Scatter 2-D latent codes (N, 2), one colour per class, with a legend.

    ``labels`` are the N integer classes; ``class_names`` (one per class)
    name them in the legend.

    Example::

        loc, _ = vae.encode(test_images)
        ax = latent_map(loc[:, :2], test_labels, ["T-shirt", ...])
    """
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError("codes must be a tensor of shape (N, 2).")
    _finite("codes", codes)
    num_classes = len(class_names) if class_names is not None else 2**62
    labels = checks.labels(labels, len(codes), num_classes=num_classes)
    points = codes.detach().cpu().double().numpy()
    classes = labels.cpu().numpy()
    ax = new_axes(ax, figsize=(6.0, 5.0))
    cmap = plt.get_cmap("tab10")
    for c in np.unique(classes):
        keep = classes == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(
            points[keep, 0],
            points[keep, 1],
            s=2,
            alpha=0.5,
            color=cmap(int(c) % 10),
            label=name,
            rasterized=True,
        )
    ax.set(xlabel="first coordinate", ylabel="second coordinate")
    ax.legend(fontsize=7, markerscale=4, loc="best", framealpha=0.8)
    return ax
