"""Kingma et al.'s M1: the book's VAE, sized as theirs, whose code serves as features.

M1 is a :class:`~bayesdl.models.vae.VAE` (one hidden layer of 500 ReLU
units, a 50-dimensional code, Bernoulli pixels); the stacked model M1+M2 of
:class:`~bayesdl.models.ssvae.SSVAE` runs M2 on its code.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from .vae import VAE

__all__ = ["M1"]


class M1(VAE):
    """Kingma et al.'s M1: a :class:`~bayesdl.models.vae.VAE` with their sizes.

    p(z1) = Normal(0, I), p(x|z1) = Bernoulli(decoder(z1)); q(z1|x) Normal.
    Trained on images alone (no labels), it maps an image to a
    ``latent_dim``-dimensional code; the stacked model M1+M2 runs M2 on that
    code. Only the defaults differ from the VAE's: ``latent_dim=50``,
    ``hidden=(500,)`` (an int is one layer) and ``activation="relu"``.

    Example::

        >>> m1 = M1(num_data=60_000)
        >>> m1.latent_dim, m1.hidden
        (50, [500])
    """

    def __init__(
        self,
        num_data: int = 1,
        latent_dim: int = 50,
        hidden: int | Sequence[int] = (500,),
        *,
        activation: str = "relu",
        min_scale: float = 1e-4,
        z_dim: int | None = None,
    ) -> None:
        if z_dim is not None:
            _renamed()
            latent_dim = z_dim
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = (hidden,)
        super().__init__(
            num_data, latent_dim, hidden, activation=activation, min_scale=min_scale
        )

    @property
    def z_dim(self) -> int:
        """Deprecated name of ``latent_dim`` (removed in the next release)."""
        _renamed()
        return self.latent_dim


def _renamed() -> None:
    warnings.warn(
        "M1's z_dim is now latent_dim; the old name goes in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )
