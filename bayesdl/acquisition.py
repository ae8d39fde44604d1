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
:func:`active_learning` is the loop of Gal et al. (2017) around them: fit,
score a subsample of the pool, label the top ``k``, fit again.

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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from . import checks, metrics

__all__ = [
    "ACQUISITIONS",
    "ActiveRun",
    "acquire",
    "acquisition_scores",
    "active_learning",
    "balanced_subset",
    "labels_to_reach",
]

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


@dataclass(frozen=True)
class ActiveRun:
    """What :func:`active_learning` did: the order of labelling and its cost.

    ``labelled`` holds pool indices in the order they were labelled, the
    initial set first; ``sizes`` the size of the labelled set that each
    round's model was fitted on (``rounds + 1`` of them); ``seconds`` the
    wall time spent fitting and scoring, summed over rounds.
    """

    labelled: torch.Tensor
    sizes: tuple[int, ...]
    seconds: dict[str, float] = field(default_factory=dict)


def active_learning(
    fit: Callable[[torch.Tensor, torch.Tensor, int], Any],
    predict: Callable[[Any, torch.Tensor], torch.Tensor],
    pool_x: torch.Tensor,
    pool_y: torch.Tensor,
    initial: torch.Tensor,
    *,
    kind: str,
    acquire_size: int,
    rounds: int,
    subsample: int | None = None,
    generator: torch.Generator,
    on_round: Callable[[int, Any, int], None] | None = None,
) -> ActiveRun:
    """Pool-based active learning: fit, score the pool, label the best, repeat.

    Round ``r = 0, ..., rounds`` fits a model to the labelled images,
    ``model = fit(x, y, r)`` (from scratch or not: ``fit`` decides), and
    calls ``on_round(r, model, n)`` with ``n`` the labelled count (to score
    the model on a test set: the loop itself is never given one, so no test
    image can influence what is labelled). Except after the last round, it
    then draws ``subsample`` unlabelled pool images at random (all of them
    when ``None``), scores them with acquisition function ``kind`` on
    ``predict(model, x)``, the ``(S, N, C)`` sampled predictions, and adds
    the ``acquire_size`` best to the labelled set with their labels from
    ``pool_y``, the oracle. ``random`` never calls ``predict``.

    ``initial`` are the pool indices labelled at the start (see
    :func:`balanced_subset`); ``generator`` draws the subsamples and the
    random scores, so a seeded generator repeats the run.

    Example::

        run = active_learning(fit, lambda m, x: m.predict(x, num_samples=20),
                              pool_x, pool_y, balanced_subset(pool_y, 2, generator=g),
                              kind="bald", acquire_size=10, rounds=30,
                              subsample=2000, generator=g)
        run.sizes[-1]          # 20 + 30 * 10
    """
    if kind not in ACQUISITIONS:
        raise ValueError(
            f"kind must be one of {', '.join(ACQUISITIONS)}; got {kind!r}."
        )
    checks.images(pool_x)
    pool_y = checks.labels(pool_y, len(pool_x), num_classes=2**62)
    acquire_size = checks.positive_int("acquire_size", acquire_size)
    rounds = checks.non_negative_int("rounds", rounds)
    labelled = torch.as_tensor(initial, dtype=torch.long).flatten().cpu()
    if len(labelled) == 0 or len(torch.unique(labelled)) != len(labelled):
        raise ValueError("initial must hold at least one index, each once.")
    if labelled.min() < 0 or labelled.max() >= len(pool_x):
        raise ValueError(
            f"initial indexes a pool of {len(pool_x)} images; got indices from "
            f"{labelled.min().item()} to {labelled.max().item()}."
        )
    needed = len(labelled) + rounds * acquire_size
    if needed > len(pool_x):
        raise ValueError(
            f"{rounds} rounds of {acquire_size} need {needed} pool images; the "
            f"pool has {len(pool_x)}. Use fewer rounds or a larger pool."
        )
    if subsample is not None and checks.positive_int("subsample", subsample) < (
        acquire_size
    ):
        raise ValueError(
            f"subsample={subsample} is smaller than acquire_size={acquire_size}."
        )
    unlabelled = torch.ones(len(pool_x), dtype=torch.bool)
    unlabelled[labelled] = False
    sizes, seconds = [], {"fit": 0.0, "score": 0.0}
    for r in range(rounds + 1):
        start = time.perf_counter()
        model = fit(pool_x[labelled], pool_y[labelled], r)
        seconds["fit"] += time.perf_counter() - start
        sizes.append(len(labelled))
        if on_round is not None:
            on_round(r, model, len(labelled))
        if r == rounds:
            break
        start = time.perf_counter()
        candidates = torch.nonzero(unlabelled).flatten()
        if subsample is not None and subsample < len(candidates):
            pick = torch.randperm(len(candidates), generator=generator)[:subsample]
            candidates = candidates[pick]
        if kind == "random":
            scores = torch.rand(len(candidates), generator=generator)
        else:
            scores = acquisition_scores(predict(model, pool_x[candidates]), kind)
        new = candidates[acquire(scores.cpu(), acquire_size)]
        labelled = torch.cat([labelled, new])
        unlabelled[new] = False
        seconds["score"] += time.perf_counter() - start
    return ActiveRun(labelled, tuple(sizes), seconds)


def labels_to_reach(
    sizes: torch.Tensor, accuracy: torch.Tensor, target: float
) -> float:
    """The labelled count at which a learning curve first reaches ``target``.

    ``sizes`` are the labelled counts of the rounds, ``accuracy`` the test
    accuracy of each round's model. The count is read linearly between the
    last round below ``target`` and the first at or above it (rounds many
    labels apart are too coarse to read at the round); ``nan`` when no
    round reaches it.

    Example::

        >>> labels_to_reach(torch.tensor([20, 40]), torch.tensor([0.8, 0.95]), 0.9)
        33.33...
    """
    acc, sizes = torch.as_tensor(accuracy).double(), torch.as_tensor(sizes).double()
    if acc.shape != sizes.shape or acc.ndim != 1 or len(acc) == 0:
        raise ValueError(
            "sizes and accuracy must be 1-d and of one length, a value per round."
        )
    reached = torch.nonzero(acc >= target).flatten()
    if len(reached) == 0:
        return math.nan
    i = int(reached[0])
    if i == 0:
        return float(sizes[0])
    a0, a1, n0, n1 = acc[i - 1], acc[i], sizes[i - 1], sizes[i]
    return float(n0 + (target - a0) / (a1 - a0) * (n1 - n0))
