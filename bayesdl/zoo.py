"""The book's trained models, one call away.

Each function trains its model once per profile (and seed, and version of
the package), caches it with :func:`bayesdl.cache.train_or_load`, and loads
it from the cache on every later call. The chapters call the same
functions, so after a build of the book the calls are instant.

Example::

    >>> import bayesdl
    >>> bnn = bayesdl.zoo.bnn_mnist()
    >>> test_x, test_y = bayesdl.data.load("mnist", "test")
    >>> probs = bnn.predict(test_x, num_samples=20)    # (20, 10000, 10)
"""

from __future__ import annotations

from typing import Any

import torch

from . import cache, config, data
from .models.bnn import BayesianLeNet, LeNet, fit_bnn, fit_deterministic

__all__ = ["bnn_mnist", "lenet_mnist", "mnist_settings"]


def mnist_settings() -> dict[str, Any]:
    """The architecture and training settings of the MNIST networks.

    Shared by :func:`bnn_mnist` and :func:`lenet_mnist` (same layout, data,
    batch size, epochs and learning rates); the profile picks the sizes.

    Example::

        >>> mnist_settings()["batch_size"]
        128
    """
    return {
        "num_train": config.choose(full=60_000, smoke=3_000),
        "num_epochs": config.choose(full=3, smoke=2),
        "batch_size": 128,
        "lr": 2e-3,
        "final_lr": 2e-4,
        "channels": [16, 32],
        "hidden": 128,
        "prior_scale": 1.0,
        "init_std": 0.01,
    }


def _train_data(settings: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = data.load("mnist", "train")
    if settings["num_train"] < len(images):
        images, labels = data.subset(images, labels, settings["num_train"], seed=0)
    return images, labels


def _artifact(net: torch.nn.Module, result) -> dict[str, Any]:
    return {
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "losses": torch.tensor(result.losses, dtype=torch.float64),
        "seconds": float(result.seconds),
    }


def _with_history(net, artifact: dict[str, Any]):
    net.load_state_dict(artifact["state_dict"])
    net.losses = artifact["losses"]
    net.train_seconds = float(artifact["seconds"])
    net.eval()
    return net.to(config.device())


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    return seed


def _bnn(settings: dict[str, Any]) -> BayesianLeNet:
    return BayesianLeNet(
        settings["num_train"], settings["channels"], settings["hidden"],
        prior_scale=settings["prior_scale"], init_std=settings["init_std"],
    )  # fmt: skip


def bnn_mnist(*, seed: int = 0) -> BayesianLeNet:
    """The chapter's Bayesian LeNet, trained on MNIST by mini-batch SVI.

    Returns a :class:`~bayesdl.models.bnn.BayesianLeNet` in evaluation mode
    with two extra attributes: ``losses`` (the ELBO loss of every step) and
    ``train_seconds`` (the wall time of the training that made it).
    ``predict(images, num_samples=S)`` gives class probabilities (S, N, 10).

    Example::

        >>> bnn = bnn_mnist()
        >>> probs = bnn.predict(images, num_samples=20).mean(0)
    """
    seed = _check_seed(seed)
    settings = mnist_settings()

    def train() -> dict[str, Any]:
        images, labels = _train_data(settings)
        dev = config.device()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _bnn(settings).to(dev)
            result = fit_bnn(
                net, images.to(dev), labels.to(dev),
                num_epochs=settings["num_epochs"], batch_size=settings["batch_size"],
                lr=settings["lr"], final_lr=settings["final_lr"],
            )  # fmt: skip
        return _artifact(net, result)

    artifact = cache.train_or_load("bnn_mnist", train, settings=settings, seed=seed)
    return _with_history(_bnn(settings), artifact)


def lenet_mnist(*, seed: int = 0) -> LeNet:
    """The ordinary LeNet of the same layout, trained the same way on MNIST.

    Maximum likelihood with the optimiser, learning rates, batch size and
    epochs of :func:`bnn_mnist`. Returns a :class:`~bayesdl.models.bnn.LeNet`
    with ``losses`` and ``train_seconds`` attributes.

    Example::

        >>> net = lenet_mnist()
        >>> probs = net.predict(images)       # (1, N, 10)
    """
    seed = _check_seed(seed)
    settings = mnist_settings()

    def make() -> LeNet:
        return LeNet(settings["channels"], settings["hidden"])

    def train() -> dict[str, Any]:
        images, labels = _train_data(settings)
        dev = config.device()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = make().to(dev)
            result = fit_deterministic(
                net, images.to(dev), labels.to(dev),
                num_epochs=settings["num_epochs"], batch_size=settings["batch_size"],
                lr=settings["lr"], final_lr=settings["final_lr"],
            )  # fmt: skip
        return _artifact(net, result)

    artifact = cache.train_or_load("lenet_mnist", train, settings=settings, seed=seed)
    return _with_history(make(), artifact)
