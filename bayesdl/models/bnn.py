"""A Bayesian convolutional network for 28x28 images, and its deterministic twin.

Both networks have the LeNet-like layout of :func:`lenet_layers`: two
5x5 convolutions with ReLU and 2x2 max-pooling, a hidden fully connected
layer, and 10 outputs. :class:`BayesianLeNet` uses the Bayesian layers of
:mod:`bayesdl.models.layers` and is a Pyro model that is its own guide;
:class:`LeNet` is the ordinary network with the same shape.
:class:`PyroLeNet` is the same layout written the plain Pyro way: the
ordinary layers with ``PyroSample`` priors, and a separate guide.

Example::

    net = BayesianLeNet(num_data=60_000)
    result = bayesdl.infer.fit_svi(net, net.guide, data=(images, labels),
                                   batch_size=128, num_epochs=5, lr=1e-3)
    probs = net.predict(test_images, num_samples=20)   # (20, N, 10)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.infer import Predictive
from pyro.nn import PyroModule, PyroSample
from pyro.nn.module import to_pyro_module_
from torch import nn

from .. import checks
from ..checks import images as check_images
from .layers import BayesianConv2d, BayesianLayer, BayesianLinear

__all__ = [
    "BayesianLeNet",
    "LeNet",
    "PyroLeNet",
    "autonormal_state",
    "lenet_layers",
]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def lenet_layers(
    bayesian: bool,
    channels: Sequence[int] = (16, 32),
    hidden: int = 128,
    *,
    prior_scale: float = 1.0,
    init_std: float = 1e-3,
    conv_local_reparameterization: bool = False,
    dropout: float = 0.0,
) -> list[nn.Module]:
    """The layers of the LeNet-like network, Bayesian or ordinary.

    conv 5x5 (1 -> c1), ReLU, max-pool 2; conv 5x5 (c1 -> c2), ReLU,
    max-pool 2; flatten (c2 * 4 * 4); linear -> ``hidden``, ReLU; linear -> 10.
    With ``dropout > 0`` (ordinary layers only) an ``nn.Dropout(dropout)``
    comes before each of the two linear layers, as in the MC dropout
    networks of Gal and Ghahramani (2016); with 0 there is none.

    In training, the Bayesian linear layers use the local reparameterization
    trick; the convolutions, by default, draw one set of kernels per batch
    (``conv_local_reparameterization=False``): their outputs are large, and
    drawing a noise term for each of them would cost more than the
    convolution itself, while their kernels are few and cheap to draw.

    Example::

        >>> layers = lenet_layers(bayesian=True, prior_scale=0.5)
    """
    if len(channels) != 2 or any(
        isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels
    ):
        raise ValueError(f"channels must be two positive ints, got {channels!r}.")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"hidden must be a positive int, got {hidden!r}.")
    rate = checks.finite_float("dropout", dropout)
    if not 0 <= rate < 1 or (bayesian and rate > 0):
        raise ValueError(
            f"dropout must be in [0, 1), and 0 for Bayesian layers; got {dropout!r}."
        )
    c1, c2 = channels
    if bayesian:
        kw = {"prior_scale": prior_scale, "init_std": init_std}
        ckw = {**kw, "local_reparameterization": conv_local_reparameterization}
        conv1, conv2 = BayesianConv2d(1, c1, 5, **ckw), BayesianConv2d(c1, c2, 5, **ckw)
        fc1, fc2 = (
            BayesianLinear(c2 * 16, hidden, **kw),
            BayesianLinear(hidden, 10, **kw),
        )
    else:
        conv1, conv2 = nn.Conv2d(1, c1, 5), nn.Conv2d(c1, c2, 5)
        fc1, fc2 = nn.Linear(c2 * 16, hidden), nn.Linear(hidden, 10)
    return [
        conv1,
        nn.ReLU(),
        nn.MaxPool2d(2),
        conv2,
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        *([nn.Dropout(rate)] if rate > 0 else []),
        fc1,
        nn.ReLU(),
        *([nn.Dropout(rate)] if rate > 0 else []),
        fc2,
    ]


class _Classifier:
    """Shared input handling and batched prediction of both networks."""

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers((images - MNIST_MEAN) / MNIST_STD)

    @torch.no_grad()
    def _predict(self, images, num_samples: int, batch_size: int) -> torch.Tensor:
        check_images(images)
        checks.positive_int("num_samples", num_samples)
        checks.positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        param = next(self.parameters())
        out = []
        try:
            for start in range(0, len(images), batch_size):
                xb = images[start : start + batch_size].to(param.device, param.dtype)
                # In eval mode each pass is one network drawn from q.
                draws = [self._logits(xb).softmax(-1) for _ in range(num_samples)]
                out.append(torch.stack(draws))
        finally:
            self.train(was_training)
        return torch.cat(out, dim=1)


class LeNet(_Classifier, nn.Module):
    """The ordinary (deterministic) network with the layout of :func:`lenet_layers`.

    Example::

        >>> net = LeNet()
        >>> net.predict(torch.rand(4, 1, 28, 28)).shape   # (1, N, 10)
        torch.Size([1, 4, 10])
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32),
        hidden: int = 128,
        *,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers = lenet_layers(False, channels, hidden, dropout=dropout)
        self.layers = nn.Sequential(*layers)
        self.dropout = float(dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, 10) for images of shape (N, 1, 28, 28) in [0, 1]."""
        return self._logits(images)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's outputs (N, hidden): the input of the last
        linear layer, ``self.layers[-1]``, whose outputs are the logits."""
        return self.layers[:-1]((images - MNIST_MEAN) / MNIST_STD)

    def predict(
        self, images: torch.Tensor, num_samples: int = 1, *, batch_size: int = 2000
    ) -> torch.Tensor:
        """Class probabilities of shape (1, N, 10): one network, one 'sample'.

        ``num_samples`` is there for the shared surface of the book's
        classifiers; a point estimate has one prediction, so it must be 1.

        Example::

            >>> probs = LeNet().predict(torch.rand(3, 1, 28, 28))
        """
        if checks.positive_int("num_samples", num_samples) != 1:
            raise ValueError(
                f"an ordinary network makes one prediction; num_samples must "
                f"be 1, got {num_samples}."
            )
        return self._predict(images, 1, batch_size)


class BayesianLeNet(_Classifier, PyroModule):
    """A Bayesian LeNet-like network; a Pyro model that is its own guide.

    Every weight has the prior ``N(0, prior_scale**2)`` and a Gaussian
    mean-field posterior. Called as a model, ``net(images, labels)`` adds the
    KL term of each layer (outside the data plate) and the likelihood of the
    labels inside ``pyro.plate("data", num_data, subsample=...)``, so that a
    mini-batch of size B is weighted by ``num_data / B``. The guide,
    :meth:`guide`, is empty: all variational parameters live in the layers.

    Args:
        num_data: the size N of the training set, which scales the likelihood.
        channels: see :func:`lenet_layers`, as are the other arguments
            (``hidden``, ``prior_scale``, ``init_std``,
            ``conv_local_reparameterization``).

    Example::

        net = BayesianLeNet(num_data=60_000, prior_scale=1.0)
        elbo = pyro.infer.Trace_ELBO()(net, net.guide)
        loss = elbo(images[:128], labels[:128])   # minus the ELBO
    """

    def __init__(
        self,
        num_data: int,
        channels: Sequence[int] = (16, 32),
        hidden: int = 128,
        *,
        prior_scale: float = 1.0,
        init_std: float = 1e-3,
        conv_local_reparameterization: bool = False,
    ) -> None:
        super().__init__()
        self.num_data = checks.positive_int("num_data", num_data)
        layers = lenet_layers(
            True,
            channels,
            hidden,
            prior_scale=prior_scale,
            init_std=init_std,
            conv_local_reparameterization=conv_local_reparameterization,
        )
        self.layers = PyroModule[nn.Sequential](*layers)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        """The model: the layers' KL factors, then the scaled likelihood.

        Returns the logits (N, 10) of one posterior draw.
        """
        check_images(images)
        if labels is not None:
            checks.labels(labels, len(images))
        if len(images) > self.num_data:
            raise ValueError(
                f"a batch of {len(images)} images is larger than num_data="
                f"{self.num_data}; the likelihood would be mis-scaled."
            )
        logits = self._logits(images)  # outside the plate: KL counted once
        # The batch is a subsample of the N training images: only its size
        # matters, and the plate scales the log-likelihood by N / B.
        batch = torch.arange(len(images), device=images.device)
        with pyro.plate("data", size=self.num_data, subsample=batch):
            pyro.sample("label", dist.Categorical(logits=logits), obs=labels)
        return logits

    def guide(self, *args, **kwargs) -> None:
        """The (empty) guide: the posterior's parameters are inside the layers."""

    def predict(
        self,
        images: torch.Tensor,
        num_samples: int = 20,
        *,
        batch_size: int = 2000,
    ) -> torch.Tensor:
        """Class probabilities of ``num_samples`` posterior draws, shape (S, N, 10).

        Draw ``s`` is one network sampled from the posterior, applied to all
        the images; the posterior predictive is the mean over the first axis.

        Example::

            probs = net.predict(test_images, num_samples=20)
            predictive = probs.mean(0)
        """
        return self._predict(images, num_samples, batch_size)


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

    Called as ``net(images, labels, index)``, the labels are observed inside
    ``pyro.plate("data", num_data, subsample=index)``: ``index`` holds the
    positions of the mini-batch in the training set, and the plate scales
    the log-likelihood by ``num_data / len(index)``. Without ``index`` the
    images are the whole data set (no scaling).

    Example::

        net = PyroLeNet(num_data=60_000, prior_scale=0.1)
        guide = AutoNormal(net, init_loc_fn=init_to_value(
            values=net.initial_values()), init_scale=0.01)
        loss = TraceMeanField_ELBO()(net, guide)(images, labels, index)
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
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The model: weights from the prior, labels in the data plate.

        Returns the logits (N, 10) of the sampled network.
        """
        logits = self._logits(images)
        if index is None:
            if labels is not None and len(images) != self.num_data:
                raise ValueError(
                    f"{len(images)} labelled images but num_data is "
                    f"{self.num_data}: pass index=, the batch's positions in "
                    "the training set, so that the likelihood is scaled."
                )
            plate = pyro.plate("data", len(images))
        else:
            plate = pyro.plate("data", self.num_data, subsample=index)
        with plate:
            pyro.sample("label", dist.Categorical(logits=logits), obs=labels)
        return logits

    def predict(
        self,
        images: torch.Tensor,
        guide: Callable,
        num_samples: int = 20,
        *,
        batch_size: int = 2000,
    ) -> torch.Tensor:
        """Class probabilities of ``num_samples`` networks drawn from ``guide``.

        Uses ``pyro.infer.Predictive`` on batches of images; shape (S, N, 10).

        Example::

            probs = net.predict(test_images, guide, num_samples=16)
        """
        checks.images(images)
        checks.positive_int("num_samples", num_samples)
        checks.positive_int("batch_size", batch_size)
        if hasattr(guide, "prototype_trace") and guide.prototype_trace is None:
            raise ValueError(
                "the autoguide has not run yet: train it, or call it once with "
                "labels, guide(images, labels, index), before predicting."
            )
        predictive = Predictive(
            self, guide=guide, num_samples=num_samples, return_sites=["_RETURN"]
        )
        buffer = self.layers[0].prior_scale
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                xb = images[start : start + batch_size].to(buffer.device, buffer.dtype)
                out.append(predictive(xb)["_RETURN"].softmax(-1))
        return torch.cat(out, dim=1)


def autonormal_state(net: BayesianLeNet) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an ``AutoNormal`` guide of :class:`PyroLeNet`
    that holds the same variational parameters as ``net``.

    The fast layers keep the means and standard deviations of ``q`` inside
    the network (the latter through a softplus, as ``AutoNormal`` does);
    this copies them under the guide's names. Run the guide once before
    loading, so that its parameters exist.

    Example::

        guide = AutoNormal(PyroLeNet(60_000))
        guide(images, labels, index)          # creates its parameters
        guide.load_state_dict(autonormal_state(bnn))
    """
    if not isinstance(net, BayesianLeNet):
        raise ValueError(f"net must be a BayesianLeNet, got {type(net).__name__}.")
    to_unconstrained = torch.distributions.transform_to(
        constraints.softplus_positive
    ).inv
    state = {}
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, BayesianLayer):
            continue
        names = ["weight", "bias"] if layer.has_bias else ["weight"]
        for name in names:
            loc = getattr(layer, f"{name}_loc").detach()
            scale = getattr(layer, f"{name}_scale").detach()
            state[f"locs.layers.{i}.{name}_unconstrained"] = loc.clone()
            state[f"scales.layers.{i}.{name}_unconstrained"] = to_unconstrained(scale)
    return state
