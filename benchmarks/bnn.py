"""The BNN benchmark: ``python -m bayesdl bench bnn``.

Times one training epoch on MNIST of networks with the same LeNet-like
layout (:func:`bayesdl.models.bnn.lenet_layers`) and batch size, in one run:

* the book's Bayesian network (:class:`~bayesdl.models.bnn.BayesianLeNet`,
  the fast layers: local reparameterization, closed-form KL), one step of
  ``Trace_ELBO`` used as a module with a torch Adam, as ``fit_svi`` runs it;
* its deterministic twin (:class:`~bayesdl.models.bnn.LeNet`), one step of
  cross-entropy and Adam: the floor that no BNN can go below;
* the same network written the plain Pyro way
  (:class:`~bayesdl.models.pyro_lenet.PyroLeNet`: ``PyroSample`` priors, an
  ``AutoNormal`` guide, ``TraceMeanField_ELBO``), fed the same in-memory
  batches with their real indices;
* for reference, that Pyro network fed as Pyro's tutorials feed it:
  torchvision's ``MNIST`` dataset with a per-image ``ToTensor`` transform
  and a ``DataLoader`` (the whole loop a reader who follows the tutorials
  runs).

The target is the book's: an epoch of the Bayesian network takes at most
:data:`TARGET` times as long as an epoch of its deterministic twin. The
networks run in turns (a few steps each, round after round), so that a
change in the machine's load hits all of them alike; on CUDA the clock
stops only after the device has finished. An epoch's time is the measured
time per step times the number of steps of an epoch.

Example::

    $ python -m bayesdl bench bnn --steps 100
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyro
import torch
import torch.nn.functional as F
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal, init_to_value

from bayesdl import checks, config, data, infer
from bayesdl.data.idx import open_maybe_gzip
from bayesdl.models.bnn import BayesianLeNet, LeNet
from bayesdl.models.pyro_lenet import PyroLeNet
from bayesdl.recipes.mnist_bnn import MnistSettings

from ._timing import timed

__all__ = ["TARGET", "bench_bnn", "main"]

TARGET = 1.5
"""An epoch of the Bayesian network may take at most this many epochs of its twin."""


def _tutorial_batches(
    folder: Path, batch_size: int, train_size: int | None, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """MNIST batches as Pyro's tutorials make them, endlessly.

    torchvision's ``MNIST`` dataset (reading the book's verified raw files,
    copied uncompressed into ``folder``), ``transforms.ToTensor()`` on every
    image, and a shuffling ``DataLoader``; each batch comes with the
    positions of its images.
    """
    from torchvision import datasets, transforms

    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    data.fetch("mnist")  # the verified files, fetched if need be
    source = data.raw_dir("mnist")
    for filename in data.FILES["train"] + data.FILES["test"]:
        stored = source / filename
        if not stored.is_file():
            stored = source / f"{filename}.gz"
        with open_maybe_gzip(stored) as src, open(raw / filename, "wb") as dst:
            shutil.copyfileobj(src, dst)
    dataset = datasets.MNIST(
        folder, train=True, download=False, transform=transforms.ToTensor()
    )

    class Indexed(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(keep)

        def __getitem__(self, i: int):
            image, label = dataset[keep[i]]
            return image, label, i

    keep = list(range(len(dataset)))
    if train_size is not None:
        order = torch.randperm(
            len(dataset), generator=torch.Generator().manual_seed(seed)
        )
        keep = order[:train_size].tolist()
    loader = torch.utils.data.DataLoader(
        Indexed(),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    while True:
        yield from loader


def _timed_rounds(
    steps: dict[str, Callable[[int], None]],
    total: int,
    per_round: int,
    device: torch.device,
) -> dict[str, float]:
    """Run every step function ``total`` times in turns; seconds per step."""
    seconds = dict.fromkeys(steps, 0.0)
    done = 0
    while done < total:
        k = min(per_round, total - done)
        for name, step in steps.items():
            with timed(device) as clock:
                for i in range(done, done + k):
                    step(i)
            seconds[name] += clock.seconds
        done += k
    return {name: s / total for name, s in seconds.items()}


def _svi_step(model, guide, loss, example) -> Callable[..., None]:
    """One SVI step as ``fit_svi`` takes it: the ELBO as a module, torch Adam
    (fused, as for the deterministic network)."""
    elbo = loss(model, guide)
    elbo(*example)  # an autoguide creates its parameters on the first call
    optim = torch.optim.Adam(elbo.parameters(), lr=1e-3, fused=True)

    def step(*batch: torch.Tensor) -> None:
        optim.zero_grad(set_to_none=True)
        elbo(*batch).backward()
        optim.step()

    return step


def bench_bnn(
    *,
    steps: int | None = None,
    batch_size: int = 128,
    train_size: int | None = None,
    warmup: int = 5,
    per_round: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Seconds per training epoch of the BNN, its deterministic twin and the
    plain-Pyro network, and their ratios.

    ``steps`` (default: one epoch) optimisation steps of each are timed after
    ``warmup`` untimed ones; ``train_size`` (default: all 60,000 images)
    defines the epoch. Returns a dict with ``bnn_epoch_seconds``,
    ``det_epoch_seconds``, ``pyro_epoch_seconds``,
    ``tutorial_epoch_seconds`` (the Pyro network fed through a
    ``DataLoader``), ``bnn_over_det``, ``target_met`` (1.0 when
    ``bnn_over_det <= TARGET``), ``pyro_over_bnn`` and ``tutorial_over_bnn``.

    Example::

        r = bench_bnn(steps=50)
        r["bnn_over_det"], r["target_met"]
    """
    batch_size = checks.positive_int("batch_size", batch_size)
    per_round = checks.positive_int("per_round", per_round)
    warmup = checks.non_negative_int("warmup", warmup)
    seed = checks.seed(seed)
    if steps is not None:
        steps = checks.positive_int("steps", steps)
    if train_size is not None:
        train_size = checks.positive_int("train_size", train_size)
    images, labels = data.load("mnist", "train")
    if train_size is not None:
        images, labels = data.subset(images, labels, train_size, seed=seed)
    dev = config.device()
    images, labels = images.to(dev), labels.to(dev)
    n = len(images)
    per_epoch = math.ceil(n / batch_size)
    steps = per_epoch if steps is None else steps
    generator = torch.Generator(device="cpu").manual_seed(seed)
    positions = torch.arange(n, device=dev)
    epochs = 1 + (steps + warmup) // per_epoch
    order = [  # each batch's positions in the training set
        index
        for _ in range(epochs)
        for (index,) in infer.batches(
            positions, batch_size=batch_size, generator=generator
        )
    ]

    def batch(i: int) -> list[torch.Tensor]:
        index = order[i % len(order)]
        return [images[index], labels[index], index]

    pyro.clear_param_store()
    torch.manual_seed(seed)
    example = batch(0)
    bnn = BayesianLeNet(n, init_std=0.01).to(dev).train()
    bnn_step = _svi_step(bnn, bnn.guide, Trace_ELBO(), example[:2])

    det = LeNet().to(dev)
    det_optim = torch.optim.Adam(det.parameters(), lr=1e-3, fused=True)

    def det_step(i: int) -> None:
        x, y, _ = batch(i)
        det_optim.zero_grad(set_to_none=True)
        F.cross_entropy(det(x), y).backward()
        det_optim.step()

    plain = PyroLeNet(n).to(dev)
    guide = AutoNormal(
        plain,
        init_loc_fn=init_to_value(values=plain.initial_values()),
        init_scale=0.01,
    )
    pyro_step = _svi_step(plain, guide, TraceMeanField_ELBO(), example)

    def tutorial_step(i: int) -> None:
        x, y, index = next(loader)
        pyro_step(x.to(dev), y.to(dev), index.to(dev))

    with tempfile.TemporaryDirectory(prefix="bayesdl-bench-") as folder:
        loader = _tutorial_batches(Path(folder), batch_size, train_size, seed)
        step_fns = {
            "bnn": lambda i: bnn_step(*batch(i)[:2]),
            "det": det_step,
            "pyro": lambda i: pyro_step(*batch(i)),
            "tutorial": tutorial_step,
        }
        for fn in step_fns.values():  # warm-up: allocator, caches
            for i in range(warmup):
                fn(steps + i)
        per_step = _timed_rounds(step_fns, steps, per_round, dev)
        loader.close()
    out = {f"{k}_epoch_seconds": v * per_epoch for k, v in per_step.items()}
    out["bnn_over_det"] = out["bnn_epoch_seconds"] / out["det_epoch_seconds"]
    out["target_met"] = float(out["bnn_over_det"] <= TARGET)
    out["pyro_over_bnn"] = out["pyro_epoch_seconds"] / out["bnn_epoch_seconds"]
    out["tutorial_over_bnn"] = out["tutorial_epoch_seconds"] / out["bnn_epoch_seconds"]
    out["steps_timed"] = float(steps)
    out["steps_per_epoch"] = float(per_epoch)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bayesdl bench bnn",
        description="Time training epochs of the book's Bayesian LeNet against "
        "its deterministic twin and the plain-Pyro network.",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps timed per network (default: one epoch)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="default: the Bayesian LeNet's batch, chosen by bench schedules",
    )
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="images per epoch (default: all 60,000)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bayesdl bench bnn``; returns the exit status.

    Example::

        >>> main(["--steps", "20"])  # doctest: +SKIP
        0
    """
    args = _parser().parse_args(None if argv is None else list(argv))
    if args.batch_size is None:
        args.batch_size = MnistSettings().bnn.batch_size
    checks.positive_int("--batch-size", args.batch_size)
    for option in ("steps", "train_size", "threads"):
        value = getattr(args, option)
        if value is not None:
            checks.positive_int("--" + option.replace("_", "-"), value)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    r = bench_bnn(
        steps=args.steps, batch_size=args.batch_size, train_size=args.train_size
    )
    met = "met" if r["target_met"] else "NOT met"
    print(
        f"BNN training, batch {args.batch_size}, {int(r['steps_per_epoch'])} steps "
        f"per epoch ({int(r['steps_timed'])} timed per network, in turns), "
        f"{torch.get_num_threads()} CPU thread(s), device {config.device()}"
    )
    print(f"  Bayesian LeNet (bayesdl)   {r['bnn_epoch_seconds']:8.1f} s per epoch")
    print(f"  deterministic LeNet        {r['det_epoch_seconds']:8.1f} s per epoch")
    print(
        f"  plain-Pyro LeNet           {r['pyro_epoch_seconds']:8.1f} s per epoch"
        "  (PyroSample + AutoNormal, same batches)"
    )
    print(
        f"  BNN / deterministic        {r['bnn_over_det']:8.2f}x  "
        f"(target <= {TARGET}x: {met})"
    )
    print(f"  plain-Pyro / BNN           {r['pyro_over_bnn']:8.2f}x")
    print(
        f"  for reference, the plain-Pyro LeNet in a tutorial-style loop "
        f"(torchvision MNIST + ToTensor + DataLoader): "
        f"{r['tutorial_epoch_seconds']:.1f} s per epoch, "
        f"{r['tutorial_over_bnn']:.2f}x the BNN"
    )
    return 0
