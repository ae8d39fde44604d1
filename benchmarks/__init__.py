"""Benchmarks: ``python -m bayesdl bench WHICH [options]``.

Each benchmark is a module of this package with a ``main(argv) -> int``; it
times the book's code against its peers in one run and prints the ratios
(the machine's load hits all of them alike). They are tooling, not part of
the reader's API: this folder sits beside ``bayesdl`` in a checkout, is not
installed with it and is not part of the chapters' execution key.
``python -m bayesdl bench`` finds it there; every benchmark times its blocks
with :func:`benchmarks._timing.timed`.

Example::

    $ python -m bayesdl bench bnn --steps 100
    $ python -m bayesdl bench vae --help
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

BENCHMARKS = {
    "bnn": "the Bayesian LeNet against its deterministic twin and a tutorial loop",
    "vae": "the chapter's VAE against a tutorial-style Pyro VAE",
    "ssvae": "the chapter's semi-supervised VAE against Pyro's example loop",
    "schedules": "the MNIST networks' schedules, searched on the validation images",
    "build": "cold and warm build times of the whole book",
    "parallel": "independent runs: one process with threads against one-thread processes",
}
"""The benchmarks, by name, with what each one times."""

__all__ = ["BENCHMARKS", "main"]


def _usage() -> str:
    lines = ["usage: python -m bayesdl bench WHICH [options]", "", "benchmarks:"]
    lines += [f"  {name:<9} {text}" for name, text in BENCHMARKS.items()]
    lines.append(
        "\n`python -m bayesdl bench WHICH --help` lists a benchmark's options."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark named by ``argv[0]``; return the exit status.

    A usage mistake (an unknown benchmark, a bad option value) prints
    ``error: ...`` and returns 2.

    Example::

        >>> main(["bnn", "--steps", "20"])  # doctest: +SKIP
        0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    which, rest = argv[0], argv[1:]
    if which not in BENCHMARKS:
        print(
            f"error: unknown benchmark {which!r}; choose from {', '.join(BENCHMARKS)}.",
            file=sys.stderr,
        )
        return 2
    try:
        module = importlib.import_module(f"{__name__}.{which}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{which}":
            raise
        print(f"error: benchmark {which!r} is not installed.", file=sys.stderr)
        return 2
    try:
        return int(module.main(rest) or 0)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
