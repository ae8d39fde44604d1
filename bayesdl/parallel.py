"""Independent runs in one-thread processes.

A small network trained on a CPU keeps two threads only half busy: the
work per step is too small to split well. Independent runs (seeds,
settings, the curves of an experiment) do more work per second as one
process per core with one thread each. :func:`map_processes` runs a
function over a list that way, in fresh processes (the ``spawn`` start
method, which works in a Jupyter kernel and with CUDA), each set up by
:func:`bayesdl.setup` and limited to one thread, and returns the results
in the list's order.

Example::

    from functools import partial
    results = map_processes(partial(train_one, settings=s), [0, 1, 2, 3])
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import torch

from . import checks, config

__all__ = ["default_workers", "map_processes"]

T = TypeVar("T")


def default_workers() -> int:
    """How many processes :func:`map_processes` uses by default.

    One per CPU core, at most 2, on the CPU (the book's target machine has
    two cores); 1 on a GPU, where runs share one device and the processes
    would only compete for it.

    Example::

        >>> default_workers() >= 1
        True
    """
    if config.device().type != "cpu":
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _one_thread() -> None:
    import bayesdl  # the package's seeds and Pyro settings in a fresh process

    bayesdl.setup(seed=0)
    torch.set_num_threads(1)


def map_processes(
    fn: Callable[[Any], T],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    first: Callable[[Any], float] | None = None,
) -> list[T]:
    """``[fn(item) for item in items]``, run in ``workers`` one-thread processes.

    ``fn`` must be importable by name (a module-level function, or a
    ``functools.partial`` of one) and its items and results picklable; it
    is called in a process that :func:`bayesdl.setup` has seeded with 0, so
    ``fn`` seeds what it needs itself. ``first(item)``, when given, orders
    the work (largest first), so that no process is left with a long last
    item. With ``workers=1`` (or one item) everything runs here, in order.
    An exception in ``fn`` is raised here.

    Example::

        squares = map_processes(math.factorial, [3, 4, 5], workers=2)
    """
    items = list(items)
    workers = default_workers() if workers is None else workers
    workers = checks.positive_int("workers", workers)
    if workers == 1 or len(items) <= 1:
        return [fn(item) for item in items]
    order = list(range(len(items)))
    if first is not None:
        order.sort(key=lambda i: -first(items[i]))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_one_thread
    ) as pool:
        futures = {i: pool.submit(fn, items[i]) for i in order}
        return [futures[i].result() for i in range(len(items))]
