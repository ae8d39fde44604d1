"""The MNIST chapter's recipes: the Bayesian LeNet and its ordinary twin.

Example::

    >>> from bayesdl.recipes import mnist_bnn
    >>> mnist_bnn.MnistSettings().channels
    (16, 32)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import config, data, metrics
from ..infer import loop, svi
from ..models import bnn
from ..models.bnn import BayesianLeNet, LeNet
from . import mnist_schedules
from ._runner import checked_settings, register, run

__all__ = [
    "MnistSettings",
    "Training",
    "bnn_fit",
    "bnn_mnist",
    "chosen_training",
    "lenet_fit",
    "lenet_mnist",
    "mnist_data",
    "mnist_settings",
]


@dataclass(frozen=True)
class Training:
    """How one family of MNIST networks is trained: schedule, peak rate, batch.

    ``lr`` is the peak of the one-cycle schedule (torch's ``OneCycleLR``,
    :class:`~bayesdl.infer.schedules.Schedule`), reached after the first
    ``warmup`` fraction of the run; ``final_lr`` is where it ends (None:
    the schedule's default). The geometric schedule (``warmup`` unused)
    decays from ``lr`` to ``final_lr``. The values are the ones the search on
    the validation images chose (:mod:`bayesdl.recipes.mnist_schedules`).

    Example::

        >>> Training(lr=0.01, batch_size=256).warmup_steps(1000, 2)
        2
    """

    lr: float
    batch_size: int
    warmup: float = 0.3
    schedule: str = "one_cycle"
    final_lr: float | None = None

    def steps(self, num_train: int, num_epochs: int) -> int:
        """The run's number of optimisation steps."""
        return -(-num_train // self.batch_size) * num_epochs

    def warmup_steps(self, num_train: int, num_epochs: int) -> int:
        """The steps of the rising half of the cycle (0 for the geometric decay)."""
        if self.schedule != "one_cycle":
            return 0
        return max(1, round(self.warmup * self.steps(num_train, num_epochs)))


@dataclass(frozen=True)
class MnistSettings:
    """The architecture, data and training settings of the MNIST networks.

    Shared by :func:`bnn_mnist` and :func:`lenet_mnist` (same layout, data
    and epochs), and by the alternatives of
    :mod:`~bayesdl.recipes.mnist_alternatives`; each family has the
    :class:`Training` that the validation search chose for it: ``lenet``
    for the ordinary networks (the dropout networks, the ensemble's
    members, the networks under a temperature or Laplace), ``bnn`` for the
    Bayesian LeNet. ``num_validation`` images of the training set are held
    out (:func:`mnist_data`), and no network trains on them; the
    profile picks the sizes.

    Example::

        >>> MnistSettings().lenet == chosen_training("lenet")
        True
    """

    num_train: int = field(
        default_factory=lambda: config.choose(full=55_000, smoke=3_000)
    )
    num_validation: int = field(
        default_factory=lambda: config.choose(full=5_000, smoke=500)
    )
    num_epochs: int = field(default_factory=lambda: config.choose(full=3, smoke=2))
    lenet: Training = field(default_factory=lambda: chosen_training("lenet"))
    bnn: Training = field(default_factory=lambda: chosen_training("bnn"))
    channels: tuple[int, int] = (16, 32)
    hidden: int = 128
    prior_scale: float = 1.0
    init_std: float = 0.01
    validation_samples: int = 8


def chosen_training(family: str) -> Training:
    """The :class:`Training` with the lowest validation NLL in the search.

    ``family`` is ``"lenet"`` or ``"bnn"``; the candidates and their
    validation NLLs are :data:`bayesdl.recipes.mnist_schedules.SEARCH`,
    written by ``python -m bayesdl bench schedules`` (its longer run of the
    chosen candidate, which measures the budget, is no candidate).

    Example::

        >>> chosen_training("lenet").schedule
        'one_cycle'
    """
    epochs = mnist_schedules.ABOUT.get("epochs")
    rows = [
        r
        for r in mnist_schedules.SEARCH
        if r["family"] == family and not r["reference"] and r["epochs"] == epochs
    ]
    if not rows:
        raise ValueError(
            f"no schedule search for {family!r}; run "
            "`python -m bayesdl bench schedules` from a clone."
        )
    best = min(rows, key=lambda r: r["val_nll"][-1])
    return Training(
        lr=best["lr"],
        batch_size=best["batch_size"],
        warmup=best["warmup"],
        schedule=best["schedule"],
        final_lr=best["final_lr"],
    )


def mnist_settings() -> MnistSettings:
    """The current profile's :class:`MnistSettings`.

    Example::

        >>> mnist_settings().lenet.schedule
        'one_cycle'
    """
    return MnistSettings()


def mnist_data(
    settings: MnistSettings | None = None,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The MNIST training images as ``(train, validation)``, each ``(x, y)``.

    :func:`bayesdl.data.train_validation_split` (seed 0) holds out
    ``num_validation`` images; the networks train on ``num_train`` of the
    rest (all of them in the full profile, a class-stratified seeded subset
    in the smoke profile). Everything chosen (a prior scale, a temperature,
    a dropout rate) is chosen on the validation images.

    Example::

        >>> (train_x, train_y), (val_x, val_y) = mnist_data()
    """
    settings = MnistSettings() if settings is None else settings
    x, y = data.load("mnist", "train")
    train, val = data.train_validation_split(x, y, settings.num_validation, seed=0)
    if settings.num_train < len(train[0]):
        train = data.subset(*train, settings.num_train, seed=0)
    elif settings.num_train > len(train[0]):
        raise ValueError(
            f"num_train={settings.num_train} is more than the "
            f"{len(train[0])} training images left beside the validation set."
        )
    return train, val


def _validation_record(net, settings: MnistSettings, samples: int):
    """An ``on_epoch_end`` hook recording the validation NLL and accuracy.

    Returns ``(hook, record)``: after every epoch the hook scores the
    network's predictive (the mean of ``samples`` draws) on the validation
    images of :func:`mnist_data` and appends to ``record["val_nll"]`` and
    ``record["val_accuracy"]``.
    """
    _, (val_x, val_y) = mnist_data(settings)
    val_x = val_x.to(config.device())
    record: dict[str, list[float]] = {"val_nll": [], "val_accuracy": []}

    def hook(epoch: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(epoch)
            probs = net.predict(val_x, num_samples=samples).mean(0)
        record["val_nll"].append(metrics.negative_log_likelihood(probs, val_y))
        record["val_accuracy"].append(metrics.accuracy(probs, val_y))

    return hook, record


def _with_record(result: loop.FitResult, record: dict[str, list[float]]):
    return result, {k: torch.tensor(v) for k, v in record.items()}


def bnn_fit(settings: MnistSettings) -> Callable[[BayesianLeNet, int], Any]:
    """The training of the Bayesian LeNet with ``settings``, as the runner calls it.

    Mini-batch SVI (:func:`~bayesdl.infer.svi.fit_svi`) on the training
    images of :func:`mnist_data` with ``settings.bnn``'s schedule, peak
    learning rate and batch size; after every epoch the validation NLL and
    accuracy of the predictive are recorded (off the clock).

    Example::

        fit = bnn_fit(MnistSettings())
    """
    train = settings.bnn

    def fit(net: BayesianLeNet, seed: int):
        (x, y), _ = mnist_data(settings)
        dev = config.device()
        hook, record = _validation_record(net, settings, settings.validation_samples)
        net.train()
        result = svi.fit_svi(
            net.model,
            net.guide,
            data=(x.to(dev), y.to(dev)),
            num_epochs=settings.num_epochs,
            batch_size=train.batch_size,
            lr=train.lr,
            final_lr=train.final_lr,
            schedule=train.schedule,
            warmup_steps=train.warmup_steps(len(x), settings.num_epochs),
            on_epoch_end=lambda epoch: (hook(epoch), net.train()),
        )
        return _with_record(result, record)

    return fit


@register("bnn_mnist", "the Bayesian LeNet of the MNIST chapter")
def bnn_mnist(*, seed: int = 0, settings: MnistSettings | None = None) -> BayesianLeNet:
    """The chapter's Bayesian LeNet, trained on MNIST by mini-batch SVI.

    Returns a :class:`~bayesdl.models.bnn.BayesianLeNet` in evaluation mode
    with its training record: ``losses`` (the ELBO loss of every step),
    ``train_seconds``, and ``val_nll`` and ``val_accuracy`` (one per
    epoch). ``predict(x, num_samples=S)`` gives class probabilities
    (S, N, 10). ``settings`` (default :func:`mnist_settings`) changes the
    training, e.g. ``dataclasses.replace(mnist_settings(), num_epochs=6)``.

    Example::

        bnn = bnn_mnist()
        probs = bnn.predict(x, num_samples=20).mean(0)
    """
    settings = checked_settings(settings, MnistSettings, "mnist_settings")

    def make() -> BayesianLeNet:
        return BayesianLeNet(
            settings.num_train,
            settings.channels,
            settings.hidden,
            prior_scale=settings.prior_scale,
            init_std=settings.init_std,
        )

    return run(
        "bnn_mnist",
        make=make,
        fit=bnn_fit(settings),
        settings=settings,
        seed=seed,
        sources=[bnn, __name__],
        history=VALIDATION_HISTORY,
    )


VALIDATION_HISTORY = ("val_nll", "val_accuracy")
"""The per-epoch records of the MNIST networks' training."""


def lenet_fit(
    settings: MnistSettings, scorer: Callable[[LeNet], Any] | None = None
) -> Callable[[LeNet, int], Any]:
    """The training of an ordinary LeNet with ``settings``, as the runner calls it.

    Maximum likelihood (the cross-entropy) on the training images of
    :func:`mnist_data`, with Adam and ``settings.lenet``'s schedule, peak
    learning rate and batch size, for the epochs of :func:`bnn_mnist`;
    after every epoch the validation NLL and accuracy are recorded (off
    the clock) of ``scorer(net)``'s predictive, the mean of
    ``settings.validation_samples`` draws (default: the network itself,
    one draw; the alternatives pass MC dropout for their dropout networks).
    The alternatives' networks train with it too.

    Example::

        fit = lenet_fit(MnistSettings())
        result, record = fit(LeNet(), 0)
    """
    train = settings.lenet

    def fit(net: LeNet, seed: int):
        (x, y), _ = mnist_data(settings)
        dev = config.device()
        scored = net if scorer is None else scorer(net)
        samples = 1 if scorer is None else settings.validation_samples
        hook, record = _validation_record(scored, settings, samples)
        result = loop.fit_classifier(
            net,
            x.to(dev),
            y.to(dev),
            num_epochs=settings.num_epochs,
            batch_size=train.batch_size,
            lr=train.lr,
            final_lr=train.final_lr,
            schedule=train.schedule,
            warmup_steps=train.warmup_steps(len(x), settings.num_epochs),
            on_epoch_end=hook,
        )
        return _with_record(result, record)

    return fit


@register("lenet_mnist", "the ordinary LeNet of the same layout, trained the same way")
def lenet_mnist(*, seed: int = 0, settings: MnistSettings | None = None) -> LeNet:
    """The ordinary LeNet of the same layout, trained on the same images.

    Maximum likelihood with its own validation-chosen schedule, for the
    epochs of :func:`bnn_mnist` (:func:`lenet_fit`). Returns a
    :class:`~bayesdl.models.bnn.LeNet` with ``losses``, ``train_seconds``,
    ``val_nll`` and ``val_accuracy`` (one per epoch).

    Example::

        net = lenet_mnist()
        probs = net.predict(x)       # (1, N, 10)
    """
    settings = checked_settings(settings, MnistSettings, "mnist_settings")
    return run(
        "lenet_mnist",
        make=lambda: LeNet(settings.channels, settings.hidden),
        fit=lenet_fit(settings),
        settings=settings,
        seed=seed,
        sources=[bnn, __name__],
        history=VALIDATION_HISTORY,
    )
