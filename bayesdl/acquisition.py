"""Acquisition functions for active learning: which unlabelled images to label next.

Each function scores the images of an unlabelled *pool* from ``S`` sampled
predictions ``p_s(y | x)`` per image, shape ``(S, N, C)``: a posterior's
draws, MC dropout's passes or an ensemble's members. The predictive is
their mean, ``p(y | x) = (1/S) sum_s p_s(y | x)``. A larger score means a
more useful label:

* ``entropy`` (max-entropy): ``H[p(y | x)] = -sum_c p_c log p_c``, the total
  uncertainty of the prediction, whatever its cause;
* ``bald`` (Houlsby et al. 2011): the mutual information between the label
  and the weights,
  ``I(y; w | x, D) = H[E_q p(y | x, w)] - E_q H[p(y | x, w)]``, the total
  entropy minus the expected entropy of each draw. It is large only where
  the draws *disagree*: an image that every draw finds ambiguous in the
  same way (a 4 that could be a 9) has a high entropy and a low BALD
  score, since its label would not tell the draws apart;
* ``variation_ratios`` (Freeman 1965; Gal et al. 2017):
  ``1 - m / S`` with ``m`` the number of draws whose top class is the
  most common top class;
* ``random``: uniform scores from a seeded generator, the baseline every
  other function must beat.

:func:`acquire` takes the ``k`` highest scores at once ("top-k"), which can
pick near-duplicates when ``k`` is large (Kirsch et al. 2019).

Example::

    >>> agree = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]])     # both unsure
    >>> differ = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])    # they disagree
    >>> probs = torch.cat([agree, differ], dim=1)               # (S=2, N=2, C=2)
    >>> acquisition_scores(probs, "entropy")
    tensor([0.6931, 0.6931])
    >>> acquisition_scores(probs, "bald")
    tensor([0.0000, 0.6931])
"""

from __future__ import annotations

import torch

from . import checks, metrics

__all__ = ["ACQUISITIONS", "acquire", "acquisition_scores", "balanced_subset"]

ACQUISITIONS = ("random", "entropy", "bald", "variation_ratios")
"""The acquisition functions :func:`acquisition_scores` computes."""


def acquisition_scores(
    probs: torch.Tensor, kind: str, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The score of each pool image under acquisition function ``kind``: ``(N,)``.

    ``probs`` holds ``S`` sampled predictions per image, ``(S, N, C)``
    (``S = 1`` is allowed, for which ``bald`` and ``variation_ratios`` are
    zero); ``kind`` is one of :data:`ACQUISITIONS`. ``random`` draws from
    ``generator`` (a fresh unseeded one if ``None``).

    Example::

        acquisition_scores(model.predict(pool_x, num_samples=20), "bald")
    """
    if kind not in ACQUISITIONS:
        raise ValueError(
            f"kind must be one of {', '.join(ACQUISITIONS)}; got {kind!r}."
        )
    probs = checks.probabilities(probs, samples=True)
    if kind == "random":
        return torch.rand(probs.shape[1], generator=generator).to(probs.device)
    if kind == "entropy":
        return metrics.entropy(probs)
    if kind == "bald":
        return metrics.mutual_information(probs)
    votes = torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).sum(0)
    return 1.0 - votes.max(-1).values.to(probs.dtype) / probs.shape[0]


def acquire(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The indices of the ``k`` highest ``scores``, highest first.

    Ties go to the lower index, so the choice is reproducible. ``scores``
    is one value per pool image, ``(N,)``; the result indexes the pool.

    Example::

        >>> acquire(torch.tensor([0.1, 0.9, 0.5, 0.9]), 3)
        tensor([1, 3, 2])
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 1:
        raise ValueError("scores must be a 1-d tensor, one score per pool image.")
    if not torch.isfinite(scores).all():
        raise ValueError("scores holds a NaN or an infinity.")
    k = checks.positive_int("k", k)
    if k > len(scores):
        raise ValueError(
            f"cannot acquire k={k} images from a pool of {len(scores)}; "
            "lower k or score a larger pool."
        )
    # a stable sort of the negated scores keeps the lower index first on ties
    order = torch.sort(-scores.detach().cpu().double(), stable=True).indices
    return order[:k]


def balanced_subset(
    labels: torch.Tensor, per_class: int, *, generator: torch.Generator
) -> torch.Tensor:
    """Indices of ``per_class`` random examples of every class in ``labels``.

    The class-balanced initial labelled set of an active-learning run (Gal
    et al. start from 2 images of each of the 10 digits). Sorted indices.

    Example::

        >>> y = torch.tensor([0, 1, 0, 1, 0, 1])
        >>> picked = balanced_subset(y, 2, generator=torch.Generator().manual_seed(0))
        >>> y[picked].tolist().count(0), y[picked].tolist().count(1)
        (2, 2)
    """
    per_class = checks.positive_int("per_class", per_class)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
        raise ValueError("labels must be a 1-d tensor of class indices.")
    chosen = []
    for c in torch.unique(labels).tolist():
        where = torch.nonzero(labels == c).flatten()
        if len(where) < per_class:
            raise ValueError(
                f"class {c} has {len(where)} examples, fewer than per_class="
                f"{per_class}; draw from a larger set."
            )
        pick = torch.randperm(len(where), generator=generator)[:per_class]
        chosen.append(where[pick])
    return torch.sort(torch.cat(chosen)).values
