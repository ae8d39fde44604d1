"""The benchmarks' one way to time a block: a stopwatch over finished device work.

A GPU runs the work it is given asynchronously, so a clock read right after a
step counts only the launch. :func:`timed` waits for the device at both ends
of the block and times it with :class:`bayesdl.timing.Stopwatch` (the
stopwatch of the book and its recipes).

Example:

>>> import torch
>>> with timed(torch.device("cpu")) as clock:
...     total = sum(range(1000))
>>> clock.seconds >= 0.0
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from bayesdl.timing import Stopwatch

__all__ = ["Stopwatch", "sync", "timed"]


def sync(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (nothing to wait for off CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def timed(device: torch.device) -> Iterator[Stopwatch]:
    """A running :class:`~bayesdl.timing.Stopwatch` over the block, ``device`` synced at both ends."""
    sync(device)
    with Stopwatch() as clock:
        yield clock
        sync(device)
