"""Mini-batches that mix labelled and unlabelled examples.

A semi-supervised model learns from a few labelled examples and many
unlabelled ones; :class:`MixedBatches` puts some of each into every batch,
so that the labels speak at every step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from .. import checks

__all__ = ["MixedBatches"]


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
