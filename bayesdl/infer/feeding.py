"""Mini-batches that mix labelled and unlabelled examples.

A semi-supervised model learns from a few labelled examples and many
unlabelled ones; :class:`MixedBatches` puts some of each into every batch,
so that the labels speak at every step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from .. import checks

__all__ = ["MixedBatches", "batches", "common_length", "epoch_source"]


class MixedBatches:
    """Mini-batches that each mix labelled and unlabelled images.

    One epoch is one pass over the unlabelled images in a fresh random order,
    ``batch_size`` of them per batch; every batch also holds
    ``labelled_per_batch`` labelled images, drawn in turn from a shuffled
    labelled set that is reshuffled whenever it runs out. Each batch is a
    tuple ``(x_labelled, y_labelled, x_unlabelled)``, already split, the
    arguments of :meth:`~bayesdl.models.ssvae.SSVAE.model`. ``images`` may also be
    a 2-d tensor of codes, one row per image (see
    :meth:`~bayesdl.models.ssvae.SSVAE.code`); with ``scales`` of the same
    shape, each batch holds fresh draws ``Normal(codes, scales)`` instead
    (M2 on draws of M1's code, as Kingma et al. train it).

    Example::

        lab, _ = labelled_split(train_y, 100)
        batches = MixedBatches(train_x, train_y, lab, seed=0)
        xl, yl, xu = next(iter(batches))   # labelled images, labels, the rest
        len(batches)                     # batches per epoch
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        labelled_index: torch.Tensor,
        *,
        batch_size: int = 200,
        labelled_per_batch: int = 100,
        seed: int = 0,
        scales: torch.Tensor | None = None,
    ) -> None:
        if isinstance(images, torch.Tensor) and images.ndim == 2:
            if not images.is_floating_point() or len(images) == 0:
                raise ValueError("codes must be a non-empty floating-point tensor.")
            if not torch.isfinite(images).all():
                raise ValueError("codes must be finite (no NaN or infinite values).")
        else:
            checks.images(images)
        self.images = images
        labels = checks.labels(labels, n=len(images))
        index = checks.labels(
            labelled_index, num_classes=len(images), name="labelled_index"
        )
        if (
            len(index) == 0
            or len(index) >= len(images)
            or index.unique().numel() < len(index)
        ):
            raise ValueError(
                "labelled_index must hold distinct indices of some, but not all, "
                f"of the {len(images)} images; got {len(index)} indices."
            )
        self.batch_size = checks.positive_int("batch_size", batch_size)
        self.labelled_per_batch = checks.positive_int(
            "labelled_per_batch", labelled_per_batch
        )
        dev = images.device
        self.labelled = index.to(dev)
        mask = torch.ones(len(images), dtype=torch.bool, device=dev)
        mask[self.labelled] = False
        self.unlabelled = mask.nonzero().squeeze(1)
        self.labels = labels.to(dev)
        self.generator = torch.Generator().manual_seed(checks.seed(seed))
        self._queue = self.labelled[:0]
        if scales is not None and (
            not isinstance(scales, torch.Tensor)
            or images.ndim != 2
            or scales.shape != images.shape
            or not bool((scales > 0).all())
        ):
            raise ValueError(
                "scales must be a positive tensor shaped like the codes "
                f"{tuple(images.shape)} (scales need 2-d codes, not images)."
            )
        self.scales = scales

    @property
    def num_labelled(self) -> int:
        """How many images carry a label."""
        return len(self.labelled)

    @property
    def num_unlabelled(self) -> int:
        """How many images do not."""
        return len(self.unlabelled)

    def __len__(self) -> int:
        return math.ceil(self.num_unlabelled / self.batch_size)

    def _next_labelled(self) -> torch.Tensor:
        want = min(self.labelled_per_batch, self.num_labelled)
        while len(self._queue) < want:
            order = torch.randperm(self.num_labelled, generator=self.generator)
            self._queue = torch.cat(
                [self._queue, self.labelled[order.to(self._queue.device)]]
            )
        out, self._queue = self._queue[:want], self._queue[want:]
        return out

    def _rows(self, rows: torch.Tensor) -> torch.Tensor:
        x = self.images[rows]
        if self.scales is not None:  # a fresh draw of each code
            noise = torch.randn(x.shape, generator=self.generator)
            x = x + self.scales[rows] * noise.to(x.device, x.dtype)
        return x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.num_unlabelled, generator=self.generator)
        order = self.unlabelled[order.to(self.unlabelled.device)]
        for start in range(0, len(order), self.batch_size):
            unlab = order[start : start + self.batch_size]
            lab = self._next_labelled()
            yield self._rows(lab), self.labels[lab], self._rows(unlab)


def batches(
    *tensors: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
) -> Iterator[list[torch.Tensor]]:
    """One epoch of mini-batches of in-memory tensors, as index slices.

    The tensors share their first dimension N; the order is a fresh random
    permutation drawn from ``generator`` (or torch's global generator), or
    ``0..N-1`` with ``shuffle=False``. The last batch may be smaller. Every
    training loop of the package draws its batches here.

    Example::

        >>> x, y = torch.randn(10, 2), torch.arange(10)
        >>> [len(b[0]) for b in batches(x, y, batch_size=4)]
        [4, 4, 2]
    """
    n = common_length(tensors)
    batch_size = checks.positive_int("batch_size", batch_size)
    device = tensors[0].device
    if shuffle:
        order = torch.randperm(n, generator=generator, device="cpu").to(device)
    else:
        order = torch.arange(n, device=device)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield [t[idx] for t in tensors]


def common_length(tensors: Sequence[object]) -> int:
    """The common first dimension of ``tensors``, or a ValueError saying why not."""
    if not tensors:
        raise ValueError("need at least one tensor to draw batches from.")
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        kinds = ", ".join(type(t).__name__ for t in tensors)
        raise ValueError(f"data must be torch tensors, got {kinds}.")
    sizes = {len(t) if t.ndim else -1 for t in tensors}
    if len(sizes) != 1:
        raise ValueError(
            f"the tensors have different lengths {sorted(sizes)}; they must "
            "share the first dimension."
        )
    n = sizes.pop()
    if n < 1:
        raise ValueError("the data has no rows: each tensor needs at least one.")
    return n


def epoch_source(data: object, batch_size: int | None, generator=None):
    """Full batch aside, how a training loop is fed: a function that returns one epoch of batches, and the batches per epoch."""
    if isinstance(data, tuple | list):
        if batch_size is None:
            raise ValueError("data given as tensors needs batch_size=.")
        n = common_length(data)
        batch_size = checks.positive_int("batch_size", batch_size)
        per_epoch = math.ceil(n / batch_size)
        return (lambda: batches(*data, batch_size=batch_size, generator=generator)), (
            per_epoch
        )
    if isinstance(data, torch.Tensor):
        raise ValueError(
            "data must be a tuple of tensors, e.g. data=(x,) or data=(x, y), or "
            "an iterable of batches; got a single tensor."
        )
    if not (hasattr(data, "__iter__") and hasattr(data, "__len__")):
        raise ValueError(
            "data must be a tuple of tensors (x, y, ...) or an iterable of "
            f"batches with a length, got {type(data).__name__}."
        )
    if batch_size is not None:
        raise ValueError(
            "batch_size= is for data given as tensors; an iterable of batches "
            "sets its own batch size."
        )
    per_epoch = checks.positive_int("len(data)", len(data))
    return (lambda: iter(data)), per_epoch
