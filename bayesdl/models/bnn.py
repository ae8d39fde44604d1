"""A Bayesian convolutional network for 28x28 images, and its deterministic twin.

Both networks have the LeNet-like layout of :func:`lenet_layers`: two
5x5 convolutions with ReLU and 2x2 max-pooling, a hidden fully connected
layer, and 10 outputs. :class:`BayesianLeNet` uses the Bayesian layers of
:mod:`bayesdl.models.layers` and is a Pyro model that is its own guide;
:class:`LeNet` is the ordinary network with the same shape.

Example::

    >>> net = BayesianLeNet(num_data=60_000)
    >>> result = fit_bnn(net, images, labels, num_epochs=5)
    >>> probs = net.predict(test_images, num_samples=20)   # (20, N, 10)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from ..infer import FitResult, fit_svi
from .layers import BayesianConv2d, BayesianLinear

__all__ = [
    "BayesianLeNet",
    "LeNet",
    "check_images",
    "check_labels",
    "fit_bnn",
    "fit_deterministic",
    "lenet_layers",
]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
IMAGE_SHAPE = (1, 28, 28)


def check_images(images: object) -> torch.Tensor:
    """Raise ``ValueError`` unless ``images`` look like ``bayesdl.data.load``'s.

    That is: a floating-point tensor of shape (N, 1, 28, 28), N >= 1, with
    finite values in [0, 1]. Returns the tensor unchanged.

    Example::

        >>> x = check_images(torch.rand(5, 1, 28, 28))
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}.")
    if not images.is_floating_point():
        raise ValueError(
            f"images must be floating point with values in [0, 1], got dtype "
            f"{images.dtype}; for uint8 pixels use images.float() / 255."
        )
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE or len(images) == 0:
        raise ValueError(
            f"images must have shape (N, 1, 28, 28) with N >= 1, got "
            f"{tuple(images.shape)}; add a channel axis with images.unsqueeze(1)."
        )
    lo, hi = float(images.min()), float(images.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"image values must lie in [0, 1], got the range [{lo:g}, {hi:g}]."
        )
    return images


def check_labels(
    labels: object, n: int | None = None, num_classes: int = 10
) -> torch.Tensor:
    """Raise ``ValueError`` unless ``labels`` are integer classes ``0..num_classes-1``.

    ``n``, when given, is the required length. Returns the tensor unchanged.

    Example::

        >>> y = check_labels(torch.tensor([0, 3, 9]))
    """
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}.")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.ndim != 1:
        raise ValueError(
            f"labels must be a 1-d integer tensor, got dtype {labels.dtype} and "
            f"shape {tuple(labels.shape)}."
        )
    if n is not None and len(labels) != n:
        raise ValueError(f"expected {n} labels, got {len(labels)}.")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1}, got the range "
            f"[{int(labels.min())}, {int(labels.max())}]."
        )
    return labels


def lenet_layers(
    bayesian: bool,
    channels: Sequence[int] = (16, 32),
    hidden: int = 128,
    *,
    prior_scale: float = 1.0,
    init_std: float = 1e-3,
    conv_local_reparameterization: bool = False,
) -> list[nn.Module]:
    """The layers of the LeNet-like network, Bayesian or ordinary.

    conv 5x5 (1 -> c1), ReLU, max-pool 2; conv 5x5 (c1 -> c2), ReLU,
    max-pool 2; flatten (c2 * 4 * 4); linear -> ``hidden``, ReLU; linear -> 10.

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
        conv1, nn.ReLU(), nn.MaxPool2d(2),
        conv2, nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        fc1, nn.ReLU(),
        fc2,
    ]  # fmt: skip


class _Classifier:
    """Shared input handling and batched prediction of both networks."""

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers((images - MNIST_MEAN) / MNIST_STD)

    @torch.no_grad()
    def _predict(self, images, num_samples: int, batch_size: int) -> torch.Tensor:
        check_images(images)
        for name, v in (("num_samples", num_samples), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
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

    def __init__(self, channels: Sequence[int] = (16, 32), hidden: int = 128) -> None:
        super().__init__()
        self.layers = nn.Sequential(*lenet_layers(False, channels, hidden))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, 10) for images of shape (N, 1, 28, 28) in [0, 1]."""
        return self._logits(images)

    def predict(self, images: torch.Tensor, *, batch_size: int = 2000) -> torch.Tensor:
        """Class probabilities of shape (1, N, 10): one network, one 'sample'.

        Example::

            >>> probs = LeNet().predict(torch.rand(3, 1, 28, 28))
        """
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

        >>> net = BayesianLeNet(num_data=60_000, prior_scale=1.0)
        >>> svi = pyro.infer.SVI(net, net.guide, pyro.optim.Adam({"lr": 1e-3}),
        ...                      pyro.infer.Trace_ELBO())
        >>> loss = svi.step(images[:128], labels[:128])
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
        if isinstance(num_data, bool) or not isinstance(num_data, int) or num_data < 1:
            raise ValueError(f"num_data must be a positive int, got {num_data!r}.")
        self.num_data = num_data
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

            >>> probs = net.predict(test_images, num_samples=20)
            >>> predictive = probs.mean(0)
        """
        return self._predict(images, num_samples, batch_size)


def _lr_decay(lr: float, final_lr: float, num_steps: int) -> float:
    return (final_lr / lr) ** (1.0 / max(1, num_steps))


def fit_bnn(
    net: BayesianLeNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    final_lr: float | None = None,
    generator: torch.Generator | None = None,
) -> FitResult:
    """Train a :class:`BayesianLeNet` by mini-batch SVI on the full-data ELBO.

    Adam with a learning rate that decays
    geometrically from ``lr`` to ``final_lr`` (default ``lr / 10``) over the
    run. Returns :class:`bayesdl.infer.FitResult` (loss per step, seconds).

    Example::

        >>> net = BayesianLeNet(num_data=len(images))
        >>> result = fit_bnn(net, images, labels, num_epochs=5)
    """
    check_images(images)
    check_labels(labels, len(images))
    if len(images) != net.num_data:
        raise ValueError(
            f"net.num_data is {net.num_data} but {len(images)} images were given; "
            "the likelihood would be mis-scaled."
        )
    final_lr = lr / 10 if final_lr is None else final_lr
    steps = num_epochs * math.ceil(len(images) / batch_size)
    scheduler = pyro.optim.ExponentialLR(
        {
            "optimizer": torch.optim.Adam,
            "optim_args": {"lr": lr},
            "gamma": _lr_decay(lr, final_lr, steps),
        }
    )
    net.train()
    return fit_svi(
        net, net.guide, data=(images, labels), batch_size=batch_size,
        num_epochs=num_epochs, optim=scheduler, generator=generator, lr=lr,
        callback=lambda step, loss: scheduler.step(),
    )  # fmt: skip


def fit_deterministic(
    net: LeNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    final_lr: float | None = None,
    generator: torch.Generator | None = None,
) -> FitResult:
    """Train a :class:`LeNet` by maximum likelihood, the same way as :func:`fit_bnn`.

    Same optimiser, learning-rate decay, batch size and batch order; the loss
    recorded per step is the mean cross-entropy of the batch.

    Example::

        >>> result = fit_deterministic(LeNet(), images, labels, num_epochs=5)
    """
    check_images(images)
    check_labels(labels, len(images))
    if (
        isinstance(num_epochs, bool)
        or not isinstance(num_epochs, int)
        or num_epochs < 1
    ):
        raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}.")
    final_lr = lr / 10 if final_lr is None else final_lr
    n = len(images)
    per_epoch = math.ceil(n / batch_size)
    decay = _lr_decay(lr, final_lr, num_epochs * per_epoch)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(optim, gamma=decay)
    result = FitResult()
    net.train()
    start = time.perf_counter()
    for _ in range(num_epochs):
        order = torch.randperm(n, generator=generator, device=images.device)
        for i in range(per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(net(images[idx]), labels[idx])
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            result.losses.append(loss.item())
    result.seconds = time.perf_counter() - start
    result.steps = num_epochs * per_epoch
    return result
