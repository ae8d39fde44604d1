"""The models of the active-learning chapter, and the settings of its loop.

Each round of :mod:`bayesdl.recipes.mnist_active` trains one of three
models from scratch on the labelled images and asks it for sampled
predictions: MC dropout on the LeNet with dropout, the mean-field Bayesian
LeNet of the MNIST chapter, or a deep ensemble of ordinary LeNets. This
module builds and trains them; the loop, the data and the learning curves
are in :mod:`bayesdl.recipes.mnist_active`.

Example::

    net = fit_active_model("dropout", x[:20], y[:20], lr=3e-3, seed=0)
    sampled_predictions(net, pool_x).shape    # (passes, N, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pyro
import torch
from torch import nn

from .. import config
from ..infer import loop, svi
from ..models.approx import Ensemble, MCDropout
from ..models.bnn import BayesianLeNet, LeNet

__all__ = [
    "ACTIVE_MODELS",
    "ActiveSettings",
    "active_settings",
    "fit_active_model",
    "sampled_predictions",
]

ACTIVE_MODELS = ("dropout", "mfvi", "ensemble")
"""The models whose sampled predictions drive the acquisition."""


@dataclass(frozen=True)
class ActiveSettings:
    """The size of the active-learning loop and of each round's training.

    ``initial_per_class`` labelled images per digit to start from;
    ``rounds`` rounds of ``acquire_size`` labels each (``short_rounds`` for
    the mean-field network and the ensemble, which cost more per round);
    ``subsample`` random pool images scored per round; every model trains
    from scratch for about ``steps`` Adam steps of ``batch_size`` images
    with a cosine-annealed learning rate, the one of ``lrs`` with the
    lowest validation NLL (:func:`~bayesdl.recipes.mnist_active.active_lr`) on ``num_validation`` held-out
    images; ``passes`` MC dropout passes, ``draws`` posterior draws and
    ``members`` ensemble members make the sampled predictions;
    ``num_test`` test images score each round.

    Example::

        >>> ActiveSettings().initial_per_class
        2
    """

    initial_per_class: int = 2
    acquire_size: int = field(default_factory=lambda: config.choose(full=25, smoke=5))
    rounds: int = field(default_factory=lambda: config.choose(full=13, smoke=2))
    short_rounds: int = field(default_factory=lambda: config.choose(full=6, smoke=2))
    subsample: int = field(default_factory=lambda: config.choose(full=1000, smoke=100))
    num_validation: int = 100
    num_test: int = field(default_factory=lambda: config.choose(full=1000, smoke=200))
    steps: int = field(default_factory=lambda: config.choose(full=200, smoke=8))
    batch_size: int = 32
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    lr_sizes: tuple[int, ...] = field(
        default_factory=lambda: config.choose(full=(20, 200), smoke=(20,))
    )
    dropout: float = 0.25
    passes: int = 20
    draws: int = 8
    members: int = 3
    channels: tuple[int, int] = (16, 32)
    hidden: int = 128


def active_settings() -> ActiveSettings:
    """The current profile's :class:`ActiveSettings`.

    Example::

        >>> active_settings().members
        3
    """
    return ActiveSettings()


def _epochs(n: int, settings: ActiveSettings) -> tuple[int, int]:
    """Epochs and batch size that make about ``settings.steps`` steps on ``n`` images."""
    batch = min(settings.batch_size, n)
    return max(1, round(settings.steps / math.ceil(n / batch))), batch


def fit_active_model(
    model: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    seed: int,
    settings: ActiveSettings | None = None,
) -> nn.Module:
    """One round's ``model`` trained from scratch on the labelled ``(x, y)``.

    ``"dropout"`` and ``"ensemble"`` (``members`` networks of different
    initialisations) train by maximum likelihood, ``"mfvi"`` by mini-batch
    SVI with the likelihood scaled to the ``len(x)`` labelled images; all
    for about ``steps`` Adam steps with a learning rate annealed from
    ``lr`` along a cosine. ``seed`` fixes the initialisation and batches.

    Example::

        net = fit_active_model("dropout", x[:20], y[:20], lr=3e-3, seed=0)
    """
    settings = ActiveSettings() if settings is None else settings
    if model not in ACTIVE_MODELS:
        raise ValueError(
            f"model must be one of {', '.join(ACTIVE_MODELS)}; got {model!r}."
        )
    epochs, batch = _epochs(len(x), settings)
    dev = config.device()
    x, y = x.to(dev), y.to(dev)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if model == "mfvi":
        net = BayesianLeNet(
            len(x), settings.channels, settings.hidden, init_std=0.01
        ).to(dev)
        # a fresh network per round: its parameters must not come from the
        # global param store, where the last round's are (DESIGN, pitfalls)
        with pyro.settings.context(module_local_params=True):
            svi.fit_svi(
                net.model,
                net.guide,
                data=(x, y),
                num_epochs=epochs,
                batch_size=batch,
                lr=lr,
                schedule="cosine",
                progress=False,
                generator=gen,
            )
        return net.eval()
    count = settings.members if model == "ensemble" else 1
    rate = settings.dropout if model == "dropout" else 0.0
    nets = []
    for _ in range(count):
        net = LeNet(settings.channels, settings.hidden, dropout=rate).to(dev)
        loop.fit_classifier(
            net,
            x,
            y,
            num_epochs=epochs,
            batch_size=batch,
            lr=lr,
            schedule="cosine",
            generator=gen,
        )
        nets.append(net.eval())
    return MCDropout(nets[0]) if model == "dropout" else Ensemble(nets)


def sampled_predictions(
    net: nn.Module, x: torch.Tensor, settings: ActiveSettings | None = None
) -> torch.Tensor:
    """The ``(S, N, 10)`` sampled class probabilities of a fitted model.

    MC dropout's ``passes``, the Bayesian LeNet's ``draws``, the ensemble's
    members: the same call for all three.

    Example::

        probs = sampled_predictions(net, pool_x)
    """
    settings = ActiveSettings() if settings is None else settings
    if isinstance(net, MCDropout):
        return net.predict(x, num_samples=settings.passes)
    if isinstance(net, BayesianLeNet):
        return net.predict(x, num_samples=settings.draws)
    return net.predict(x)
