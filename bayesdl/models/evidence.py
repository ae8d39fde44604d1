"""Estimators of a VAE's evidence: the ELBO and the importance-weighted bound.

:func:`elbo` and :func:`iwae` score images under any object with an encoder
and a decoder (:class:`VAELike`: the book's :class:`~bayesdl.models.vae.VAE`,
its variants, or a reader's own); the prior is always the standard normal.
:func:`bernoulli_log_likelihood` is the pixels' log-likelihood they share.

Example::

    with torch.no_grad():
        elbo(vae, test_images).mean(), iwae(vae, test_images, k=64).mean()
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from .. import checks

__all__ = ["VAELike", "bernoulli_log_likelihood", "elbo", "iwae"]


class VAELike(Protocol):
    """What :func:`elbo` and :func:`iwae` need: an encoder and a decoder."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


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


def _encoding(loc: object, scale: object, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loc, scale)`` if each is a tensor of shape (n, D); else an error."""
    ok = isinstance(loc, torch.Tensor) and isinstance(scale, torch.Tensor)
    if not ok or loc.ndim != 2 or loc.shape != scale.shape or len(loc) != n:
        raise ValueError(
            f"vae.encode(x) must return (loc, scale), each of shape (N, D) with "
            f"N = {n} images."
        )
    return loc, scale


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
    """``encode(start, xb)``: the encoder's, or rows of a given ``(loc, scale)``.

    Either way the ``(loc, scale)`` it returns have been checked for shape.
    """
    if encoding is None:
        # A VAE's own differentiable encoder (its encode is for readers and
        # runs without gradients), else the object's encode.
        encode = getattr(vae, "_encode", None) or vae.encode
        return lambda start, xb: _encoding(*encode(xb), len(xb))
    loc, scale = encoding
    loc, scale = _encoding(loc, scale, len(x))
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
        q = dist.Normal(loc, scale).to_event(1)
        z = q.rsample((k,))  # (k, B, D)
        log_prior = -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
        xs = xb.expand(k, *xb.shape).reshape(-1, *xb.shape[1:])
        ll = _log_likelihood(vae, z.reshape(-1, z.shape[-1]), xs)
        log_w = ll.view(k, -1) + log_prior - q.log_prob(z)
        return torch.logsumexp(log_w, dim=0) - math.log(k)

    # iwae-end

    return _batched(one, x, batch_size)
