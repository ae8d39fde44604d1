"""Per-image scores and their resampling: the evidence :mod:`bayesdl.compare` weighs.

Two methods scored on the same test images are compared image by image
where the measure is a mean over images: :func:`per_image` splits accuracy,
NLL and Brier score into the per-image terms whose mean is the metric of
:mod:`bayesdl.metrics`, for :func:`bayesdl.compare.compare_images`. For a
measure that is not a mean over images (the ECE, an AUROC),
:func:`bootstrap_se` resamples the images instead, the same draw for both
methods, and its result is the ``image_se`` of
:func:`bayesdl.compare.compare`.

Example::

    >>> p, y = torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])
    >>> per_image(p, y, "nll").mean().item() > 0
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from . import checks, metrics

__all__ = ["PER_IMAGE", "bootstrap_se", "per_image"]

PER_IMAGE = ("accuracy", "nll", "brier")
"""The measures that are means over images, which :func:`per_image` splits."""


def bootstrap_se(
    statistic: Callable[..., float],
    sizes: Sequence[int],
    *,
    reps: int = 200,
    seed: int = 0,
) -> float:
    """The bootstrap standard error of ``statistic`` over resampled images.

    For measures that are not means over images (the ECE, an AUROC),
    :func:`compare_images` does not apply; this draws ``reps`` resamples
    with replacement of ``len(sizes)`` image sets (for an AUROC: the
    in-distribution and the out-of-distribution images) and returns the
    standard deviation of ``statistic(*indices)``. To make the comparison
    paired, let ``statistic`` compute the *difference* of the two methods
    on the same indices, averaged over seeds, and pass the result to
    :func:`compare` as ``image_se``.

    Example::

        >>> x = torch.arange(100.0)
        >>> se = bootstrap_se(lambda i: x[i].mean().item(), [100], reps=400)
        >>> abs(se / (x.std().item() / 10) - 1) < 0.2
        True
    """
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 2:
        raise ValueError(f"reps must be an int >= 2; got {reps!r}.")
    sizes = list(sizes)
    if not sizes or any(
        isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes
    ):
        raise ValueError(f"sizes must be a list of image counts >= 1; got {sizes!r}.")
    gen = torch.Generator().manual_seed(seed)
    values = torch.tensor(
        [
            float(statistic(*(torch.randint(n, (n,), generator=gen) for n in sizes)))
            for _ in range(reps)
        ],
        dtype=torch.float64,
    )
    if not torch.isfinite(values).all():
        raise ValueError("statistic returned a NaN or an infinity on a resample.")
    return values.std().item()


def per_image(probs: torch.Tensor, labels: torch.Tensor, measure: str) -> torch.Tensor:
    """The per-image terms whose mean is ``measure`` of :mod:`bayesdl.metrics`.

    ``probs`` is a predictive, ``(N, C)`` or draws ``(S, N, C)`` (averaged
    first, as the metrics do); ``measure`` one of :data:`PER_IMAGE`:
    ``accuracy`` (1 where the top class is the label), ``nll`` (``-log
    p(y | x)``, clamped as :func:`bayesdl.metrics.negative_log_likelihood`
    does) or ``brier``. Returns float64 ``(N,)``; its mean is the metric.

    Example::

        >>> p, y = torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])
        >>> per_image(p, y, "accuracy").tolist()
        [1.0, 0.0]
    """
    if measure not in PER_IMAGE:
        raise ValueError(
            f"measure must be one of {', '.join(PER_IMAGE)} (the means over "
            f"images); got {measure!r}. For the ECE or an AUROC use bootstrap_se."
        )
    p = metrics.predictive(probs)
    y = checks.labels(labels, n=p.shape[0], num_classes=p.shape[1]).to(p.device)
    p = p.double()
    if measure == "accuracy":
        return (p.argmax(-1) == y).double().cpu()
    if measure == "nll":
        picked = p.gather(1, y[:, None]).squeeze(1)
        return -picked.clamp_min(1e-12).log().cpu()
    onehot = torch.nn.functional.one_hot(y, p.shape[1]).double()
    return ((p - onehot) ** 2).sum(-1).cpu()
