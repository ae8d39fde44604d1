"""Seeded splits of a labelled training set: every split the book makes.

A validation split is carved from the training set, never from the test
set: choices (a weight, a temperature, a number of epochs) are made on it,
and the test set is read once, for the final table.

- :func:`train_validation_split` holds out a seeded random validation set
  and returns the two sets of ``(images, labels)`` (the MNIST and
  Fashion-MNIST chapters);
- :func:`stratified_split` returns the indices of a split in which every
  class keeps its share (the semi-supervised chapter, whose labelled sets
  are small);
- :func:`labelled_split` draws a class-balanced labelled subset and leaves
  the rest unlabelled.

All three are exported by :mod:`bayesdl.data`.

Example::

    _, labels = bayesdl.data.load("mnist", "train")
    train, val = stratified_split(labels, num_val=10_000, seed=0)
    len(train), len(val)
    # (50000, 10000)
"""

from __future__ import annotations

import torch

from .. import checks

__all__ = ["labelled_split", "stratified_split", "train_validation_split"]

NUM_CLASSES = 10


def _quota(counts: list[int], n: int, total: int) -> list[int]:
    # Each class keeps its share of n; the largest remainders round it.
    quota = [n * c // total for c in counts]
    by_remainder = sorted(range(len(counts)), key=lambda i: -(n * counts[i] % total))
    for i in by_remainder[: n - sum(quota)]:
        quota[i] += 1
    return quota


def _pick(labels: torch.Tensor, order: torch.Tensor, n: int) -> torch.Tensor:
    shuffled = labels[order]
    classes, counts = torch.unique(shuffled, return_counts=True)
    quota = _quota(counts.tolist(), n, len(order))
    picked = [order[shuffled == c][:q] for c, q in zip(classes, quota, strict=True)]
    return torch.cat(picked)


def stratified_split(
    labels: torch.Tensor,
    num_val: int,
    *,
    num_train: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, val)`` of a seeded, class-stratified split.

    ``num_val`` examples are held out for validation, each class keeping its
    share; ``num_train`` of the others (all of them when ``None``, again
    stratified) form the training set. The two index tensors are sorted and
    disjoint, and depend on ``labels`` and ``seed`` only.

    Example::

        >>> train, val = stratified_split(torch.arange(10).repeat(10), 20)
        >>> torch.bincount(torch.arange(10).repeat(10)[val]).tolist()
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dim() != 1
        or labels.dtype.is_floating_point
        or labels.dtype == torch.bool
    ):
        raise ValueError("labels must be a 1-d tensor of integer classes.")
    total = len(labels)
    num_val = checks.positive_int("num_val", num_val)
    rest = total - num_val
    if num_train is not None:
        num_train = checks.positive_int("num_train", num_train)
    if rest < 1 or (num_train is not None and num_train > rest):
        raise ValueError(
            f"cannot hold out num_val={num_val} and train on "
            f"num_train={num_train if num_train is not None else 'the rest'}: "
            f"there are {total} examples."
        )
    gen = torch.Generator().manual_seed(checks.seed(seed))
    order = torch.randperm(total, generator=gen)
    val = _pick(labels, order, num_val)
    taken = torch.zeros(total, dtype=torch.bool)
    taken[val] = True
    left = order[~taken[order]]
    train = left if num_train is None else _pick(labels, left, num_train)
    return train.sort().values, val.sort().values


def labelled_split(
    labels: torch.Tensor, num_labels: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a class-balanced labelled subset and of the rest.

    ``num_labels / 10`` images of every class are drawn at random (a
    ``torch.Generator`` seeded with ``seed``); all others are the unlabelled
    set. Both index tensors are sorted, so the split depends on the seed only.

    Example::

        _, train_y = bayesdl.data.load("mnist", "train")
        lab, unlab = labelled_split(train_y, 100, seed=0)
        train_y[lab].bincount()             # ten of every digit
        # tensor([10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    """
    labels = checks.labels(labels, num_classes=NUM_CLASSES)
    num_labels = checks.positive_int("num_labels", num_labels)
    seed = checks.seed(seed)
    if num_labels % NUM_CLASSES:
        raise ValueError(
            f"num_labels must be a multiple of {NUM_CLASSES} (the same number "
            f"of images per class), got {num_labels}."
        )
    per_class = num_labels // NUM_CLASSES
    counts = torch.bincount(labels, minlength=NUM_CLASSES)
    if int(counts.min()) < per_class or num_labels >= len(labels):
        raise ValueError(
            f"cannot draw {per_class} labelled images per class and keep some "
            f"unlabelled: the smallest class has {int(counts.min())} images "
            f"and there are {len(labels)} in all."
        )
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for cls in range(NUM_CLASSES):
        members = (labels == cls).nonzero().squeeze(1)
        order = torch.randperm(len(members), generator=gen)
        picked.append(members[order[:per_class]])
    labelled = torch.cat(picked).sort().values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[labelled] = False
    return labelled, mask.nonzero().squeeze(1)


def train_validation_split(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_validation: int,
    *,
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """A seeded split into ``(train, validation)``, each ``(images, labels)``.

    A permutation drawn from ``seed`` puts ``num_validation`` examples in the
    validation set and the rest in the training set; both keep the original
    order, and the two never share an example. The same seed gives the same
    split on any machine.

    Example::

        (tx, ty), (vx, vy) = train_validation_split(x, y, 5000, seed=0)
    """
    checks.images(images)
    labels = checks.labels(labels, len(images), num_classes=2**62)
    num_validation = checks.positive_int("num_validation", num_validation)
    if num_validation >= len(images):
        raise ValueError(
            f"num_validation={num_validation} leaves no training example of "
            f"the {len(images)}."
        )
    gen = torch.Generator().manual_seed(checks.seed(seed))
    perm = torch.randperm(len(images), generator=gen)
    val = perm[:num_validation].sort().values
    train = perm[num_validation:].sort().values
    return (images[train], labels[train]), (images[val], labels[val])
