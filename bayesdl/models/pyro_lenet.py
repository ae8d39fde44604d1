"""The LeNet of :func:`~bayesdl.models.bnn.lenet_layers` written the plain Pyro way.

The ordinary layers get ``PyroSample`` priors, and the guide is separate
(an ``AutoNormal``, say): the route of the MNIST chapter's first half, and
the plain-Pyro network of ``python -m bayesdl bench bnn``.

Example::

    net = PyroLeNet(num_data=60_000, prior_scale=0.1)
    guide = AutoNormal(net, init_loc_fn=init_to_value(values=net.initial_values()))
    fit = bayesdl.infer.fit_svi(net, guide, data=(x, y, index), batch_size=128,
                                num_epochs=1, loss=TraceMeanField_ELBO())
    probs = net.predict(x_test, num_samples=16, guide=guide)   # (16, N, 10)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Predictive
from pyro.nn import PyroModule, PyroSample
from pyro.nn.module import to_pyro_module_
from torch import nn

from .. import checks
from .bnn import _Classifier, lenet_layers

__all__ = ["PyroLeNet"]


def _normal_prior(shape: tuple[int, ...]):
    """The callable prior of one parameter: N(prior_loc, prior_scale**2) each."""

    def prior(layer: PyroModule) -> dist.Distribution:
        normal = dist.Normal(layer.prior_loc, layer.prior_scale)
        return normal.expand(shape).to_event(len(shape))

    return prior


class PyroLeNet(_Classifier, PyroModule):
    """The LeNet of :func:`lenet_layers` as a Pyro model with ``PyroSample`` priors.

    The ordinary layers are converted in place with
    ``pyro.nn.module.to_pyro_module_``, and every weight and bias becomes a
    random variable with the prior ``N(0, prior_scale**2)``. The prior's
    parameters are buffers of each layer, so the prior follows ``.to(device)``
    and ``.to(dtype)``. The guide is separate (e.g. ``AutoNormal``).

    Called as ``net(x, y, index)`` (or ``net.model(x, y, index)``), the
    labels ``y`` are observed inside
    ``pyro.plate("data", num_data, subsample=index)``: ``index`` holds the
    positions of the mini-batch in the training set, and the plate scales
    the log-likelihood by ``num_data / len(index)``. Without ``index`` the
    images are the whole data set (no scaling). The network is the model
    half of the pair: it has no guide of its own, so ``predict`` takes the
    guide that was fitted to it.

    Example::

        net = PyroLeNet(num_data=60_000, prior_scale=0.1)
        guide = AutoNormal(net, init_loc_fn=init_to_value(
            values=net.initial_values()), init_scale=0.01)
        loss = TraceMeanField_ELBO()(net, guide)(x, y, index)
    """

    def __init__(
        self,
        num_data: int,
        channels: Sequence[int] = (16, 32),
        hidden: int = 128,
        *,
        prior_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_data = checks.positive_int("num_data", num_data)
        prior_scale = checks.positive_float("prior_scale", prior_scale)
        layers = nn.Sequential(*lenet_layers(False, channels, hidden))
        self._initial = {}
        to_pyro_module_(layers)
        for i, layer in enumerate(layers):
            params = list(layer.named_parameters(recurse=False))
            if params:
                layer.register_buffer("prior_loc", torch.tensor(0.0))
                layer.register_buffer("prior_scale", torch.tensor(prior_scale))
            for name, value in params:
                self._initial[f"layers.{i}.{name}"] = value.detach().clone()
                setattr(layer, name, PyroSample(_normal_prior(tuple(value.shape))))
        self.layers = layers

    def initial_values(self) -> dict[str, torch.Tensor]:
        """torch's default initialisation of every weight, by site name.

        For ``AutoNormal(net, init_loc_fn=init_to_value(values=...))``: the
        posterior means start where an ordinary network's weights start.

        Example::

            >>> PyroLeNet(100).initial_values()["layers.0.weight"].shape
            torch.Size([16, 1, 5, 5])
        """
        buffer = self.layers[0].prior_scale
        return {k: v.to(buffer.device, buffer.dtype) for k, v in self._initial.items()}

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The model: weights from the prior, labels in the data plate.

        Returns the logits (N, 10) of the sampled network.
        """
        logits = self._logits(x)
        if index is None:
            if y is not None and len(x) != self.num_data:
                raise ValueError(
                    f"{len(x)} labelled images but num_data is "
                    f"{self.num_data}: pass index=, the batch's positions in "
                    "the training set, so that the likelihood is scaled."
                )
            plate = pyro.plate("data", len(x))
        else:
            plate = pyro.plate("data", self.num_data, subsample=index)
        with plate:
            pyro.sample("label", dist.Categorical(logits=logits), obs=y)
        return logits

    def model(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The Pyro model, by its name in the book's vocabulary: ``net(x, y, index)``."""
        return self(x, y, index)

    def predict(
        self,
        x: torch.Tensor,
        num_samples: int = 20,
        *,
        guide: Callable,
        batch_size: int = 2000,
    ) -> torch.Tensor:
        """Class probabilities of ``num_samples`` networks drawn from ``guide``.

        Uses ``pyro.infer.Predictive`` on batches of images; shape (S, N, 10).

        Example::

            probs = net.predict(x_test, num_samples=16, guide=guide)
        """
        checks.images(x)
        checks.positive_int("num_samples", num_samples)
        checks.positive_int("batch_size", batch_size)
        if hasattr(guide, "prototype_trace") and guide.prototype_trace is None:
            raise ValueError(
                "the autoguide has not run yet: train it, or call it once with "
                "labels, guide(x, y, index), before predicting."
            )
        predictive = Predictive(
            self, guide=guide, num_samples=num_samples, return_sites=["_RETURN"]
        )
        buffer = self.layers[0].prior_scale
        out = []
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size].to(buffer.device, buffer.dtype)
                out.append(predictive(xb)["_RETURN"].softmax(-1))
        return torch.cat(out, dim=1).to(x.device)
