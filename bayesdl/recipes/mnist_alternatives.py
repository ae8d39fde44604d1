"""The alternatives chapter's recipes: what a reader picks instead of mean-field VI.

Every model here is the MNIST chapter's LeNet, trained with its settings
(:class:`~bayesdl.recipes.mnist_bnn.MnistSettings`) on its training images,
and turned into a predictive in one of four ways: a temperature fitted on
the validation images, MC dropout, a deep ensemble, or a last-layer Laplace
approximation. This recipe imports the MNIST chapter's recipe on purpose:
the two chapters share the networks, settings and split, so an edit there
retrains these models too. Each ``predict(x, num_samples=S)`` gives
``(S, N, 10)`` class probabilities.

Example::

    ens = ensemble_mnist()
    ens.predict(test_x).shape        # one prediction per member
    # torch.Size([5, 10000, 10])
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import checks, config, metrics
from ..models import bnn
from ..models.approx import Ensemble, MCDropout, check_dropout_rate
from ..models.bnn import LeNet
from ..models.calibration import TemperatureScaled, fit_temperature
from ..models.laplace import LaplaceGLM
from ..timing import Stopwatch
from . import mnist_bnn
from ._runner import register, run

__all__ = [
    "LAPLACE_PRIORS",
    "AlternativesSettings",
    "DropoutSettings",
    "LastLayerLaplace",
    "alternatives_settings",
    "dropout_mnist",
    "dropout_rate_mnist",
    "ensemble_mnist",
    "laplace_mnist",
    "temperature_mnist",
]


@dataclass(frozen=True)
class AlternativesSettings:
    """What the alternatives add to the MNIST chapter's settings.

    The dropout rates tried on the validation images, the last-layer prior
    scales tried there for the Laplace approximation whose prior is chosen
    on validation, the number of stochastic passes that score them, and
    the ensemble's size.

    Example::

        >>> AlternativesSettings().ensemble_size
        5
    """

    dropout_rates: tuple[float, ...] = field(
        default_factory=lambda: config.choose(
            full=(0.02, 0.05, 0.1, 0.25, 0.5), smoke=(0.1, 0.5)
        )
    )
    laplace_scales: tuple[float, ...] = field(
        default_factory=lambda: tuple(
            round(10**e, 6)
            for e in config.choose(
                full=[i / 4 for i in range(-12, 1)], smoke=[-3.0, -2.0, -1.0, 0.0]
            )
        )
    )
    validation_samples: int = field(
        default_factory=lambda: config.choose(full=8, smoke=4)
    )
    ensemble_size: int = 5


def alternatives_settings() -> AlternativesSettings:
    """The current profile's :class:`AlternativesSettings`.

    Example::

        >>> alternatives_settings().ensemble_size
        5
    """
    return AlternativesSettings()


@dataclass(frozen=True)
class DropoutSettings(mnist_bnn.MnistSettings):
    """The MNIST networks' settings with the dropout rate of the LeNet.

    Example::

        >>> DropoutSettings(dropout=0.1).lenet.schedule
        'one_cycle'
    """

    dropout: float = 0.0


def _trained(model: nn.Module, nets: list[nn.Module], fit_seconds: float = 0.0):
    """``model`` in evaluation mode with its networks' training record.

    ``train_seconds`` is the networks' total (cached, so the same on every
    call), ``fit_seconds`` the post-hoc fit's wall time (a temperature, a
    Laplace approximation; 0 for none), ``losses`` the networks' losses one
    after the other and ``trained_on`` the first network's.
    """
    model.train_seconds = float(sum(n.train_seconds for n in nets))
    model.fit_seconds = float(fit_seconds)
    model.losses = torch.cat([n.losses for n in nets])
    model.trained_on = nets[0].trained_on
    return model.eval()


def _validation_nll(model, num_samples: int | None = None) -> float:
    _, (val_x, val_y) = mnist_bnn.mnist_data()
    kwargs = {} if num_samples is None else {"num_samples": num_samples}
    probs = model.predict(val_x.to(config.device()), **kwargs)
    return metrics.negative_log_likelihood(probs, val_y)


@register(
    "temperature_mnist", "the ordinary LeNet with a temperature fitted on validation"
)
def temperature_mnist(*, seed: int = 0) -> TemperatureScaled:
    """The ordinary LeNet of ``seed`` with one temperature fitted on validation NLL.

    Returns a :class:`~bayesdl.models.calibration.TemperatureScaled` with
    ``temperature``, ``train_seconds`` (the network's), ``fit_seconds`` (the
    temperature's) and ``validation_nll`` (at ``T = 1`` and the fitted ``T``).

    Example::

        temperature_mnist().temperature
    """
    net = mnist_bnn.lenet_mnist(seed=seed)
    _, (val_x, val_y) = mnist_bnn.mnist_data()
    with Stopwatch() as clock:
        probs = net.predict(val_x.to(config.device()))
        t = fit_temperature(probs, val_y)
    model = _trained(TemperatureScaled(net, t), [net], clock.seconds)
    model.validation_nll = {
        "T=1": metrics.negative_log_likelihood(probs, val_y),
        "fitted": _validation_nll(model),
    }
    return model


def _dropout_net(rate: float, seed: int) -> LeNet:
    settings = DropoutSettings(dropout=rate)
    return run(
        "dropout_mnist",
        make=lambda: LeNet(settings.channels, settings.hidden, dropout=rate),
        fit=mnist_bnn.lenet_fit(settings, scorer=MCDropout),
        settings=settings,
        seed=seed,
        sources=[bnn, mnist_bnn, __name__],
        history=mnist_bnn.VALIDATION_HISTORY,
    )


def dropout_rate_mnist() -> tuple[float, dict[float, float]]:
    """The dropout rate with the lowest validation NLL, and every rate's NLL.

    Trains the dropout LeNet of seed 0 at each rate of
    :func:`alternatives_settings` and scores MC dropout on the validation
    images.

    Example::

        >>> rate, nlls = dropout_rate_mnist()
    """
    extra = AlternativesSettings()
    nlls = {}
    for rate in extra.dropout_rates:
        model = MCDropout(_dropout_net(rate, 0))
        torch.manual_seed(0)
        nlls[rate] = _validation_nll(model, extra.validation_samples)
    return min(nlls, key=nlls.get), nlls


@register("dropout_mnist", "the LeNet with dropout, sampled at prediction (MC dropout)")
def dropout_mnist(*, seed: int = 0, rate: float | None = None) -> MCDropout:
    """MC dropout: the LeNet with dropout before each linear layer.

    ``rate=None`` takes the rate that :func:`dropout_rate_mnist` chooses on
    the validation images. Returns an
    :class:`~bayesdl.models.approx.MCDropout` with ``rate``,
    ``train_seconds`` and ``losses``; ``predict(x, num_samples=S)`` runs
    ``S`` passes with fresh dropout masks.

    Example::

        dropout_mnist().predict(test_x, num_samples=8).shape
        # torch.Size([8, 10000, 10])
    """
    rate = dropout_rate_mnist()[0] if rate is None else check_dropout_rate(rate)
    if rate == 0:
        raise ValueError("MC dropout needs a dropout rate above 0.")
    net = _dropout_net(rate, checks.seed(seed))
    model = _trained(MCDropout(net), [net])
    model.rate = rate
    return model


@register("ensemble_mnist", "a deep ensemble of ordinary LeNets of consecutive seeds")
def ensemble_mnist(*, seed: int = 0, size: int | None = None) -> Ensemble:
    """A deep ensemble of ``size`` ordinary LeNets, seeds ``seed, seed + 1, ...``.

    The members are :func:`~bayesdl.recipes.mnist_bnn.lenet_mnist` networks;
    ``predict(x)`` gives one prediction per member. ``train_seconds`` is
    the members' total.

    Example::

        ensemble_mnist(size=5).predict(test_x).shape
        # torch.Size([5, 10000, 10])
    """
    size = AlternativesSettings().ensemble_size if size is None else size
    seed = checks.seed(seed)
    members = [mnist_bnn.lenet_mnist(seed=seed + i) for i in range(size)]
    return _trained(Ensemble(members), members)


class LastLayerLaplace(nn.Module):
    """A :class:`~bayesdl.models.laplace.LaplaceGLM` over a LeNet's last layer.

    The layers below stay at their trained values and compute the features
    once per input; the Gaussian is over the last layer's weights and
    biases, where the linearised (GLM) predictive is exact.
    """

    def __init__(self, net: LeNet, laplace: LaplaceGLM) -> None:
        super().__init__()
        self.net, self.laplace = net, laplace

    @torch.no_grad()
    def predict(
        self, x: torch.Tensor, num_samples: int = 100, *, batch_size: int = 2000
    ) -> torch.Tensor:
        """``S`` draws of the GLM predictive: ``(S, N, 10)``."""
        checks.images(x)
        batch_size = checks.positive_int("batch_size", batch_size)
        self.net.eval()
        dev = self.laplace.theta.device
        feats = torch.cat(
            [
                self.net.features(x[i : i + batch_size].to(dev))
                for i in range(0, len(x), batch_size)
            ]
        )
        return self.laplace.predict(feats, num_samples).to(x.device)


LAPLACE_PRIORS = ("evidence", "validation")
"""How :func:`laplace_mnist` chooses the last layer's prior scale."""


@register("laplace_mnist", "a last-layer Laplace approximation of the ordinary LeNet")
def laplace_mnist(*, seed: int = 0, prior: str = "evidence") -> LastLayerLaplace:
    """The last-layer Laplace approximation of the ordinary LeNet of ``seed``.

    The GGN of the last layer over the training images and the GLM
    predictive, with the prior scale chosen by ``prior``:

    * ``"evidence"``: the scale that maximises the Laplace evidence
      (:meth:`LaplaceGLM.fit_prior_scale`);
    * ``"validation"``: the scale of ``AlternativesSettings.laplace_scales``
      with the lowest NLL on the validation images (the same draws for
      every scale); ``validation_nll`` maps each scale to its NLL.

    ``train_seconds`` is the network's, ``fit_seconds`` the Laplace fit's;
    ``prior_scale`` is the chosen scale and ``train_features`` the last
    layer's inputs for the training images (with the GGN, computed once per
    seed in a process and shared by both choices of the prior).

    Example::

        laplace_mnist().predict(test_x, num_samples=32).shape
        # torch.Size([32, 10000, 10])
    """
    if prior not in LAPLACE_PRIORS:
        raise ValueError(
            f"prior must be one of {', '.join(LAPLACE_PRIORS)} (how the last "
            f"layer's prior scale is chosen); got {prior!r}."
        )
    net, base, feats, ggn_seconds = _last_layer(
        checks.seed(seed),
        config.profile(),
        str(config.device()),
        str(config.cache_dir()),
    )
    la = copy.deepcopy(base)
    with Stopwatch() as clock, torch.no_grad():
        if prior == "evidence":
            la.fit_prior_scale()
        else:
            extra = AlternativesSettings()
            _, (val_x, val_y) = mnist_bnn.mnist_data()
            val_feats = _features(net, val_x)
            nlls = {}
            for scale in extra.laplace_scales:
                la.set_prior_scale(scale)
                torch.manual_seed(0)  # the same draws for every scale
                probs = la.predict(val_feats, extra.validation_samples)
                nlls[scale] = metrics.negative_log_likelihood(probs, val_y)
            la.set_prior_scale(min(nlls, key=nlls.get))
    model = _trained(LastLayerLaplace(net, la), [net], ggn_seconds + clock.seconds)
    model.prior_scale = la.prior_scale
    model.train_features = feats
    if prior == "validation":
        model.validation_nll = nlls
    return model


@functools.lru_cache(maxsize=4)
def _last_layer(
    seed: int, profile: str, device: str, cache: str
) -> tuple[LeNet, LaplaceGLM, torch.Tensor, float]:
    """The LeNet of ``seed``, its last layer's GGN over the training images
    (a :class:`LaplaceGLM` before its prior is chosen), those images'
    features and the seconds they took; kept for the process, since both
    ways of choosing the prior start from them (``profile``, ``device`` and
    ``cache`` are part of the key only)."""
    net = mnist_bnn.lenet_mnist(seed=seed)
    (x, y), _ = mnist_bnn.mnist_data()
    with Stopwatch() as clock, torch.no_grad():
        feats = _features(net, x)
        la = LaplaceGLM(
            net.layers[-1], feats, y, parameters=["weight", "bias"], batch_size=2000
        )
    return net, la, feats, clock.seconds


def _features(net: LeNet, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The LeNet's last-layer inputs for ``x``, in batches, on the device."""
    dev = config.device()
    return torch.cat(
        [
            net.features(x[i : i + batch_size].to(dev))
            for i in range(0, len(x), batch_size)
        ]
    )
