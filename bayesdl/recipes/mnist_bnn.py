"""The MNIST chapter's recipes: the Bayesian LeNet and its ordinary twin.

Example::

    >>> from bayesdl.recipes import mnist_bnn
    >>> mnist_bnn.MnistSettings().batch_size
    128
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import config, data
from ..infer import loop, svi
from ..models import bnn
from ..models.bnn import BayesianLeNet, LeNet
from ._runner import register, run

__all__ = [
    "MnistSettings",
    "bnn_mnist",
    "lenet_fit",
    "lenet_mnist",
    "mnist_data",
    "mnist_settings",
]


@dataclass(frozen=True)
class MnistSettings:
    """The architecture and training settings of the MNIST networks.

    Shared by :func:`bnn_mnist` and :func:`lenet_mnist` (same layout, data,
    batch size, epochs and learning rates), and by the alternatives of
    :mod:`~bayesdl.recipes.mnist_alternatives`; the profile picks the sizes.
    ``num_validation`` images of the training set are held out
    (:func:`mnist_data`), and no network trains on them.

    Example::

        >>> MnistSettings().batch_size
        128
    """

    num_train: int = field(
        default_factory=lambda: config.choose(full=55_000, smoke=3_000)
    )
    num_validation: int = field(
        default_factory=lambda: config.choose(full=5_000, smoke=500)
    )
    num_epochs: int = field(default_factory=lambda: config.choose(full=3, smoke=2))
    batch_size: int = 128
    lr: float = 2e-3
    final_lr: float = 2e-4
    channels: tuple[int, int] = (16, 32)
    hidden: int = 128
    prior_scale: float = 1.0
    init_std: float = 0.01


def mnist_settings() -> MnistSettings:
    """The current profile's :class:`MnistSettings`.

    Example::

        >>> mnist_settings().batch_size
        128
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


@register("bnn_mnist", "the Bayesian LeNet of the MNIST chapter")
def bnn_mnist(*, seed: int = 0) -> BayesianLeNet:
    """The chapter's Bayesian LeNet, trained on MNIST by mini-batch SVI.

    Returns a :class:`~bayesdl.models.bnn.BayesianLeNet` in evaluation mode
    with two extra attributes: ``losses`` (the ELBO loss of every step) and
    ``train_seconds`` (the wall time of the training that made it).
    ``predict(x, num_samples=S)`` gives class probabilities (S, N, 10).

    Example::

        bnn = bnn_mnist()
        probs = bnn.predict(x, num_samples=20).mean(0)
    """
    settings = MnistSettings()

    def make() -> BayesianLeNet:
        return BayesianLeNet(
            settings.num_train,
            settings.channels,
            settings.hidden,
            prior_scale=settings.prior_scale,
            init_std=settings.init_std,
        )

    def fit(net: BayesianLeNet, seed: int) -> loop.FitResult:
        (x, y), _ = mnist_data(settings)
        dev = config.device()
        net.train()
        return svi.fit_svi(
            net.model,
            net.guide,
            data=(x.to(dev), y.to(dev)),
            num_epochs=settings.num_epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            final_lr=settings.final_lr,
        )

    return run(
        "bnn_mnist",
        make=make,
        fit=fit,
        settings=settings,
        seed=seed,
        sources=[bnn, __name__],
    )


def lenet_fit(settings: MnistSettings) -> Callable[[LeNet, int], loop.FitResult]:
    """The training of an ordinary LeNet with ``settings``, as the runner calls it.

    Maximum likelihood (the cross-entropy) on the training images of
    :func:`mnist_data`, with the optimiser, learning rates, batch size and
    epochs of :func:`bnn_mnist`. The alternatives' networks train with it too.

    Example::

        fit = lenet_fit(MnistSettings())
        result = fit(LeNet(), 0)
    """

    def fit(net: LeNet, seed: int) -> loop.FitResult:
        (x, y), _ = mnist_data(settings)
        dev = config.device()
        return loop.fit_classifier(
            net,
            x.to(dev),
            y.to(dev),
            num_epochs=settings.num_epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            final_lr=settings.final_lr,
        )

    return fit


@register("lenet_mnist", "the ordinary LeNet of the same layout, trained the same way")
def lenet_mnist(*, seed: int = 0) -> LeNet:
    """The ordinary LeNet of the same layout, trained the same way on MNIST.

    Maximum likelihood with the optimiser, learning rates, batch size and
    epochs of :func:`bnn_mnist` (:func:`lenet_fit`). Returns a
    :class:`~bayesdl.models.bnn.LeNet` with ``losses`` and ``train_seconds``
    attributes.

    Example::

        net = lenet_mnist()
        probs = net.predict(x)       # (1, N, 10)
    """
    settings = MnistSettings()
    return run(
        "lenet_mnist",
        make=lambda: LeNet(settings.channels, settings.hidden),
        fit=lenet_fit(settings),
        settings=settings,
        seed=seed,
        sources=[bnn, __name__],
    )
