"""Benchmark: ``python -m bayesdl bench parallel``.

Independent runs on a few CPU cores: one process with torch's threads, or
one process per core with one thread each
(:func:`bayesdl.parallel.map_processes`)? The same work is timed three
ways in one run:

* ``threads``: the runs one after the other in this process, with torch's
  default thread count (what a chapter's kernel does);
* ``one thread``: the same in this process, with one thread;
* ``processes``: the runs spread over ``--workers`` spawned one-thread
  processes (process start-up included).

Two workloads: ``active``, short learning curves of the active-learning
chapter (MC dropout, BALD; each trains the LeNet for a few hundred steps of
batch 32 per round), and ``lenet``, the ordinary LeNet trained for one
epoch with the MNIST chapter's batch size on a subset of the training
images. Each mode trains into its own empty cache, so nothing is loaded.
The report gives the seconds of each and the ratio of ``threads`` to
``processes``: above 1, the processes do the same work sooner.

Example::

    $ python -m bayesdl bench parallel --workload active --runs 4
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace

import torch

from bayesdl import checks, parallel
from bayesdl.infer import loop
from bayesdl.models.bnn import LeNet
from bayesdl.recipes import mnist_active, mnist_bnn

from ._timing import Stopwatch

__all__ = ["bench_parallel", "main"]


def _active(seed: int, rounds: int) -> float:
    settings = replace(mnist_active.ActiveSettings(), rounds=rounds)
    curve = mnist_active.active_curve("dropout", "bald", seed=seed, settings=settings)
    return float(curve["accuracy"][-1])


def _lenet(seed: int, num_train: int) -> float:
    (x, y), _ = mnist_bnn.mnist_data()
    x, y = x[:num_train], y[:num_train]
    torch.manual_seed(seed)
    net = LeNet()
    train = mnist_bnn.MnistSettings().lenet
    result = loop.fit_classifier(
        net,
        x,
        y,
        num_epochs=1,
        batch_size=train.batch_size,
        lr=train.lr,
        schedule=train.schedule,
    )
    return result.final_loss


def bench_parallel(
    workload: str = "active", runs: int = 4, workers: int = 2, size: int = 3
) -> dict[str, float]:
    """Seconds of ``runs`` runs of ``workload`` in each mode, and the ratio.

    ``size`` is the rounds of an ``active`` curve, or the thousands of
    training images of a ``lenet`` run.

    Example::

        bench_parallel("lenet", runs=2, size=2)
    """
    runs = checks.positive_int("runs", runs)
    workers = checks.positive_int("workers", workers)
    size = checks.positive_int("size", size)
    if workload == "active":
        fn = functools.partial(_active, rounds=size)
    elif workload == "lenet":
        fn = functools.partial(_lenet, num_train=1000 * size)
    else:
        raise ValueError(f"workload must be 'active' or 'lenet', got {workload!r}.")
    seeds = list(range(runs))
    threads = torch.get_num_threads()
    seconds = {}
    previous = os.environ.get("BAYESDL_CACHE")
    try:
        for mode in ("threads", "one thread", "processes"):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["BAYESDL_CACHE"] = cache
                torch.set_num_threads(1 if mode == "one thread" else threads)
                with Stopwatch() as clock:
                    if mode == "processes":
                        parallel.map_processes(fn, seeds, workers=workers)
                    else:
                        [fn(s) for s in seeds]
                seconds[mode] = clock.seconds
    finally:
        torch.set_num_threads(threads)
        if previous is None:
            os.environ.pop("BAYESDL_CACHE", None)
        else:
            os.environ["BAYESDL_CACHE"] = previous
    return {
        **seconds,
        "threads_count": float(threads),
        "ratio": seconds["threads"] / seconds["processes"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bayesdl bench parallel``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bayesdl bench parallel")
    parser.add_argument("--workload", choices=("active", "lenet"), default="active")
    parser.add_argument("--runs", type=int, default=4, help="independent runs")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument(
        "--size",
        type=int,
        default=3,
        help="rounds per active curve, or thousands of images per lenet run",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    r = bench_parallel(args.workload, args.runs, args.workers, args.size)
    print(
        f"{args.runs} independent {args.workload} runs (size {args.size}), "
        f"{os.cpu_count()} CPU cores"
    )
    print(f"  one process, {int(r['threads_count'])} threads  {r['threads']:8.1f} s")
    print(f"  one process, 1 thread     {r['one thread']:8.1f} s")
    print(f"  {args.workers} processes, 1 thread  {r['processes']:8.1f} s")
    print(f"  threads / processes: {r['ratio']:.2f}x")
    return 0
