"""The build benchmark: ``python -m bayesdl bench build``.

Times the two builds a reader waits for, with the README's command
(``jupyter-book build .``):

* **cold**: nothing cached but the data sets: a fresh execution cache (a new
  output folder) and a fresh cache of trained models (a new
  ``BAYESDL_CACHE``), so every chapter executes and every zoo model trains;
* **warm**: the same command again with nothing changed, served from both
  caches.

Both builds write into a temporary folder (removed afterwards unless
``--keep``), so the book's own ``_build`` and the user's model cache are left
alone. The data (``BAYESDL_DATA``) are used where they are: fetching them is
not part of a build's time.

Example::

    $ python -m bayesdl bench build                   # the full book
    $ python -m bayesdl bench build --profile smoke   # seconds, for a check
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bayesdl import config
from bayesdl.timing import Stopwatch

__all__ = ["bench_build", "main"]


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise ValueError(
            "jupyter-book is not installed: pip install -r requirements.txt"
        )
    return [found]


def _build(book: Path, out: Path, env: dict[str, str], timeout: float) -> float:
    """One ``jupyter-book build`` into ``out``; its wall time in seconds."""
    cmd = [*_jupyter_book(), "build", str(book), "--path-output", str(out)]
    with Stopwatch() as clock:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout
        )
    seconds = clock.seconds
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"the build failed (exit {proc.returncode}):\n{log}")
    return seconds


def _check_arguments(book: str | Path | None, profile: str, timeout: float) -> Path:
    """The book's folder, after checking the arguments of :func:`bench_build`."""
    book = Path(book) if book is not None else Path(__file__).resolve().parents[1]
    if not (book / "_config.yml").is_file():
        raise ValueError(f"{book} holds no _config.yml: not a Jupyter Book folder.")
    if profile not in config.PROFILES:
        raise ValueError(
            f"profile must be one of {', '.join(config.PROFILES)}, got {profile!r}."
        )
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(
            f"timeout must be a positive number of seconds, got {timeout!r}."
        )
    return book


def bench_build(
    book: str | Path | None = None,
    *,
    profile: str = "full",
    workdir: str | Path | None = None,
    timeout: float = 7200.0,
) -> dict[str, float]:
    """Time a cold build of ``book`` and then a warm rebuild, in seconds.

    ``book`` is the folder that holds ``_config.yml`` (default: the checkout
    this package lives in). ``workdir`` receives the builds' output and the
    model cache (default: a temporary folder, removed afterwards).

    Example::

        times = bench_build(profile="smoke")
        times["warm"] < times["cold"]
        # True
    """
    book = _check_arguments(book, profile, timeout)
    temporary = workdir is None
    work = (
        Path(tempfile.mkdtemp(prefix="bayesdl-bench-build-"))
        if temporary
        else Path(workdir)
    )
    try:
        work.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernels keep their inline backend
        env.update(
            BAYESDL_PROFILE=profile,
            BAYESDL_PROGRESS="0",
            BAYESDL_CACHE=str(work / "cache"),
        )
        out = work / "out"
        times: dict[str, float] = {}
        times["cold"] = _build(book, out, env, timeout)
        times["warm"] = _build(book, out, env, timeout)
        return times
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of ``python -m bayesdl bench build``; returns the status."""
    parser = argparse.ArgumentParser(
        prog="python -m bayesdl bench build",
        description="Time a cold build of the book (fresh caches, data present) "
        "and a warm rebuild (nothing changed).",
    )
    parser.add_argument(
        "--profile",
        choices=config.PROFILES,
        default="full",
        help="the chapters' profile (default: full; smoke takes seconds)",
    )
    parser.add_argument(
        "--book", help="folder with _config.yml (default: this checkout)"
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="build into DIR and keep it (default: a temporary folder)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=7200.0,
        help="seconds allowed for each build (default: 7200)",
    )
    args = parser.parse_args(argv)
    _check_arguments(args.book, args.profile, args.timeout)  # before announcing
    print(f"building the book ({args.profile} profile) cold, then warm ...", flush=True)
    try:
        times = bench_build(
            args.book, profile=args.profile, workdir=args.keep, timeout=args.timeout
        )
    except RuntimeError as err:  # the build itself failed: show its log
        print(f"error: {err}", file=sys.stderr)
        return 1
    cpus = os.cpu_count()
    print(f"cold build (fresh caches, data present): {times['cold']:8.1f} s")
    print(f"warm rebuild (nothing changed):          {times['warm']:8.1f} s")
    print(f"cold / warm: {times['cold'] / times['warm']:.1f}x   ({cpus} CPU cores)")
    return 0
