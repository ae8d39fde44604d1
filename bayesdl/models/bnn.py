"""A Bayesian convolutional network for 28x28 images, and its deterministic twin.

Both networks have the LeNet-like layout of :func:`lenet_layers`: two
5x5 convolutions with 2x2 max-pooling and ReLU, a hidden fully connected
layer, and 10 outputs. :class:`BayesianLeNet` uses the Bayesian layers of
:mod:`bayesdl.models.layers` and is a Pyro model that is its own guide;
:class:`LeNet` is the ordinary network with the same shape. The same layout
written the plain Pyro way (``PyroSample`` priors and a separate guide) is
:class:`~bayesdl.models.pyro_lenet.PyroLeNet`.

Example::

    net = BayesianLeNet(num_data=60_000)
    result = bayesdl.infer.fit_svi(net.model, net.guide, data=(x, y),
                                   batch_size=128, num_epochs=5, lr=1e-3)
    probs = net.predict(x_test, num_samples=20)   # (20, N, 10)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule
from torch import nn

from .. import checks
from .layers import BayesianConv2d, BayesianLayer, BayesianLinear

__all__ = [
    "BayesianLeNet",
    "LeNet",
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

    conv 5x5 (1 -> c1), max-pool 2, ReLU; conv 5x5 (c1 -> c2), max-pool 2,
    ReLU; flatten (c2 * 4 * 4); linear -> ``hidden``, ReLU; linear -> 10.
    With ``dropout > 0`` (ordinary layers only) an ``nn.Dropout(dropout)``
    comes before each of the two linear layers, as in the MC dropout
    networks of Gal and Ghahramani (2016); with 0 there is none. Pooling
    comes before the ReLU: ``relu(maxpool(h)) == maxpool(relu(h))``, and the
    ReLU then runs on a quarter of the values.

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
        nn.MaxPool2d(2),
        nn.ReLU(),
        conv2,
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        *([nn.Dropout(rate)] if rate > 0 else []),
        fc1,
        nn.ReLU(),
        *([nn.Dropout(rate)] if rate > 0 else []),
        fc2,
    ]


class _Classifier:
    """Shared input handling and batched prediction of the networks."""

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - MNIST_MEAN) / MNIST_STD)

    @torch.no_grad()
    def _predict(self, x, num_samples: int, batch_size: int) -> torch.Tensor:
        checks.images(x)
        checks.positive_int("num_samples", num_samples)
        checks.positive_int("batch_size", batch_size)
        was_training = self.training
        self.eval()
        param = next(self.parameters())
        out = []
        try:
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size].to(param.device, param.dtype)
                # In eval mode each pass is one network drawn from q.
                draws = [self._logits(xb).softmax(-1) for _ in range(num_samples)]
                out.append(torch.stack(draws))
        finally:
            self.train(was_training)
        return torch.cat(out, dim=1).to(x.device)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, 10) for images x of shape (N, 1, 28, 28) in [0, 1]."""
        return self._logits(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's outputs (N, hidden): the input of the last
        linear layer, ``self.layers[-1]``, whose outputs are the logits."""
        return self.layers[:-1]((x - MNIST_MEAN) / MNIST_STD)

    def dropout_split(self) -> tuple[Callable[[torch.Tensor], torch.Tensor], nn.Module]:
        """The network as ``head(trunk(x))``, the head from the first dropout on.

        Everything before the first dropout layer is deterministic, so MC
        dropout (:class:`~bayesdl.models.approx.MCDropout`) runs the trunk
        (the convolutions) once and only the head once per pass: the same
        draws, in the same order, for a fraction of the work.

        Example::

            trunk, head = LeNet(dropout=0.1).dropout_split()
        """
        drops = [i for i, m in enumerate(self.layers) if isinstance(m, nn.Dropout)]
        if not drops:
            raise ValueError(
                "this LeNet has no dropout layer (build it with dropout > 0)."
            )
        first = drops[0]

        def trunk(x: torch.Tensor) -> torch.Tensor:
            return self.layers[:first]((x - MNIST_MEAN) / MNIST_STD)

        return trunk, self.layers[first:]

    def predict(
        self, x: torch.Tensor, num_samples: int = 1, *, batch_size: int = 2000
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
        return self._predict(x, 1, batch_size)


def _validate_first_call(net: BayesianLeNet, args: tuple) -> None:
    """A forward pre-hook: check the first batch the network sees, once.

    Training then runs without checks; :meth:`BayesianLeNet.predict` checks
    every input it is given.
    """
    x, y = (*args, None)[:2]
    checks.images(x)
    if y is not None:
        checks.labels(y, len(x))
    if len(x) > net.num_data:
        raise ValueError(
            f"a batch of {len(x)} images is larger than num_data="
            f"{net.num_data}; the likelihood would be mis-scaled."
        )
    net._first_call.remove()


class BayesianLeNet(_Classifier, PyroModule):
    """A Bayesian LeNet-like network; a Pyro model that is its own guide.

    Every weight has the prior ``N(0, prior_scale**2)`` and a Gaussian
    mean-field posterior. As a model, ``net.model(x, y)`` (the same as
    calling ``net(x, y)``) adds the KL term of each layer (outside the data
    plate) and the likelihood of the labels inside ``pyro.plate("data",
    num_data, subsample=...)``, so that a mini-batch of size B is weighted
    by ``num_data / B``. The guide, :meth:`guide`, is empty: all variational
    parameters live in the layers. The first batch the network sees is
    checked (images in [0, 1], labels in 0..9, no more images than
    ``num_data``); training steps after it run without checks.

    Args:
        num_data: the size N of the training set, which scales the likelihood.
        channels: see :func:`lenet_layers`, as are the other arguments
            (``hidden``, ``prior_scale``, ``init_std``,
            ``conv_local_reparameterization``).

    Example::

        net = BayesianLeNet(num_data=60_000, prior_scale=1.0)
        elbo = pyro.infer.Trace_ELBO()(net.model, net.guide)
        loss = elbo(x[:128], y[:128])   # minus the ELBO
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
        self._first_call = self.register_forward_pre_hook(_validate_first_call)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """The model: the layers' KL factors, then the scaled likelihood.

        Returns the logits (N, 10) of one posterior draw.
        """
        logits = self._logits(x)  # outside the plate: KL counted once
        # The batch is a subsample of the N training images: only its size
        # matters, and the plate scales the log-likelihood by N / B.
        batch = torch.arange(len(x), device=x.device)
        with pyro.plate("data", size=self.num_data, subsample=batch):
            pyro.sample("label", dist.Categorical(logits=logits), obs=y)
        return logits

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """The Pyro model, by its name in the book's vocabulary: ``net(x, y)``."""
        return self(x, y)

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """The (empty) guide: the posterior's parameters are inside the layers."""

    def predict(
        self,
        x: torch.Tensor,
        num_samples: int = 20,
        *,
        batch_size: int = 2000,
    ) -> torch.Tensor:
        """Class probabilities of ``num_samples`` posterior draws, shape (S, N, 10).

        Draw ``s`` is one network sampled from the posterior, applied to all
        the images; the posterior predictive is the mean over the first axis.

        Example::

            probs = net.predict(x_test, num_samples=20)
            predictive = probs.mean(0)
        """
        return self._predict(x, num_samples, batch_size)


def autonormal_state(net: BayesianLeNet) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an ``AutoNormal`` guide of :class:`PyroLeNet`
    that holds the same variational parameters as ``net``.

    The fast layers keep the means and standard deviations of ``q`` inside
    the network (the latter through a softplus, as ``AutoNormal`` does);
    this copies them under the guide's names. Run the guide once before
    loading, so that its parameters exist.

    Example::

        guide = AutoNormal(PyroLeNet(60_000))
        guide(x, y, index)                    # creates its parameters
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


def __getattr__(name: str):
    # PyroLeNet lived here until it moved to bayesdl.models.pyro_lenet.
    if name == "PyroLeNet":
        warnings.warn(
            "bayesdl.models.bnn.PyroLeNet is deprecated; import it from "
            "bayesdl.models.pyro_lenet.",
            DeprecationWarning,
            stacklevel=2,
        )
        from .pyro_lenet import PyroLeNet

        return PyroLeNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
