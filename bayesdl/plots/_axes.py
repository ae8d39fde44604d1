"""What every plot shares: a new Axes when none is given, and finite input."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

__all__ = ["new_axes"]


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    """Return ``ax`` or, when it is ``None``, the Axes of a new figure.

    Example::

        >>> ax = new_axes()
    """
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _finite(name: str, values: object) -> np.ndarray:
    """``values`` (a tensor, array or sequence of numbers) as a float array.

    ``ValueError`` when it is empty or holds NaN or an infinity, which a plot
    would otherwise leave out without a word.
    """
    try:
        arr = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=float)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must hold real numbers ({err}).") from err
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"{name} must be finite; it holds {bad} NaN or infinite values."
        )
    return arr


def _numpy_1d(name: str, values: object) -> np.ndarray:
    return _finite(name, values).reshape(-1)
