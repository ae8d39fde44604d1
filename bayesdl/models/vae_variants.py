"""Two variants of :class:`~bayesdl.models.vae.VAE` for the chapter's exercises.

* :class:`ContinuousBernoulliVAE`: the same networks with the continuous
  Bernoulli likelihood (Loaiza-Ganem and Cunningham, 2019), a proper density
  on [0, 1] for every pixel.
* :class:`BayesianHeadVAE`: the decoder's last layer has a Gaussian prior on
  its weights and a mean-field Gaussian guide, while the rest of the
  decoder and the encoder stay point estimates.

Both keep the VAE's interface (``encode``, ``decode``, ``generate``, ``model``,
``guide``),
so :func:`~bayesdl.models.vae.elbo` and :func:`~bayesdl.models.vae.iwae`
score them (the first through its ``log_likelihood``).

Example::

    >>> cb = ContinuousBernoulliVAE(num_data=55_000, latent_dim=32)
    >>> head = BayesianHeadVAE(num_data=55_000, latent_dim=32)
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions import constraints
from pyro.nn import PyroParam

from .. import checks
from .vae import VAE

__all__ = ["BayesianHeadVAE", "ContinuousBernoulliVAE"]


class ContinuousBernoulliVAE(VAE):
    """A :class:`~bayesdl.models.vae.VAE` whose pixels are continuous Bernoulli.

    ``decode(z)`` returns the distribution's parameters ``lambda`` (the
    sigmoid of the decoder's logits), which are *not* its means;
    :meth:`mean` returns the means. :meth:`log_likelihood` is the log
    density on [0, 1]^784, which can be positive.

    Example::

        >>> vae = ContinuousBernoulliVAE(num_data=100, latent_dim=2, hidden=(8,))
        >>> vae.mean(torch.zeros(1, 2)).shape
        torch.Size([1, 1, 28, 28])
    """

    def _pixels(self, logits: torch.Tensor) -> dist.Distribution:
        return dist.ContinuousBernoulli(logits=logits)

    # cb-start
    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """p(z) p(x | z) with continuous Bernoulli pixels."""
        batch = torch.arange(len(x), device=x.device)
        with pyro.plate("data", self.num_data, subsample=batch):
            zeros = x.new_zeros(len(x), self.latent_dim)
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            pixels = self._pixels(self._logits(z))
            pyro.sample("x", pixels.to_event(3), obs=x)

    # cb-end

    def log_likelihood(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | z), the continuous Bernoulli log density summed over pixels: (N,)."""
        return self._pixels(self.decode_logits(z)).log_prob(x).flatten(1).sum(-1)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """The means of the pixels (N, 1, 28, 28) for codes ``z`` (N, D)."""
        return self._pixels(self.decode_logits(z)).mean


class BayesianHeadVAE(VAE):
    """A :class:`~bayesdl.models.vae.VAE` with a Bayesian last decoder layer.

    The weights and biases of the layer that maps the decoder's last hidden
    layer to the 784 logits have the prior ``N(0, prior_scale^2)`` and the
    guide ``N(loc, scale^2)``, one pair per weight (mean field), the scales
    starting at ``init_scale``. They are sampled once per step, outside the
    data plate, so their KL counts once for the whole training set while the
    images' terms are scaled by ``num_data / len(x)``. ``decode`` uses the
    guide's means; :meth:`decode_draws` draws heads from the guide.

    Example::

        >>> vae = BayesianHeadVAE(num_data=100, latent_dim=2, hidden=(8,))
        >>> vae.decode_draws(torch.zeros(3, 2), 5).shape
        torch.Size([5, 3, 1, 28, 28])
    """

    def __init__(
        self,
        num_data: int,
        latent_dim: int = 32,
        hidden: Sequence[int] = (256, 128),
        *,
        activation: str = "elu",
        prior_scale: float = 1.0,
        init_scale: float = 1e-3,
    ) -> None:
        super().__init__(num_data, latent_dim, hidden, activation=activation)
        prior_scale = checks.positive_float("prior_scale", prior_scale)
        init_scale = checks.positive_float("init_scale", init_scale)
        last = self.decoder.layers[-1]
        self.decoder.layers = self.decoder.layers[:-1]  # the body: a point estimate
        self.register_buffer("prior_scale", torch.tensor(prior_scale))
        positive = constraints.softplus_positive
        for name in ("weight", "bias"):
            value = getattr(last, name).detach().clone()
            setattr(self, f"head_{name}_loc", PyroParam(value))
            scale = torch.full_like(value, init_scale)
            setattr(self, f"head_{name}_scale", PyroParam(scale, positive))

    # head-start
    def head_prior(self, name: str) -> dist.Distribution:
        """The prior of the head's ``"weight"`` or ``"bias"``."""
        shape = getattr(self, f"head_{name}_loc").shape
        normal = dist.Normal(torch.zeros_like(self.prior_scale), self.prior_scale)
        return normal.expand(shape).to_event(len(shape))

    def head_guide(self, name: str) -> dist.Distribution:
        """The mean-field guide of the head's ``"weight"`` or ``"bias"``."""
        loc = getattr(self, f"head_{name}_loc")
        scale = getattr(self, f"head_{name}_scale")
        return dist.Normal(loc, scale).to_event(loc.dim())

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """p(w) p(z) p(x | z, w): the head's weights once, outside the plate."""
        w = pyro.sample("head.weight", self.head_prior("weight"))
        b = pyro.sample("head.bias", self.head_prior("bias"))
        batch = torch.arange(len(x), device=x.device)
        with pyro.plate("data", self.num_data, subsample=batch):
            zeros = x.new_zeros(len(x), self.latent_dim)
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            logits = F.linear(self.decoder(z), w, b).view(-1, 1, 28, 28)
            pixels = dist.Bernoulli(logits=logits, validate_args=False)
            pyro.sample("x", pixels.to_event(3), obs=x)

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """q(w) q(z | x): the mean-field head, then the encoder's guide."""
        pyro.sample("head.weight", self.head_guide("weight"))
        pyro.sample("head.bias", self.head_guide("bias"))
        super().guide(x, y)

    # head-end

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        w, b = self.head_weight_loc, self.head_bias_loc
        return F.linear(self.decoder(z), w, b).view(-1, 1, 28, 28)

    def decode_draws(self, z: torch.Tensor, num_draws: int) -> torch.Tensor:
        """Pixel means (S, N, 1, 28, 28) of ``num_draws`` heads drawn from the guide."""
        z = self._codes(z)
        num_draws = checks.positive_int("num_draws", num_draws)
        hidden = self.decoder(z)
        w = self.head_guide("weight").sample((num_draws,))
        b = self.head_guide("bias").sample((num_draws,))
        logits = torch.einsum("nh,sph->snp", hidden, w) + b[:, None, :]
        return torch.sigmoid(logits).view(num_draws, -1, 1, 28, 28)
