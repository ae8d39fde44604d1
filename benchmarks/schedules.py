"""The schedule search of the MNIST networks: ``python -m bayesdl bench schedules``.

Trains each candidate training of a family of MNIST networks (the ordinary
LeNet, ``lenet``; the mean-field Bayesian LeNet, ``bnn``) with the recipe's
own fit (:func:`bayesdl.recipes.mnist_bnn.lenet_fit`,
:func:`~bayesdl.recipes.mnist_bnn.bnn_fit`) for the chapter's epochs on the
chapter's training images, seed 0, and scores it after every epoch on the
validation images that every MNIST method holds out. The test set is not
read. The search has two stages:

1. the one-cycle schedule (torch's ``OneCycleLR``) over a grid of peak
   learning rates and batch sizes, warm-up 30% of the run;
2. the warm-up fraction varied at the best peak and batch of stage 1;

plus, for reference, the book's earlier hand-set schedule (Adam, 2e-3
decaying geometrically to 2e-4, batch 128), so that the table shows what
the search bought. It prints the table and, with ``--write``, writes it to
:mod:`bayesdl.recipes.mnist_schedules`, from which the recipes take the
candidate with the lowest final validation NLL
(:func:`~bayesdl.recipes.mnist_bnn.chosen_training`) and the MNIST chapter
shows the table. A new search therefore changes the networks' cache keys and
retrains them.

Example::

    $ python -m bayesdl bench schedules --family lenet
    $ python -m bayesdl bench schedules --write
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import platform
import pprint
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import torch

from bayesdl import config
from bayesdl.models.bnn import BayesianLeNet, LeNet
from bayesdl.recipes import mnist_bnn
from bayesdl.recipes.mnist_bnn import MnistSettings, Training

__all__ = ["GRID", "REFERENCE", "WARMUPS", "candidates", "main", "search", "train_one"]

GRID: dict[str, dict[str, tuple]] = {
    "lenet": {"lr": (3e-3, 1e-2, 2e-2), "batch_size": (128, 256)},
    "bnn": {"lr": (1e-3, 2e-3, 5e-3, 1e-2), "batch_size": (128, 256)},
}
"""Stage 1: the peak learning rates and batch sizes tried for each family."""

WARMUPS: tuple[float, ...] = (0.1, 0.5)
"""Stage 2: the warm-up fractions tried at stage 1's best (beside its 0.3)."""

REFERENCE = Training(
    lr=2e-3, batch_size=128, warmup=0.0, schedule="geometric", final_lr=2e-4
)
"""The book's earlier hand-set training, scored for comparison (never chosen)."""

OUT = Path(__file__).resolve().parent.parent / "bayesdl/recipes/mnist_schedules.py"


def candidates(family: str) -> list[Training]:
    """Stage 1's one-cycle candidates of ``family``.

    Example::

        >>> len(candidates("lenet"))
        6
    """
    grid = GRID[family]
    return [
        Training(lr=lr, batch_size=b) for b in grid["batch_size"] for lr in grid["lr"]
    ]


def train_one(
    family: str, training: Training, settings: MnistSettings, epochs: int | None = None
) -> dict:
    """Train one candidate (seed 0) and return its row of the table.

    ``epochs`` (default: the settings') lengthens the run, the schedule
    stretched over it.
    """
    epochs = settings.num_epochs if epochs is None else epochs
    settings = dataclasses.replace(settings, num_epochs=epochs, **{family: training})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if family == "lenet":
            net = LeNet(settings.channels, settings.hidden)
            fit = mnist_bnn.lenet_fit(settings)
        else:
            net = BayesianLeNet(
                settings.num_train,
                settings.channels,
                settings.hidden,
                prior_scale=settings.prior_scale,
                init_std=settings.init_std,
            )
            fit = mnist_bnn.bnn_fit(settings)
        result, record = fit(net.to(config.device()), 0)
    return {
        "family": family,
        **dataclasses.asdict(training),
        "val_nll": [round(float(v), 6) for v in record["val_nll"]],
        "val_accuracy": [round(float(v), 6) for v in record["val_accuracy"]],
        "seconds": round(result.seconds, 1),
        "reference": training == REFERENCE,
        "epochs": epochs,
    }


def _show(row: dict) -> str:
    return (
        f"{row['family']:<6} {row['schedule']:<10} lr {row['lr']:<7g} "
        f"batch {row['batch_size']:<4} warm-up {row['warmup']:<4g} "
        f"val NLL {row['val_nll'][-1]:.4f} acc {row['val_accuracy'][-1]:.2%} "
        f"({row['seconds']:.0f} s)"
    )


def _same(row: dict, family: str, training: Training) -> bool:
    return row["family"] == family and all(
        row[k] == v for k, v in dataclasses.asdict(training).items()
    )


def search(
    family: str,
    settings: MnistSettings,
    verbose: bool = True,
    done: Sequence[dict] = (),
) -> list[dict]:
    """Both stages and the reference for ``family``: the table's rows.

    A candidate with a row in ``done`` (an earlier search at the same sizes,
    see ``--resume``) is not trained again: its row is taken as it is.
    """
    rows: list[dict] = []

    def add(training: Training) -> None:
        old = [
            r
            for r in done
            if _same(r, family, training)
            and r.get("epochs", settings.num_epochs) == settings.num_epochs
        ]
        rows.append(
            {**old[0], "epochs": settings.num_epochs}
            if old
            else train_one(family, training, settings)
        )
        if verbose:
            print(_show(rows[-1]) + (" (earlier run)" if old else ""), flush=True)

    for training in [REFERENCE, *candidates(family)]:
        add(training)
    best = min((r for r in rows if not r["reference"]), key=lambda r: r["val_nll"][-1])
    for warmup in WARMUPS:
        add(Training(lr=best["lr"], batch_size=best["batch_size"], warmup=warmup))
    # Is the budget enough? The chosen candidate again, over twice the epochs.
    best = min((r for r in rows if not r["reference"]), key=lambda r: r["val_nll"][-1])
    chosen = Training(
        lr=best["lr"], batch_size=best["batch_size"], warmup=best["warmup"]
    )
    longer = 2 * settings.num_epochs
    old = [r for r in done if _same(r, family, chosen) and r.get("epochs") == longer]
    rows.append(old[0] if old else train_one(family, chosen, settings, longer))
    if verbose:
        print(_show(rows[-1]) + f" over {longer} epochs", flush=True)
    return rows


def _git(*args: str) -> str:
    """What ``git ARGS`` prints in the checkout (empty outside one)."""
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, cwd=OUT.parent, check=False
    ).stdout.strip()


def _module_text(rows: list[dict], settings: MnistSettings) -> str:
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    if commit and dirty:
        commit += " with uncommitted changes"
    about = {
        "date": datetime.date.today().isoformat(),
        "commit": commit or "unknown",
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{config.device()}",
        "epochs": settings.num_epochs,
        "num_train": settings.num_train,
        "num_validation": settings.num_validation,
        "train_seconds": round(sum(r["seconds"] for r in rows)),
    }
    return (
        '"""The schedule search of the MNIST networks, as the benchmark wrote it.\n\n'
        "Written by ``python -m bayesdl bench schedules --write``"
        " (``benchmarks/schedules.py``);\n"
        "do not edit by hand. Each row of :data:`SEARCH` is one candidate"
        " training of a\nfamily (seed 0, scored after every epoch on the"
        " validation images); the\nrecipes train each family with the row of"
        " lowest final validation NLL\n(:func:`bayesdl.recipes.mnist_bnn."
        "chosen_training`), the reference row\nexcepted.\n"
        '"""\n\n'
        f"ABOUT = {pprint.pformat(about, sort_dicts=False, width=80)}\n"
        '"""When, where and on what the search ran."""\n\n'
        f"SEARCH = {pprint.pformat(rows, sort_dicts=False, width=80)}\n"
        '"""The candidates and their per-epoch validation NLL and accuracy."""\n'
    )


def _load(path: Path):
    """The module that an earlier ``--write`` left at ``path``."""
    spec = importlib.util.spec_from_file_location("_recorded_search", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    """Run the search, print its table and (``--write``) record it.

    Example::

        >>> main(["--family", "lenet"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(
        prog="python -m bayesdl bench schedules",
        description="Choose the MNIST networks' schedules on the validation images.",
    )
    parser.add_argument(
        "--family", choices=sorted(GRID), action="append", help="default: both"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="record the table in bayesdl/recipes/mnist_schedules.py",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of the recorded search for candidates it already "
        "trained at the same sizes (after the grid grew, say)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.write and args.out == OUT and config.profile() != "full":
        raise ValueError(
            "the recorded search must be the full profile's; unset BAYESDL_PROFILE."
        )
    families = args.family or sorted(GRID, reverse=True)
    settings = MnistSettings(
        lenet=Training(lr=1e-2, batch_size=256), bnn=Training(lr=5e-3, batch_size=128)
    )
    done: list[dict] = []
    if args.resume and args.out.is_file():
        earlier = _load(args.out)
        now = {
            "epochs": settings.num_epochs,
            "num_train": settings.num_train,
            "num_validation": settings.num_validation,
        }
        if all(earlier.ABOUT.get(k) == v for k, v in now.items()):
            done = list(earlier.SEARCH)
    rows = [row for f in families for row in search(f, settings, done=done)]
    for family in families:
        ours = [
            r
            for r in rows
            if r["family"] == family
            and not r["reference"]
            and r["epochs"] == settings.num_epochs
        ]
        best = min(ours, key=lambda r: r["val_nll"][-1])
        print(f"chosen for {family}: {_show(best)}")
    if args.write:
        text = _module_text(rows, settings)
        tmp = args.out.with_name(f".{args.out.stem}.tmp.py")
        tmp.write_text(text)
        if shutil.which("ruff"):  # the house style, so that the lint passes
            subprocess.run(["ruff", "format", "-q", str(tmp)], check=False)
        tmp.replace(args.out)
        print(f"wrote {args.out}")
    return 0
