"""A variational autoencoder (VAE) for 28x28 grey-level images.

The generative model draws a latent code for every image and decodes it
into the means of independent Bernoulli pixels,

    z_n ~ N(0, I),    x_n | z_n ~ Bernoulli(decode(z_n)),

and the guide is the amortized posterior ``q(z_n | x_n) = N(loc, diag(scale^2))``
whose ``(loc, scale) = encode(x_n)`` come from one encoder network shared by
all images. The interface that the chapter and its exercises use:

* ``vae.encode(x)`` -> ``(loc, scale)``, each of shape (N, D);
* ``vae.decode(z)`` -> Bernoulli means of shape (N, 1, 28, 28), in (0, 1);
* ``vae.sample(n)`` -> ``n`` new images decoded from the prior;
* ``vae.model(x)`` and ``vae.guide(x)`` for Pyro, with ``x`` of shape
  (N, 1, 28, 28) in [0, 1] (a mini-batch of a training set of
  ``vae.num_data`` images).

:func:`elbo` and :func:`iwae` estimate the evidence of images under any
object with that interface (the prior is always the standard normal).

Example::

    vae = VAE(num_data=55_000, latent_dim=32)
    result = bayesdl.infer.fit_svi(
        vae.model, vae.guide, data=(images,), batch_size=128,
        num_epochs=10, loss=pyro.infer.TraceMeanField_ELBO())
    elbo(vae, test_images).mean()     # nats per image
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from .. import checks

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "VAE",
    "VAELike",
    "bernoulli_log_likelihood",
    "elbo",
    "iwae",
]

NUM_PIXELS = 28 * 28


class VAELike(Protocol):
    """What :func:`elbo` and :func:`iwae` need: an encoder and a decoder."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "elu": nn.ELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
}
"""The hidden layers' activations :class:`VAE` offers, by name."""


class MLP(PyroModule):
    """A fully connected network: a ``PyroModule`` of ordinary torch layers.

    ``sizes`` are the widths from input to output; every layer but the last
    is followed by the ``activation``. The layers' weights are point
    estimates that the optimiser updates, nothing in them is random or
    constrained, so they stay plain ``nn.Linear`` layers: turning each into
    a ``PyroModule`` would send every weight through Pyro's parameter
    machinery at every call for no change in the result.

    Example::

        >>> net = MLP([784, 256, 64], nn.ELU)
        >>> net(torch.zeros(5, 784)).shape
        torch.Size([5, 64])
    """

    def __init__(self, sizes: Sequence[int], activation: type[nn.Module]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(activation())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for inputs ``x`` of shape (N, sizes[0])."""
        return self.layers(x)


class VAE(PyroModule):
    """A VAE with fully connected encoder and decoder and a Bernoulli likelihood.

    ``hidden`` lists the widths of the encoder's hidden layers (the decoder
    mirrors them), each followed by ``activation`` (a name in
    :data:`ACTIVATIONS`); ``latent_dim`` is the width D of the code ``z``;
    ``num_data`` is the size of the training set, which the model's
    ``pyro.plate`` needs to scale a mini-batch's log-likelihood by
    ``num_data / len(x)``. The encoder's last layer gives ``loc`` and, through
    a softplus, ``scale``; the decoder's last layer gives the logits of the
    pixels (:meth:`decode_logits`), which :meth:`decode` squashes into means.

    Example::

        vae = VAE(num_data=60_000, latent_dim=2, hidden=(256,))
        loc, scale = vae.encode(images[:5])        # (5, 2) each
        new = vae.sample(16)                       # (16, 1, 28, 28)
    """

    def __init__(
        self,
        num_data: int,
        latent_dim: int = 32,
        hidden: Sequence[int] = (256, 128),
        *,
        activation: str = "elu",
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        self.num_data = checks.positive_int("num_data", num_data)
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        hidden = checks.widths("hidden", hidden)
        self.hidden = hidden
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, "
                f"got {activation!r}."
            )
        self.activation = activation
        self.min_scale = checks.positive_float("min_scale", min_scale)
        act = ACTIVATIONS[activation]
        self.encoder = MLP([NUM_PIXELS, *hidden, 2 * latent_dim], act)
        self.decoder = MLP([latent_dim, *hidden[::-1], NUM_PIXELS], act)

    # -- the networks -------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The guide's ``(loc, scale)`` for images ``x`` (N, 1, 28, 28): (N, D) each.

        Example::

            loc, scale = vae.encode(test_images[:100])
        """
        x = checks.images(x, "x", dtype=self._reference().dtype)
        loc, raw = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return loc, F.softplus(raw) + self.min_scale

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The logits of the pixels' Bernoulli means for codes ``z`` (N, D).

        Example::

            logits = vae.decode_logits(torch.zeros(1, vae.latent_dim))
        """
        z = self._check_codes(z)
        logits = self._logits(z)
        if not torch.isfinite(logits).all():
            raise ValueError(
                f"the codes z (largest |z| {float(z.abs().max()):.3g}) decode to "
                "non-finite images: codes must be of the prior's size, N(0, I)."
            )
        return logits

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The Bernoulli means (N, 1, 28, 28), in (0, 1), for codes ``z`` (N, D).

        Example::

            means = vae.decode(torch.zeros(1, vae.latent_dim))
        """
        return torch.sigmoid(self.decode_logits(z))

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images: the means ``decode(z)`` for ``z`` drawn from N(0, I).

        ``generator`` (on the module's device) makes the draw reproducible.

        Example::

            images = vae.sample(16)                 # (16, 1, 28, 28)
        """
        n = checks.positive_int("n", n)
        ref = self._reference()
        z = torch.randn(
            n, self.latent_dim, generator=generator, device=ref.device, dtype=ref.dtype
        )
        return self.decode(z)

    # -- Pyro's model and guide --------------------------------------------
    # model-start
    def model(self, x: torch.Tensor) -> None:
        """p(z) p(x | z) for a mini-batch ``x`` of a training set of ``num_data``."""
        x = self._check_batch(x)
        batch = torch.arange(len(x), device=x.device)
        with pyro.plate("data", self.num_data, subsample=batch):
            zeros = x.new_zeros(len(x), self.latent_dim)
            prior = dist.Normal(zeros, 1.0).to_event(1)
            z = pyro.sample("z", prior)
            logits = self._logits(z)
            # Grey levels in [0, 1] as Bernoulli "observations", as in Pyro's
            # VAE tutorial: validate_args=False lets non-binary values in.
            pixels = dist.Bernoulli(logits=logits, validate_args=False)
            pyro.sample("x", pixels.to_event(3), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        """q(z | x) = N(loc, diag(scale^2)) with ``(loc, scale) = encode(x)``."""
        x = self._check_batch(x)
        batch = torch.arange(len(x), device=x.device)
        with pyro.plate("data", self.num_data, subsample=batch):
            loc, scale = self.encode(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    # model-end

    # -- helpers ------------------------------------------------------------
    def _reference(self) -> torch.Tensor:
        return next(self.decoder.parameters())

    def _check_batch(self, x: object) -> torch.Tensor:
        x = checks.images(x, "x", dtype=self._reference().dtype)
        if len(x) > self.num_data:
            raise ValueError(
                f"a batch of {len(x)} images is larger than the training set "
                f"(num_data={self.num_data}), which would mis-scale the ELBO; "
                "build the VAE with num_data=len(training images)."
            )
        return x

    def _check_codes(self, z: object) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or not z.is_floating_point():
            raise ValueError(
                f"z must be a floating-point tensor of shape (N, {self.latent_dim})."
            )
        if z.ndim != 2 or z.shape[1] != self.latent_dim or len(z) == 0:
            raise ValueError(
                f"z must have shape (N, {self.latent_dim}) with N >= 1 (the "
                f"latent width is {self.latent_dim}), got {tuple(z.shape)}."
            )
        if not torch.isfinite(z).all():
            raise ValueError("z must be finite (no NaN or infinite codes).")
        return z.to(self._reference().dtype)


# -- estimators of the evidence for any VAE-like object ----------------------


def bernoulli_log_likelihood(
    vae: VAELike, z: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """log p(x | z) of Bernoulli pixels, summed over the pixels: shape (N,).

    Uses ``vae.decode_logits`` when the model has it (exact for saturated
    pixels), else ``vae.decode``'s means, clipped away from 0 and 1.

    Example::

        loc, scale = vae.encode(x)
        bernoulli_log_likelihood(vae, loc, x)        # (N,)
    """
    decode_logits = getattr(vae, "decode_logits", None)
    if decode_logits is not None:
        logits = decode_logits(z)
    else:
        eps = torch.finfo(x.dtype).eps
        logits = torch.logit(vae.decode(z).clamp(eps, 1 - eps))
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(1).sum(-1)


def _check_encoding(loc: object, scale: object, n: int) -> None:
    ok = isinstance(loc, torch.Tensor) and isinstance(scale, torch.Tensor)
    if not ok or loc.ndim != 2 or loc.shape != scale.shape or len(loc) != n:
        raise ValueError(
            f"vae.encode(x) must return (loc, scale), each of shape (N, D) with "
            f"N = {n} images."
        )


def _dtype(vae: VAELike) -> torch.dtype:
    """The dtype of a VAE-like object's weights (float32 for a non-module)."""
    if isinstance(vae, nn.Module):
        for p in vae.parameters():
            return p.dtype
    return torch.get_default_dtype()


def _log_likelihood(vae: VAELike, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) per image: ``vae.log_likelihood`` if it has one, else Bernoulli."""
    own = getattr(vae, "log_likelihood", None)
    return own(z, x) if own is not None else bernoulli_log_likelihood(vae, z, x)


def _encoder(vae: VAELike, x: torch.Tensor, encoding) -> Callable:
    """``encode(start, xb)``: the encoder's, or rows of a given ``(loc, scale)``."""
    if encoding is None:
        return lambda start, xb: vae.encode(xb)
    loc, scale = encoding
    _check_encoding(loc, scale, len(x))
    if not (scale > 0).all():
        raise ValueError("the given encoding's scale must be positive.")
    return lambda start, xb: (
        loc[start : start + len(xb)],
        scale[start : start + len(xb)],
    )


def _batched(fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat(
        [fn(i, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )


def elbo(
    vae: VAELike,
    x: torch.Tensor,
    *,
    num_samples: int = 1,
    batch_size: int = 1000,
    encoding: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The ELBO of every image, in nats: shape (N,).

    ``E_q[log p(x | z)] - KL(q(z | x) || N(0, I))``: the expectation by
    ``num_samples`` reparameterised draws of z, the KL in closed form. Runs
    in batches of ``batch_size`` images; call it under ``torch.no_grad()``
    to evaluate (the estimate is differentiable otherwise). ``q`` is the
    encoder's, or the Gaussians ``encoding = (loc, scale)`` (N, D) given for
    the images (e.g. refined by :func:`bayesdl.models.vae_gaps.refine_encoding`).
    The likelihood is ``vae.log_likelihood(z, x)`` when the model has one,
    else the Bernoulli's.

    Example::

        with torch.no_grad():
            test_elbo = elbo(vae, test_images).mean()
    """
    x = checks.images(x, "x", dtype=_dtype(vae))
    num_samples = checks.positive_int("num_samples", num_samples)
    batch_size = checks.positive_int("batch_size", batch_size)
    encode = _encoder(vae, x, encoding)

    def one(start: int, xb: torch.Tensor) -> torch.Tensor:
        loc, scale = encode(start, xb)
        _check_encoding(loc, scale, len(xb))
        kl = 0.5 * (loc**2 + scale**2 - 1.0 - 2.0 * scale.log()).sum(-1)
        rec = 0.0
        for _ in range(num_samples):
            z = loc + scale * torch.randn_like(loc)
            rec = rec + _log_likelihood(vae, z, xb)
        return rec / num_samples - kl

    return _batched(one, x, batch_size)


def iwae(
    vae: VAELike,
    x: torch.Tensor,
    k: int,
    *,
    batch_size: int = 250,
    encoding: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The importance-weighted bound (IWAE) on log p(x) with ``k`` samples: (N,).

    ``log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)`` with ``z_i ~ q(z | x)``
    and ``p(z) = N(0, I)`` (Burda et al., 2016). Its expectation is at least
    the ELBO, equals it at ``k = 1`` and rises towards ``log p(x)`` as ``k``
    grows. Memory grows as ``batch_size * k`` decoded images. ``encoding``
    and the likelihood as in :func:`elbo`.

    Example::

        with torch.no_grad():
            test_iwae = iwae(vae, test_images, k=64).mean()
    """
    x = checks.images(x, "x", dtype=_dtype(vae))
    k = checks.positive_int("k", k)
    batch_size = checks.positive_int("batch_size", batch_size)
    encode = _encoder(vae, x, encoding)

    # iwae-start
    def one(start: int, xb: torch.Tensor) -> torch.Tensor:
        loc, scale = encode(start, xb)
        _check_encoding(loc, scale, len(xb))
        q = dist.Normal(loc, scale).to_event(1)
        z = q.rsample((k,))  # (k, B, D)
        log_prior = -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
        xs = xb.expand(k, *xb.shape).reshape(-1, *xb.shape[1:])
        ll = _log_likelihood(vae, z.reshape(-1, z.shape[-1]), xs)
        log_w = ll.view(k, -1) + log_prior - q.log_prob(z)
        return torch.logsumexp(log_w, dim=0) - math.log(k)

    # iwae-end

    return _batched(one, x, batch_size)
