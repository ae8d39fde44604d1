"""A variational autoencoder (VAE) for 28x28 grey-level images.

The generative model draws a latent code for every image and decodes it
into the means of independent Bernoulli pixels,

    z_n ~ N(0, I),    x_n | z_n ~ Bernoulli(decode(z_n)),

and the guide is the amortized posterior ``q(z_n | x_n) = N(loc, diag(scale^2))``
whose ``(loc, scale) = encode(x_n)`` come from one encoder network shared by
all images. The interface that the chapter and its exercises use:

* ``vae.encode(x)`` -> ``(loc, scale)``, each of shape (N, D);
* ``vae.decode(z)`` -> Bernoulli means of shape (N, 1, 28, 28), in (0, 1);
* ``vae.generate(n)`` -> ``n`` new images decoded from the prior;
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

import warnings
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from .. import checks
from .evidence import VAELike, bernoulli_log_likelihood, elbo, iwae

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
    The labels ``y`` that the vocabulary of :mod:`bayesdl.models` passes are
    ignored: this VAE models the images alone.

    Example::

        >>> vae = VAE(num_data=60_000, latent_dim=2, hidden=(16,))
        >>> loc, scale = vae.encode(torch.rand(5, 1, 28, 28))   # (5, 2) each
        >>> vae.generate(16).shape
        torch.Size([16, 1, 28, 28])
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

    # -- Pyro's model and guide --------------------------------------------
    # model-start
    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """p(z) p(x | z) for a mini-batch ``x`` of a training set of ``num_data``."""
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

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """q(z | x) = N(loc, diag(scale^2)) with ``(loc, scale)`` from the encoder."""
        batch = torch.arange(len(x), device=x.device)
        with pyro.plate("data", self.num_data, subsample=batch):
            loc, scale = self._encode(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    # model-end

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, scale)`` of q(z | x), with gradients and without checks."""
        loc, raw = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return loc, F.softplus(raw) + self.min_scale

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)

    def validate_batch(self, x: object, y: object = None) -> torch.Tensor:
        """Refuse a training batch the model cannot score; return ``x``.

        What :meth:`model` and :meth:`guide` take on trust: images
        (N, 1, 28, 28) in [0, 1], no more of them than ``num_data``. Run it
        on the first batch of a fit (the checks cost a pass over the batch).
        """
        x = checks.images(x, "x", dtype=self._reference().dtype)
        if len(x) > self.num_data:
            raise ValueError(
                f"a batch of {len(x)} images is larger than the training set "
                f"(num_data={self.num_data}), which would mis-scale the ELBO; "
                "build the VAE with num_data=len(training images)."
            )
        return x

    # -- what readers use ---------------------------------------------------
    @torch.no_grad()
    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The guide's ``(loc, scale)`` for images ``x`` (N, 1, 28, 28): (N, D) each.

        Without gradients, on the device of ``x``. Example::

            loc, scale = vae.encode(test_images[:100])
        """
        ref = self._reference()
        x = checks.images(x, "x")
        loc, scale = self._encode(x.to(ref.device, ref.dtype))
        return loc.to(x.device), scale.to(x.device)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The logits of the pixels' Bernoulli means for codes ``z`` (N, D).

        Differentiable (the evidence estimators and
        :func:`~bayesdl.models.vae_gaps.refine_encoding` need it). Example::

            logits = vae.decode_logits(torch.zeros(1, vae.latent_dim))
        """
        z = self._codes(z)
        logits = self._logits(z)
        if not torch.isfinite(logits).all():
            raise ValueError(
                f"the codes z (largest |z| {float(z.abs().max()):.3g}) decode to "
                "non-finite images: codes must be of the prior's size, N(0, I)."
            )
        return logits

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The Bernoulli means (N, 1, 28, 28), in (0, 1), for codes ``z`` (N, D).

        Without gradients, on the device of ``z``. Example::

            means = vae.decode(torch.zeros(1, vae.latent_dim))
        """
        self._unconditional(y)
        codes = self._codes(z)
        dev = self._reference().device
        return torch.sigmoid(self.decode_logits(codes.to(dev))).to(codes.device)

    @torch.no_grad()
    def generate(
        self,
        n: int | None = None,
        *,
        y: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """New images: the means ``decode(z)`` for ``z`` drawn from N(0, I).

        ``n`` images, drawn with ``generator`` when given (on its device),
        returned on the module's device; or the decoded codes ``z`` (N, D),
        on their device. Example::

            images = vae.generate(16)                 # (16, 1, 28, 28)
        """
        self._unconditional(y)
        if z is None:
            if n is None:
                raise ValueError("generate needs n (how many images) or codes z.")
            n = checks.positive_int("n", n)
            ref = self._reference()
            dev = ref.device if generator is None else generator.device
            z = torch.randn(n, self.latent_dim, generator=generator, device=dev)
            return self.decode(z.to(ref.device, ref.dtype))
        if n is not None and (not isinstance(z, torch.Tensor) or len(z) != n):
            raise ValueError(f"n={n!r} and the number of codes z disagree.")
        return self.decode(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Deprecated name of :meth:`generate` (removed in the next release)."""
        warnings.warn(
            "VAE.sample(n) is now VAE.generate(n); the old name goes in the next "
            "release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.generate(n, generator=generator)

    # -- helpers ------------------------------------------------------------
    def _reference(self) -> torch.Tensor:
        return next(self.decoder.parameters())

    def _unconditional(self, y: object) -> None:
        if y is not None:
            raise ValueError(
                f"{type(self).__name__} models images alone; it takes no labels y."
            )

    def _codes(self, z: object) -> torch.Tensor:
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
