"""Benchmarks: ``python -m bayesdl bench bnn``.

``bnn`` times one training epoch on MNIST of three networks with the same
LeNet-like layout and batch size, in one run:

* the book's Bayesian network (:class:`bayesdl.models.bnn.BayesianLeNet`,
  mini-batch SVI with :func:`bayesdl.infer.fit_svi`'s step);
* the deterministic network of the same shape, trained by plain PyTorch;
* a tutorial-style Pyro BNN: ``PyroModule[nn.Conv2d]`` and
  ``PyroModule[nn.Linear]`` layers whose weights are ``PyroSample``s of
  ``Normal`` priors, an ``AutoNormal`` guide, ``Trace_ELBO`` and Adam, timed
  twice: fed the same in-memory batches as the others (the model's own cost),
  and fed as Pyro's tutorials feed it, through torchvision's ``MNIST``
  dataset with a per-image ``ToTensor`` transform and a ``DataLoader`` (the
  whole loop a reader who follows the tutorials runs).

The three are run in turns (a few steps each, round after round), so that a
change in the machine's load hits all of them alike. An epoch's time is the
measured time per step times the number of steps of an epoch.

Example::

    $ python -m bayesdl bench bnn --steps 100
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample
from torch import nn

from . import config, data
from .models.bnn import MNIST_MEAN, MNIST_STD, BayesianLeNet, LeNet

__all__ = ["TutorialBNN", "bench_bnn", "main"]


class TutorialBNN(PyroModule):
    """The LeNet layout written as in Pyro's tutorials: ``PyroSample`` weights.

    Every weight and bias has a ``Normal(0, prior_scale)`` prior; the guide
    is ``AutoNormal(model)``. Used only as the benchmark's peer.

    Example::

        >>> model = TutorialBNN(num_data=60_000)
        >>> guide = AutoNormal(model, init_scale=0.01)
    """

    def __init__(
        self,
        num_data: int,
        channels: Sequence[int] = (16, 32),
        hidden: int = 128,
        prior_scale: float = 1.0,
    ) -> None:
        super().__init__()
        c1, c2 = channels
        self.num_data = num_data
        self.conv1 = PyroModule[nn.Conv2d](1, c1, 5)
        self.conv2 = PyroModule[nn.Conv2d](c1, c2, 5)
        self.fc1 = PyroModule[nn.Linear](c2 * 16, hidden)
        self.fc2 = PyroModule[nn.Linear](hidden, 10)
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            for name, value in list(layer.named_parameters()):
                prior = dist.Normal(0.0, prior_scale).expand(value.shape)
                setattr(layer, name, PyroSample(prior.to_event(value.dim())))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = (x - MNIST_MEAN) / MNIST_STD
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        logits = self.fc2(F.relu(self.fc1(h.flatten(1))))
        with pyro.plate("data", self.num_data, subsample=torch.arange(len(x))):
            pyro.sample("obs", dist.Categorical(logits=logits), obs=y)
        return logits


def _tutorial_batches(
    folder: Path, batch_size: int, train_size: int | None, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """MNIST batches as Pyro's tutorials make them, endlessly.

    torchvision's ``MNIST`` dataset (reading the book's verified raw files,
    copied uncompressed into ``folder``), ``transforms.ToTensor()`` on every
    image, and a shuffling ``DataLoader``.
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
        with (
            data._open_maybe_gzip(stored) as src,
            open(raw / filename, "wb") as dst,
        ):
            shutil.copyfileobj(src, dst)
    dataset = datasets.MNIST(
        folder, train=True, download=False, transform=transforms.ToTensor()
    )
    if train_size is not None:
        keep = torch.randperm(
            len(dataset), generator=torch.Generator().manual_seed(seed)
        )
        dataset = torch.utils.data.Subset(dataset, keep[:train_size].tolist())
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    while True:
        yield from loader


def _timed_rounds(
    steps: dict[str, Callable[[int], None]], total: int, per_round: int
) -> dict[str, float]:
    """Run every step function ``total`` times in turns; seconds per step."""
    seconds = dict.fromkeys(steps, 0.0)
    done = 0
    while done < total:
        k = min(per_round, total - done)
        for name, step in steps.items():
            start = time.perf_counter()
            for i in range(done, done + k):
                step(i)
            seconds[name] += time.perf_counter() - start
        done += k
    return {name: s / total for name, s in seconds.items()}


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
    tutorial-style Pyro BNN, plus the two ratios.

    ``steps`` (default: one epoch) optimisation steps of each are timed after
    ``warmup`` untimed ones; ``train_size`` (default: all 60,000 images)
    defines the epoch. Returns a dict with ``bnn_epoch_seconds``,
    ``det_epoch_seconds``, ``tutorial_epoch_seconds``, ``bnn_over_det`` and
    ``tutorial_over_bnn``.

    Example::

        >>> r = bench_bnn(steps=50)
        >>> r["bnn_over_det"], r["tutorial_over_bnn"]
    """
    images, labels = data.load("mnist", "train")
    if train_size is not None:
        images, labels = data.subset(images, labels, train_size, seed=seed)
    dev = config.device()
    images, labels = images.to(dev), labels.to(dev)
    n = len(images)
    per_epoch = math.ceil(n / batch_size)
    steps = per_epoch if steps is None else steps
    for name, v in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("per_round", per_round),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}.")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.cat(
        [torch.randperm(n, generator=generator) for _ in range(1 + steps // per_epoch)]
    ).to(dev)

    def batch(i: int):
        idx = order[(i % per_epoch) * batch_size : (i % per_epoch + 1) * batch_size]
        return images[idx], labels[idx]

    pyro.clear_param_store()
    torch.manual_seed(seed)
    bnn = BayesianLeNet(n, init_std=0.01).to(dev)
    svi = pyro.infer.SVI(
        bnn, bnn.guide, pyro.optim.Adam({"lr": 1e-3}), pyro.infer.Trace_ELBO()
    )

    det = LeNet().to(dev)
    opt = torch.optim.Adam(det.parameters(), lr=1e-3)

    def det_step(i: int) -> None:
        x, y = batch(i)
        loss = F.cross_entropy(det(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    tut = TutorialBNN(n).to(dev)
    guide = AutoNormal(tut, init_scale=0.01)
    tut_svi = pyro.infer.SVI(
        tut, guide, pyro.optim.Adam({"lr": 1e-3}), pyro.infer.Trace_ELBO()
    )

    def tutorial_loader_step(i: int) -> None:
        x, y = next(loader)
        tut_svi.step(x.to(dev), y.to(dev))

    with tempfile.TemporaryDirectory(prefix="bayesdl-bench-") as folder:
        loader = _tutorial_batches(Path(folder), batch_size, train_size, seed)
        step_fns = {
            "bnn": lambda i: svi.step(*batch(i)),
            "det": det_step,
            "tutorial": lambda i: tut_svi.step(*batch(i)),
            "tutorial_loader": tutorial_loader_step,
        }
        for fn in step_fns.values():  # warm-up: lazy guide setup, allocator, caches
            for i in range(warmup):
                fn(i)
        per_step = _timed_rounds(step_fns, steps, per_round)
        loader.close()
    out = {f"{k}_epoch_seconds": v * per_epoch for k, v in per_step.items()}
    out["bnn_over_det"] = out["bnn_epoch_seconds"] / out["det_epoch_seconds"]
    out["tutorial_over_bnn"] = out["tutorial_epoch_seconds"] / out["bnn_epoch_seconds"]
    out["tutorial_loader_over_bnn"] = (
        out["tutorial_loader_epoch_seconds"] / out["bnn_epoch_seconds"]
    )
    out["steps_timed"] = float(steps)
    out["steps_per_epoch"] = float(per_epoch)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bayesdl bench",
        description="Time training epochs of the book's networks against peers.",
    )
    parser.add_argument("which", choices=["bnn"], help="the benchmark to run")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps timed per network (default: one epoch)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="images per epoch (default: all 60,000)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bayesdl bench``; returns the exit status.

    Example::

        >>> main(["bnn", "--steps", "20"])
        0
    """
    args = _parser().parse_args(None if argv is None else list(argv))
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be positive, got {args.threads}.")
        torch.set_num_threads(args.threads)
    r = bench_bnn(
        steps=args.steps, batch_size=args.batch_size, train_size=args.train_size
    )
    print(
        f"BNN training, batch {args.batch_size}, {int(r['steps_per_epoch'])} steps per "
        f"epoch ({int(r['steps_timed'])} timed per network, in turns), "
        f"{torch.get_num_threads()} CPU thread(s), device {config.device()}"
    )
    print(f"  Bayesian LeNet (bayesdl)      {r['bnn_epoch_seconds']:8.1f} s per epoch")
    print(f"  deterministic LeNet           {r['det_epoch_seconds']:8.1f} s per epoch")
    print(
        f"  tutorial-style Pyro BNN       {r['tutorial_epoch_seconds']:8.1f} s per epoch"
        "  (same in-memory batches)"
    )
    print(
        "  tutorial-style Pyro BNN       "
        f"{r['tutorial_loader_epoch_seconds']:8.1f} s per epoch"
        "  (torchvision MNIST + ToTensor + DataLoader, as the tutorials)"
    )
    print(f"  BNN / deterministic           {r['bnn_over_det']:8.2f}x")
    print(
        f"  tutorial-style / BNN          {r['tutorial_over_bnn']:8.2f}x  (model only)"
    )
    print(
        f"  tutorial-style / BNN          {r['tutorial_loader_over_bnn']:8.2f}x"
        "  (whole loop, tutorial data pipeline)"
    )
    return 0
