"""The MNIST chapter's recipes: the Bayesian LeNet and its ordinary twin.

Example::

    >>> from bayesdl.recipes import mnist_bnn
    >>> mnist_bnn.mnist_settings()["batch_size"]
    128
"""

from __future__ import annotations

from typing import Any

import torch

from .. import config, data
from ..infer import loop, svi
from ..models import bnn
from ..models.bnn import BayesianLeNet, LeNet
from ._runner import register, run

__all__ = ["bnn_mnist", "lenet_mnist", "mnist_data", "mnist_settings"]


def mnist_settings() -> dict[str, Any]:
    """The architecture and training settings of the MNIST networks.

    Shared by :func:`bnn_mnist` and :func:`lenet_mnist` (same layout, data,
    batch size, epochs and learning rates), and by the alternatives of
    :mod:`~bayesdl.recipes.mnist_alternatives`; the profile picks the sizes.
    ``num_validation`` images of the training set are held out
    (:func:`mnist_data`), and no network trains on them.

    Example::

        >>> mnist_settings()["batch_size"]
        128
    """
    return {
        "num_train": config.choose(full=55_000, smoke=3_000),
        "num_validation": config.choose(full=5_000, smoke=500),
        "num_epochs": config.choose(full=3, smoke=2),
        "batch_size": 128,
        "lr": 2e-3,
        "final_lr": 2e-4,
        "channels": [16, 32],
        "hidden": 128,
        "prior_scale": 1.0,
        "init_std": 0.01,
    }


def mnist_data(
    settings: dict[str, Any] | None = None,
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
    settings = mnist_settings() if settings is None else settings
    images, labels = data.load("mnist", "train")
    train, val = data.train_validation_split(
        images, labels, settings["num_validation"], seed=0
    )
    if settings["num_train"] < len(train[0]):
        train = data.subset(*train, settings["num_train"], seed=0)
    elif settings["num_train"] > len(train[0]):
        raise ValueError(
            f"num_train={settings['num_train']} is more than the "
            f"{len(train[0])} training images left beside the validation set."
        )
    return train, val


def _bnn(settings: dict[str, Any]) -> BayesianLeNet:
    return BayesianLeNet(
        settings["num_train"],
        settings["channels"],
        settings["hidden"],
        prior_scale=settings["prior_scale"],
        init_std=settings["init_std"],
    )


@register("bnn_mnist", "the Bayesian LeNet of the MNIST chapter")
def bnn_mnist(*, seed: int = 0) -> BayesianLeNet:
    """The chapter's Bayesian LeNet, trained on MNIST by mini-batch SVI.

    Returns a :class:`~bayesdl.models.bnn.BayesianLeNet` in evaluation mode
    with two extra attributes: ``losses`` (the ELBO loss of every step) and
    ``train_seconds`` (the wall time of the training that made it).
    ``predict(images, num_samples=S)`` gives class probabilities (S, N, 10).

    Example::

        bnn = bnn_mnist()
        probs = bnn.predict(images, num_samples=20).mean(0)
    """
    settings = mnist_settings()

    def fit(net: BayesianLeNet, seed: int) -> loop.FitResult:
        (images, labels), _ = mnist_data(settings)
        dev = config.device()
        net.train()
        return svi.fit_svi(
            net,
            net.guide,
            data=(images.to(dev), labels.to(dev)),
            num_epochs=settings["num_epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            final_lr=settings["final_lr"],
        )

    return run(
        "bnn_mnist",
        make=lambda: _bnn(settings),
        fit=fit,
        settings=settings,
        seed=seed,
        sources=[bnn, __name__],
    )


@register("lenet_mnist", "the ordinary LeNet of the same layout, trained the same way")
def lenet_mnist(*, seed: int = 0) -> LeNet:
    """The ordinary LeNet of the same layout, trained the same way on MNIST.

    Maximum likelihood with the optimiser, learning rates, batch size and
    epochs of :func:`bnn_mnist`. Returns a :class:`~bayesdl.models.bnn.LeNet`
    with ``losses`` and ``train_seconds`` attributes.

    Example::

        net = lenet_mnist()
        probs = net.predict(images)       # (1, N, 10)
    """
    settings = mnist_settings()

    def fit(net: LeNet, seed: int) -> loop.FitResult:
        (images, labels), _ = mnist_data(settings)
        dev = config.device()
        return loop.fit_classifier(
            net,
            images.to(dev),
            labels.to(dev),
            num_epochs=settings["num_epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            final_lr=settings["final_lr"],
        )

    return run(
        "lenet_mnist",
        make=lambda: LeNet(settings["channels"], settings["hidden"]),
        fit=fit,
        settings=settings,
        seed=seed,
        sources=[bnn, __name__],
    )
