"""Bayesian layers: linear and convolutional layers with a Gaussian posterior.

Every weight ``w`` of a layer has the prior ``N(prior_loc, prior_scale**2)``
and the mean-field variational posterior ``q(w) = N(mu, sigma**2)``; ``sigma``
is kept positive through a softplus. Each layer is a ``PyroModule``, so
Pyro's SVI finds ``weight_loc`` and ``weight_scale`` (``mu`` and ``sigma``) as
parameters, and a network of them is a Pyro model that is its own guide:

* in training mode the forward pass draws a sample of the layer's output
  under ``q``. By default it uses the *local reparameterization trick*
  (Kingma, Salimans and Welling, 2015): a layer's output is a sum of many
  independent Gaussian terms, so it is Gaussian itself, and we draw the
  output (``mean + std * noise``) instead of the weight matrix. That is one
  extra matrix product or convolution per layer, and its gradient has lower
  variance than that of a sampled weight matrix;
* inside a Pyro inference (any Pyro handler active), the forward pass also
  adds the closed-form ``-KL(q || prior)`` of the layer's weights to the
  model's log density with ``pyro.factor``. The network must therefore be
  called *outside* the data plate: the KL counts once per step, while the
  likelihood inside ``pyro.plate("data", N, subsample=batch)`` is scaled by
  ``N / batch``. Together they give an unbiased estimate of the full-data ELBO.

In evaluation mode (``.eval()``) a layer draws one weight matrix from ``q``
per call, so a forward pass of a network is one network sampled from the
posterior. Outside Pyro the layers are plain torch modules.

Example::

    >>> layer = BayesianLinear(784, 10, prior_scale=1.0)
    >>> layer(torch.rand(32, 784)).shape
    torch.Size([32, 10])
    >>> layer.to(torch.float64).prior_scale.dtype  # the prior follows .to()
    torch.float64
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam
from pyro.poutine.runtime import am_i_wrapped
from torch import nn

from .. import checks

__all__ = [
    "BayesianConv2d",
    "BayesianLayer",
    "BayesianLinear",
    "kl_divergence",
]


class BayesianLayer(PyroModule):
    """Base class of the Bayesian layers: prior, posterior, KL.

    A subclass creates ``weight_loc``/``weight_scale`` (and ``bias_loc``/
    ``bias_scale``) by calling ``_init_posterior`` in its ``__init__``, and
    defines ``_op(x, weight, bias)``, the deterministic operation (as
    ``BayesianLinear`` and ``BayesianConv2d`` do); ``forward`` is shared. The
    prior's parameters are registered as buffers, so ``.to(device)`` and
    ``.to(dtype)`` move them with the layer. The base class itself has no
    weights, and using it directly raises ``TypeError``.

    Attributes:
        local_reparameterization: in training mode, draw each example's
            outputs (``True``) or one set of weights shared by the batch
            (``False``). In evaluation mode (``.eval()``) a layer always draws
            one set of weights per call, so that one forward pass is one
            network sampled from the posterior.
    """

    def __init__(
        self,
        prior_scale: float,
        prior_loc: float,
        init_std: float,
        local_reparameterization: bool,
    ) -> None:
        super().__init__()
        self.local_reparameterization = bool(local_reparameterization)
        self.init_std = checks.positive_float("init_std", init_std)
        prior_loc = checks.finite_float("prior_loc", prior_loc)
        prior_scale = checks.positive_float("prior_scale", prior_scale)
        self.register_buffer("prior_loc", torch.tensor(prior_loc))
        self.register_buffer("prior_scale", torch.tensor(prior_scale))

    def _init_posterior(self, weight_shape: tuple[int, ...], fan_in: int, bias: bool):
        # Means as in torch's default init (uniform, bound 1/sqrt(fan_in)),
        # standard deviations all equal to init_std. The scales are
        # PyroParams constrained positive through a softplus.
        bound = 1.0 / math.sqrt(fan_in)
        positive = constraints.softplus_positive
        self.weight_loc = PyroParam(torch.empty(weight_shape).uniform_(-bound, bound))
        self.weight_scale = PyroParam(torch.full(weight_shape, self.init_std), positive)
        self.has_bias = bool(bias)
        if bias:
            n = weight_shape[0]
            self.bias_loc = PyroParam(torch.empty(n).uniform_(-bound, bound))
            self.bias_scale = PyroParam(torch.full((n,), self.init_std), positive)

    def prior(self, name: str = "weight") -> dist.Distribution:
        """The prior of ``"weight"`` or ``"bias"`` as a Pyro distribution.

        Example::

            >>> BayesianLinear(3, 2).prior("weight").batch_shape
            torch.Size([2, 3])
        """
        shape = self._variational(name)[0].shape
        return dist.Normal(self.prior_loc, self.prior_scale).expand(shape)

    def posterior(self, name: str = "weight") -> dist.Distribution:
        """The variational posterior ``q`` of ``"weight"`` or ``"bias"``.

        Example::

            >>> q = BayesianLinear(3, 2).posterior("weight")
            >>> q.sample().shape
            torch.Size([2, 3])
        """
        return dist.Normal(*self._variational(name))

    def _variational(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's (loc, scale) of ``"weight"`` or ``"bias"``."""
        self._require_posterior()
        if name not in ("weight", "bias") or (name == "bias" and not self.has_bias):
            raise ValueError(f"this layer has no parameter {name!r}.")
        return getattr(self, f"{name}_loc"), getattr(self, f"{name}_scale")

    def _require_posterior(self) -> None:
        if "has_bias" not in self.__dict__:  # set by _init_posterior
            raise TypeError(
                f"{type(self).__name__} has no weights: BayesianLayer is a base "
                "class; use BayesianLinear or BayesianConv2d, or call "
                "self._init_posterior(...) in your subclass's __init__."
            )

    def _pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(weight loc, weight scale)] plus (bias loc, bias scale) if any."""
        self._require_posterior()
        pairs = [(self.weight_loc, self.weight_scale)]
        if self.has_bias:
            pairs.append((self.bias_loc, self.bias_scale))
        return pairs

    def kl_divergence(self) -> torch.Tensor:
        """``KL(q || prior)`` of all the layer's weights, in closed form.

        For one weight, ``log(s_p / s_q) + (s_q**2 + (m_q - m_p)**2) /
        (2 s_p**2) - 1/2``; the layer's KL is the sum over its weights.

        Example::

            float(BayesianLinear(3, 2).kl_divergence()) > 0
            # True
        """
        return self._kl(self._pairs())

    def _kl(self, pairs) -> torch.Tensor:
        m_p, s_p = self.prior_loc, self.prior_scale
        total = m_p.new_zeros(())
        for m_q, s_q in pairs:
            ratio = (s_q**2 + (m_q - m_p) ** 2) / (2 * s_p**2)
            total = total + (torch.log(s_p / s_q) + ratio - 0.5).sum()
        return total

    def _op(self, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
        """The deterministic layer: ``F.linear``, ``F.conv2d``, ..."""
        raise TypeError(
            f"{type(self).__name__} is a BayesianLayer without an operation: a "
            "subclass must define _op(x, weight, bias), as BayesianLinear does."
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One draw of the layer's output under the posterior ``q``.

        Inside a Pyro inference it also adds ``-KL(q || prior)`` to the
        model's log density.
        """
        pairs = self._pairs()  # read (and constrain) the parameters once
        if am_i_wrapped():  # only inside Pyro; named after the layer's place
            pyro.factor(self._pyro_get_fullname("kl"), -self._kl(pairs))
        (w_loc, w_scale), (b_loc, b_scale) = pairs[0], (pairs + [(None, None)])[1]
        if self.training and self.local_reparameterization:
            # Local reparameterization: the output is Gaussian; draw it.
            mean = self._op(x, w_loc, b_loc)
            b_var = None if b_scale is None else b_scale**2
            var = self._op(x * x, w_scale**2, b_var)
            if b_var is None:  # a zero input would give var == 0 (sqrt' = inf)
                var = var + 1e-12
            return torch.addcmul(mean, var.sqrt(), torch.randn_like(mean))
        # One weight matrix (and bias) drawn from q for the whole call.
        weight = torch.addcmul(w_loc, w_scale, torch.randn_like(w_loc))
        bias = None
        if b_loc is not None:
            bias = torch.addcmul(b_loc, b_scale, torch.randn_like(b_loc))
        return self._op(x, weight, bias)


class BayesianLinear(BayesianLayer):
    """A fully connected layer with a Gaussian mean-field posterior.

    Args:
        in_features: size of each input, as for ``torch.nn.Linear``.
        out_features: size of each output.
        bias: whether the layer has a (Bayesian) bias.
        prior_scale: standard deviation of the ``N(prior_loc, prior_scale**2)``
            prior of every weight and bias (positive).
        prior_loc: mean of the prior (default 0).
        init_std: the posterior standard deviations at initialisation.
        local_reparameterization: in training, draw the outputs of each
            example (``True``) or one weight matrix for the whole batch.

    Example::

        >>> layer = BayesianLinear(784, 100, prior_scale=0.1)
        >>> h = layer(torch.rand(64, 784))        # one posterior draw
        >>> kl = layer.kl_divergence()            # closed-form KL to the prior
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        prior_scale: float = 1.0,
        prior_loc: float = 0.0,
        init_std: float = 1e-3,
        local_reparameterization: bool = True,
    ) -> None:
        super().__init__(prior_scale, prior_loc, init_std, local_reparameterization)
        self.in_features = checks.positive_int("in_features", in_features)
        self.out_features = checks.positive_int("out_features", out_features)
        self._init_posterior((out_features, in_features), in_features, bias)

    def _op(self, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.has_bias}, prior_scale={float(self.prior_scale):g}"
        )


class BayesianConv2d(BayesianLayer):
    """A 2-d convolution with a Gaussian mean-field posterior on its kernels.

    With local reparameterization the output's mean is the input convolved
    with the kernel means, and its variance the squared input convolved with
    the kernel variances.

    The arguments ``in_channels``, ``out_channels``, ``kernel_size``,
    ``stride`` and ``padding`` mean what they mean for ``torch.nn.Conv2d``
    (square kernels, int stride and padding); ``bias``, ``prior_scale``,
    ``prior_loc``, ``init_std`` and ``local_reparameterization`` what they
    mean for :class:`BayesianLinear`.

    Example::

        >>> conv = BayesianConv2d(1, 8, 5, prior_scale=0.1)
        >>> conv(torch.rand(16, 1, 28, 28)).shape
        torch.Size([16, 8, 24, 24])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        *,
        prior_scale: float = 1.0,
        prior_loc: float = 0.0,
        init_std: float = 1e-3,
        local_reparameterization: bool = True,
    ) -> None:
        super().__init__(prior_scale, prior_loc, init_std, local_reparameterization)
        self.in_channels = checks.positive_int("in_channels", in_channels)
        self.out_channels = checks.positive_int("out_channels", out_channels)
        self.kernel_size = checks.positive_int("kernel_size", kernel_size)
        self.stride = checks.positive_int("stride", stride)
        self.padding = checks.non_negative_int("padding", padding)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self._init_posterior(shape, in_channels * kernel_size**2, bias)

    def _op(self, x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
        return F.conv2d(x, weight, bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, "
            f"prior_scale={float(self.prior_scale):g}"
        )


def kl_divergence(module: nn.Module) -> torch.Tensor:
    """The summed ``KL(q || prior)`` of every Bayesian layer inside ``module``.

    Example::

        >>> net = torch.nn.Sequential(BayesianLinear(4, 3), BayesianLinear(3, 2))
        >>> kl = kl_divergence(net)
    """
    layers = [m for m in module.modules() if isinstance(m, BayesianLayer)]
    if not layers:
        raise ValueError(f"{type(module).__name__} contains no Bayesian layer.")
    return sum((m.kl_divergence() for m in layers[1:]), layers[0].kl_divergence())
