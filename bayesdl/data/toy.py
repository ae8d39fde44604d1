"""Small seeded data sets for the first chapters, and seeded subsets.

Every function takes a ``seed`` and returns the same tensors for the same
seed, on any machine.

Example::

    >>> x, y = toy_regression(50, seed=1)
    >>> x.shape, y.shape
    (torch.Size([50]), torch.Size([50]))
"""

from __future__ import annotations

import math

import torch

from .. import checks

__all__ = ["subset", "toy_classification", "toy_regression", "toy_sine"]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(checks.seed(seed))


def _count(n: object, minimum: int) -> int:
    n = checks.positive_int("n", n)
    if n < minimum:
        raise ValueError(f"n must be at least {minimum}, got {n}.")
    return n


def _noise(value: object) -> float:
    value = checks.finite_float("noise", value)
    if value < 0:
        raise ValueError(f"noise must not be negative, got {value}.")
    return value


def subset(
    images: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    seed: int = 0,
    *,
    stratify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of ``n`` examples, class-stratified by default.

    With ``stratify=True`` each class keeps its share of the data (largest
    remainders round the shares to whole examples); otherwise the ``n``
    examples are drawn uniformly without replacement. The subset keeps the
    original order. This is how smoke runs shrink the data::

        from bayesdl.config import choose
        x, y = load("mnist", "train")
        xs, ys = subset(x, y, choose(full=len(x), smoke=500))
    """
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError("images and labels must be tensors.")
    if labels.dim() != 1 or len(images) != len(labels):
        raise ValueError(
            f"labels must be 1-D and as long as images; got {len(images)} images "
            f"and labels of shape {tuple(labels.shape)}."
        )
    total = len(labels)
    n = checks.positive_int("n", n)
    if n > total:
        raise ValueError(f"n={n} is more than the {total} examples given.")
    order = torch.randperm(total, generator=_generator(seed))
    if stratify:
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError("stratify=True needs integer class labels.")
        shuffled = labels[order]
        classes, counts = torch.unique(shuffled, return_counts=True)
        counts = counts.tolist()
        quota = [n * c // total for c in counts]
        short = n - sum(quota)
        by_remainder = sorted(
            range(len(counts)), key=lambda i: -(n * counts[i] % total)
        )
        for i in by_remainder[:short]:
            quota[i] += 1
        picked = [
            order[shuffled == cls][:q] for cls, q in zip(classes, quota, strict=True)
        ]
        index = torch.cat(picked)
    else:
        index = order[:n]
    index = index.sort().values
    return images[index], labels[index]


def toy_regression(
    n: int = 100,
    *,
    intercept: float = 2.5,
    slope: float = 0.9,
    noise: float = 0.5,
    x_loc: float = 10.0,
    x_scale: float = 1.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy points on a line: ``y = intercept + slope * x + noise * eps``.

    ``x ~ Normal(x_loc, x_scale)`` and ``eps ~ Normal(0, 1)``; both returned
    tensors are ``float32`` of shape ``(n,)``. The same seed gives the same
    points.

    Example::

        >>> x, y = toy_regression(50, seed=1)
        >>> x.shape
        torch.Size([50])
    """
    n = _count(n, 1)
    intercept = checks.finite_float("intercept", intercept)
    slope = checks.finite_float("slope", slope)
    noise = _noise(noise)
    x_loc = checks.finite_float("x_loc", x_loc)
    x_scale = checks.positive_float("x_scale", x_scale)
    gen = _generator(seed)
    x = x_loc + x_scale * torch.randn(n, generator=gen)
    y = intercept + slope * x + noise * torch.randn(n, generator=gen)
    return x, y


def toy_sine(
    n: int = 100, *, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1-D nonlinear regression set with a gap: ``y = sin(x) + noise * eps``.

    Half of the inputs are uniform on ``[-3, -1]``, the other half on
    ``[1, 3]``, in random order, so a model sees no data in ``(-1, 1)`` nor
    outside ``[-3, 3]``: the places where its predictive uncertainty should
    grow. Both tensors are ``float32`` of shape ``(n,)``.

    Example::

        >>> x, y = toy_sine(40, seed=0)
        >>> bool(((x.abs() >= 1) & (x.abs() <= 3)).all())
        True
    """
    n = _count(n, 2)
    noise = _noise(noise)
    gen = _generator(seed)
    side = torch.ones(n)
    side[: n // 2] = -1.0
    x = side * (1.0 + 2.0 * torch.rand(n, generator=gen))
    x = x[torch.randperm(n, generator=gen)]
    y = torch.sin(x) + noise * torch.randn(n, generator=gen)
    return x, y


def toy_classification(
    n: int = 200, *, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half-moons in 2-D, a binary classification set.

    Class 0 lies on the upper half circle ``(cos t, sin t)``, class 1 on the
    lower one ``(1 - cos t, 0.5 - sin t)``, ``t ~ Uniform(0, pi)``, with
    Gaussian noise of standard deviation ``noise`` added to both coordinates.
    Returns ``x`` (``float32``, shape ``(n, 2)``) and ``y`` (``int64``,
    shape ``(n,)``, half of each class), in random order.

    Example::

        >>> x, y = toy_classification(100, noise=0.2, seed=3)
        >>> x.shape, int(y.sum())
        (torch.Size([100, 2]), 50)
    """
    n = _count(n, 2)
    noise = _noise(noise)
    gen = _generator(seed)
    y = torch.zeros(n, dtype=torch.int64)
    y[n // 2 :] = 1
    t = math.pi * torch.rand(n, generator=gen)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.where(y[:, None] == 0, upper, lower)
    x = x + noise * torch.randn(n, 2, generator=gen)
    order = torch.randperm(n, generator=gen)
    return x[order], y[order]
