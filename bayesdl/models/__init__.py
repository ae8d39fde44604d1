"""The book's models, and the one vocabulary every one of them speaks.

Three small protocols name what a model can be asked, whatever the chapter
that trains it:

- :class:`PyroTrained`: a module trained by SVI has ``model(x, y=None)`` and
  ``guide(x, y=None)``, the pair that :func:`bayesdl.infer.fit_svi` and
  :class:`pyro.infer.Predictive` take;
- :class:`Classifier`: ``predict(x, num_samples=S)`` returns class
  probabilities of shape (S, N, C), one slice per posterior draw, with S = 1
  for a point estimate;
- :class:`Generative`: ``encode(x, y=None)`` returns the ``(loc, scale)`` of
  q(z | x), ``decode(z, y=None)`` the mean image of p(x | z), and
  ``generate(n=None, *, y=None, z=None, generator=None)`` new images.

The names are the same everywhere: ``x`` the inputs, ``y`` the labels,
``latent_dim`` the width of z, ``hidden`` a hidden width, ``num_samples`` a
number of posterior draws. The methods a reader calls (``predict``,
``encode``, ``decode``, ``generate``) run without gradients, move their input
to the module's device, and return on the input's device.

The protocols are checked at run time, so a test (or a reader) can ask
``isinstance(net, Classifier)``::

    >>> from bayesdl.models import Classifier, Generative, PyroTrained
    >>> from bayesdl.models.bnn import LeNet
    >>> isinstance(LeNet(), Classifier), isinstance(LeNet(), Generative)
    (True, False)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["Classifier", "Generative", "PyroTrained"]


@runtime_checkable
class PyroTrained(Protocol):
    """A module trained by SVI: a Pyro model and its guide."""

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None): ...

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None): ...


@runtime_checkable
class Classifier(Protocol):
    """A classifier: (S, N, C) class probabilities, S draws of its posterior."""

    def predict(self, x: torch.Tensor, num_samples: int = ...) -> torch.Tensor: ...


@runtime_checkable
class Generative(Protocol):
    """A latent-variable model of images: an encoder, a decoder, a sampler."""

    latent_dim: int

    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode(
        self, z: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor: ...

    def generate(
        self,
        n: int | None = None,
        *,
        y: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...
