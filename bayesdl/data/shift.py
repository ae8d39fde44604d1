"""Shifted inputs and synthetic out-of-distribution images.

Two tools for judging a classifier beyond its test accuracy:
:func:`rotate` turns images by an angle (the shift protocol of Ovadia et
al., 2019); :func:`synthetic_ood` draws images that are neither digits nor
clothes, from a seed. (The validation split on which choices are made is
:func:`bayesdl.data.splits.train_validation_split`.)

Example::

    x, y = load("mnist", "test")
    rotate(x[:4], 60).shape
    # torch.Size([4, 1, 28, 28])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import checks

__all__ = ["OOD_KINDS", "rotate", "synthetic_ood"]

OOD_KINDS = ("blobs", "uniform")
"""The synthetic sets of :func:`synthetic_ood`."""


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Images turned anticlockwise by ``degrees`` about their centre.

    Bilinear interpolation; what comes in from outside the frame is black
    (0). Turning by 90 degrees is ``torch.rot90(images, 1, (-2, -1))``.

    Example::

        rotate(test_x, 60)        # (N, 1, 28, 28), values in [0, 1]
    """
    checks.images(images)
    degrees = checks.finite_float("degrees", degrees)
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    # grid_sample maps each output pixel to the input position it reads;
    # reading at R(-theta) turns the picture by +theta (anticlockwise as
    # displayed, with rows running downwards).
    matrix = torch.tensor(
        [[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=images.dtype, device=images.device
    )
    grid = F.affine_grid(
        matrix.expand(len(images), 2, 3), list(images.shape), align_corners=False
    )
    out = F.grid_sample(images, grid, mode="bilinear", align_corners=False)
    return out.clamp(0.0, 1.0)


def synthetic_ood(n: int, *, seed: int = 0, kind: str = "blobs") -> torch.Tensor:
    """``n`` synthetic 28x28 images in [0, 1] that show nothing, from a seed.

    ``kind="uniform"``: every pixel uniform on [0, 1]. ``kind="blobs"``:
    white noise smoothed by a Gaussian of 2 pixels and scaled to fill
    [0, 1] per image, so that each image holds a few bright, soft shapes
    with the stroke width of a digit.

    Example::

        >>> synthetic_ood(100, seed=0).shape
        torch.Size([100, 1, 28, 28])
    """
    n = checks.positive_int("n", n)
    if kind not in OOD_KINDS:
        raise ValueError(f"kind must be one of {OOD_KINDS}, got {kind!r}.")
    gen = torch.Generator().manual_seed(checks.seed(seed))
    if kind == "uniform":
        return torch.rand(n, 1, 28, 28, generator=gen)
    noise = torch.randn(n, 1, 28 + 12, 28 + 12, generator=gen)
    r = torch.arange(-6, 7, dtype=torch.float32)
    g = torch.exp(-(r**2) / (2 * 2.0**2))
    kernel = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    smooth = F.conv2d(noise, kernel)  # (n, 1, 28, 28)
    low = smooth.amin(dim=(-2, -1), keepdim=True)
    high = smooth.amax(dim=(-2, -1), keepdim=True)
    return ((smooth - low) / (high - low)).clamp(0.0, 1.0)
