"""Command line: ``python -m bayesdl {data, train, bench, pdf}``.

``python -m bayesdl data [--name NAME] [--data-dir DIR]``
    Fetch and verify MNIST and Fashion-MNIST (or the one named) and print,
    per dataset, where each file came from, the counts per split, the
    training pixel mean and standard deviation, and the class counts.
``python -m bayesdl train [MODEL ...]``
    Train the chapters' models of :mod:`bayesdl.zoo` (all by default) in the
    active profile, or load them when they are cached already, and print how
    long each took.
``python -m bayesdl bench [ARGS ...]``
    Run the benchmarks (the package ``benchmarks/`` of the checkout, which
    parses ``ARGS``).
``python -m bayesdl pdf [--html DIR] [--out FILE]``
    Print the built book (``_build/html``) as one PDF,
    ``_build/pdf/book.pdf``, with headless Chromium (``bookbuild.pdf`` in
    ``book/_ext/`` of the checkout).

``bench`` and ``pdf`` run code that is not installed with ``bayesdl``: it
lives beside the package in a clone of the book's repository, and these
commands find it there (:data:`CHECKOUT`). From an installed wheel they say
so and exit with status 2.

Exit status: 0 on success, 1 when a dataset is unavailable or the PDF could
not be made, 2 on a usage error or when a command's code is missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from . import data
from .timing import Stopwatch

CHECKOUT = Path(__file__).resolve().parents[1]
"""The folder that holds this ``bayesdl`` package: the repository's root when
it runs from a clone, where ``benchmarks/`` and ``book/_ext/`` sit beside it."""


class NotACheckoutError(RuntimeError):
    """Code that lives only in a clone of the book's repository is not here."""


def checkout_module(folder: str, name: str, what: str):
    """Import module ``name`` from ``folder`` (relative to :data:`CHECKOUT`).

    ``what`` names the code for the error message: a
    :class:`NotACheckoutError` says what is missing and how to get it when
    ``folder`` does not hold the module's package (``bayesdl`` installed from
    a wheel), or when a module of the same name from elsewhere was imported.
    """
    root = CHECKOUT / folder
    top = name.partition(".")[0]
    if not (root / top / "__init__.py").is_file():
        where = (root / top).relative_to(CHECKOUT).as_posix()
        raise NotACheckoutError(
            f"{what} ({where}/) are not installed with bayesdl: they live in a "
            f"clone of the book's repository, and {CHECKOUT} (where this bayesdl "
            f"is installed) is not one. Run this command from a clone, with "
            "bayesdl installed from it (`pip install -r requirements.txt` in the "
            "clone installs it editable)."
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(name)
    origin = Path(module.__file__ or "").resolve()
    if root.resolve() not in origin.parents:
        raise NotACheckoutError(
            f"{what}: the module {name} was imported from {origin}, not from "
            f"{root}; another package of the same name is in the way."
        )
    return module


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bayesdl",
        description="Tools of the book 'Bayesian Deep Learning with Pyro'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    fetch = commands.add_parser(
        "data",
        help="fetch and verify MNIST and Fashion-MNIST, print their statistics",
        description="Fetch and verify the datasets and print a summary of each.",
    )
    fetch.add_argument(
        "--name",
        choices=data.NAMES,
        help="only this dataset (default: all of them)",
    )
    fetch.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the data folder (default: BAYESDL_DATA or ~/.cache/bayesdl/data)",
    )
    train = commands.add_parser(
        "train",
        help="train (or load from the cache) the chapters' models of bayesdl.zoo",
        description="Train the zoo's models once, so that chapters and "
        "notebooks load them from the cache.",
    )
    train.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="which models (default: all of them; see the list below)",
    )
    pdf = commands.add_parser(
        "pdf",
        help="print the built book as one PDF (_build/pdf/book.pdf)",
        description="Print every page of the built book (jupyter-book build . "
        "first) with headless Chromium, offline, into one PDF with a title "
        "page, a table of contents, page numbers and bookmarks.",
    )
    pdf.add_argument(
        "--html",
        type=Path,
        default=Path("_build/html"),
        metavar="DIR",
        help="the built site (default: _build/html)",
    )
    pdf.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the PDF (default: DIR/../pdf/book.pdf)",
    )
    commands.add_parser(
        "bench",
        add_help=False,  # benchmarks/ parses its own arguments, -h included
        help="run the benchmarks (from a checkout; arguments go to benchmarks/)",
    )
    return parser


def _report(name: str, data_dir: Path | None) -> None:
    with Stopwatch() as clock:
        origin = data.fetch(name, data_dir)
        info = data.summary(name, data_dir)
    seconds = clock.seconds
    print(f"{info['title']} ({name}) in {data.raw_dir(name, data_dir)}")
    width = max(len(f) for f in origin)
    for filename, source in origin.items():
        print(f"  {filename:<{width}}  MD5 {data.MD5[name][filename]}  {source}")
    counts = ", ".join(f"{s} {n}" for s, n in info["counts"].items())
    print(f"  images per split: {counts}")
    print(f"  train pixel mean {info['mean']:.4f}, std {info['std']:.4f}")
    print("  train images per class:")
    for label, (cls, n) in enumerate(
        zip(info["classes"], info["class_counts"], strict=True)
    ):
        print(f"    {label} {cls:<12} {n}")
    print(f"  ready in {seconds:.1f} s")


def _data(args: argparse.Namespace) -> int:
    status = 0
    for name in [args.name] if args.name else data.NAMES:
        try:
            _report(name, args.data_dir)
        except data.DataUnavailableError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
        sys.stdout.flush()
    return status


def _train(args: argparse.Namespace) -> int:
    from . import config, zoo

    unknown = [m for m in args.models if m not in zoo.REGISTRY]
    if unknown:
        print(
            f"error: unknown model(s) {', '.join(unknown)}; choose from "
            f"{', '.join(zoo.REGISTRY)}.",
            file=sys.stderr,
        )
        return 2
    for name in args.models or list(zoo.REGISTRY):
        clock = Stopwatch().start()
        try:
            model = zoo.load(name)
        except data.DataUnavailableError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        seconds = clock.stop()
        trained = getattr(model, "train_seconds", None)
        note = f"; its training took {trained:.1f} s" if trained is not None else ""
        print(f"{name}: ready in {seconds:.1f} s (profile {config.profile()}{note})")
        sys.stdout.flush()
    return 0


def _pdf(args: argparse.Namespace) -> int:
    try:
        pdf = checkout_module("book/_ext", "bookbuild.pdf", "the book's build tools")
    except NotACheckoutError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    clock = Stopwatch().start()
    try:
        out = pdf.build_pdf(
            args.html, args.out, log=lambda line: print(line, flush=True)
        )
    except pdf.PDFError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from pypdf import PdfReader

    pages = len(PdfReader(out).pages)
    size = out.stat().st_size / 2**20
    seconds = clock.stop()
    print(f"{out}: {pages} pages, {size:.1f} MiB, in {seconds:.0f} s")
    return 0


def _bench(argv: list[str]) -> int:
    try:
        bench = checkout_module("", "benchmarks", "the benchmarks")
    except NotACheckoutError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return int(bench.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Example::

        >>> main(["data", "--name", "mnist"])  # doctest: +SKIP
        0
    """
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "pdf":
            return _pdf(args)
        return _data(args)
    except ValueError as err:  # a bad setting, e.g. BAYESDL_PROFILE=fulll
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
