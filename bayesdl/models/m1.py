"""Kingma et al.'s M1 (a VAE whose code serves as features) and its parts.

The networks and likelihoods shared by :class:`M1` and the semi-supervised
:class:`~bayesdl.models.ssvae.SSVAE` stacked on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from .. import checks

__all__ = ["M1"]

NUM_PIXELS = 28 * 28


def _mlp(sizes: Sequence[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def _bernoulli(logits: torch.Tensor) -> dist.TorchDistribution:
    # Grey pixels in [0, 1] are scored by the Bernoulli log-density
    # x log p + (1 - x) log(1 - p), the usual cross-entropy of a VAE; the
    # support check (x in {0, 1}) is switched off for that reason alone.
    return dist.Bernoulli(logits=logits, validate_args=False).to_event(1)


def _normal(params: torch.Tensor) -> dist.TorchDistribution:
    loc, raw = params.chunk(2, dim=-1)
    return dist.Normal(loc, F.softplus(raw) + 1e-3, validate_args=False).to_event(1)


class M1(PyroModule):
    """Kingma et al.'s M1: a plain VAE whose latent code serves as features.

    p(z1) = Normal(0, I), p(x|z1) = Bernoulli(decoder(z1)); q(z1|x) Normal.
    Trained on images alone (no labels), it maps an image to a
    ``z_dim``-dimensional code; the stacked model M1+M2 runs M2 on that
    code.

    Example::

        m1 = M1(num_data=60_000)
        bayesdl.infer.fit_svi(m1.model, m1.guide, data=(images,),
                              batch_size=250, num_epochs=10, lr=1e-3)
        loc, scale = m1.encode(images[:5])          # (5, 50) each
    """

    def __init__(
        self, num_data: int = 1, *, z_dim: int = 50, hidden: int = 500
    ) -> None:
        super().__init__()
        self.num_data = checks.positive_int("num_data", num_data)
        self.z_dim = checks.positive_int("z_dim", z_dim)
        hidden = checks.positive_int("hidden", hidden)
        act = nn.ReLU
        self.encoder = _mlp([NUM_PIXELS, hidden, 2 * self.z_dim], act)
        self.decoder = _mlp([self.z_dim, hidden, NUM_PIXELS], act)

    def _encode(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, raw = self.encoder(flat).chunk(2, dim=-1)
        return loc, F.softplus(raw) + 1e-4

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def model(self, x: torch.Tensor) -> None:
        """p(z1) p(x|z1), the batch scaled to ``num_data`` images."""
        flat = checks.images(x, "x", dtype=self._dtype()).reshape(len(x), NUM_PIXELS)
        with pyro.plate("images", self.num_data, subsample_size=len(flat)):
            prior = dist.Normal(flat.new_zeros(self.z_dim), 1.0).to_event(1)
            z = pyro.sample("z1", prior.expand([len(flat)]))
            pyro.sample("x", _bernoulli(self.decoder(z)), obs=flat)

    def guide(self, x: torch.Tensor) -> None:
        """q(z1|x)."""
        flat = checks.images(x, "x", dtype=self._dtype()).reshape(len(x), NUM_PIXELS)
        with pyro.plate("images", self.num_data, subsample_size=len(flat)):
            loc, scale = self._encode(flat)
            pyro.sample("z1", dist.Normal(loc, scale).to_event(1))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, scale)`` of q(z1|x), each (N, z_dim)."""
        flat = checks.images(x, "x", dtype=self._dtype()).reshape(len(x), NUM_PIXELS)
        return self._encode(flat.to(next(self.parameters()).device))
