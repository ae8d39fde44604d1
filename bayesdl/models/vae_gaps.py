"""What a trained VAE's ELBO is made of, and how far its guide is from the best.

* :func:`rate_distortion` splits the ELBO of every image into the KL of its
  guide from the prior (the *rate*, in nats) and minus the expected
  log-likelihood (the *distortion*): ``ELBO = -(distortion + rate)``
  (Alemi et al., 2018).
* :func:`active_units` counts the latent dimensions the encoder uses: a
  dimension is *active* when the variance over images of its guide mean,
  ``Cov_x(E_q[z_d])``, exceeds 0.01 (Burda et al., 2016).
* :func:`refine_encoding` optimises each image's own Gaussian guide,
  starting from the encoder's, by gradient ascent on that image's ELBO. The
  ELBO of the refined guide minus the encoder's is the *amortization gap*;
  ``log p(x)`` minus the refined ELBO is the *approximation gap* of the
  diagonal Gaussian family (Cremer, Li and Duvenaud, 2018).

Example::

    rate, distortion = rate_distortion(vae, test_images)
    variances, active = active_units(vae, test_images)
    loc, scale = refine_encoding(vae, test_images[:300], steps=300)
    elbo(vae, test_images[:300], encoding=(loc, scale)).mean()
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import checks
from .evidence import VAELike, _dtype, _log_likelihood, elbo

__all__ = ["active_units", "rate_distortion", "refine_encoding"]


def _kl(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """KL(N(loc, diag scale^2) || N(0, I)) per row, in closed form."""
    return 0.5 * (loc**2 + scale**2 - 1.0 - 2.0 * scale.log()).sum(-1)


def rate_distortion(
    vae: VAELike, x: torch.Tensor, *, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rate (KL, closed form) and distortion (one draw of z) per image.

    Both have shape (N,) and are in nats; ``-(rate + distortion)`` is the
    ELBO that :func:`bayesdl.models.vae.elbo` estimates with the same draw.
    Call it under ``torch.no_grad()``.

    Example::

        with torch.no_grad():
            rate, distortion = rate_distortion(vae, test_images)
    """
    x = checks.images(x, "x", dtype=_dtype(vae))
    batch_size = checks.positive_int("batch_size", batch_size)
    rates, distortions = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        loc, scale = vae.encode(xb)
        z = loc + scale * torch.randn_like(loc)
        rates.append(_kl(loc, scale))
        distortions.append(-_log_likelihood(vae, z, xb))
    return torch.cat(rates), torch.cat(distortions)


def active_units(
    vae: VAELike, x: torch.Tensor, *, threshold: float = 0.01
) -> tuple[torch.Tensor, int]:
    """The variance over ``x`` of each guide mean, and how many exceed ``threshold``.

    Burda et al. (2016) call dimension ``d`` active when
    ``Cov_x(E_{q(z|x)}[z_d]) > 0.01``. Returns the (D,) variances and the
    count. Call it under ``torch.no_grad()``.

    Example::

        with torch.no_grad():
            variances, active = active_units(vae, test_images)
    """
    x = checks.images(x, "x", dtype=_dtype(vae))
    threshold = checks.positive_float("threshold", threshold)
    if len(x) < 2:
        raise ValueError("active_units needs at least 2 images to take a variance.")
    loc = torch.cat([vae.encode(x[i : i + 1000])[0] for i in range(0, len(x), 1000)])
    variances = loc.var(0)
    return variances, int((variances > threshold).sum())


def refine_encoding(
    vae: VAELike,
    x: torch.Tensor,
    *,
    steps: int = 300,
    lr: float = 1e-2,
    num_samples: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's own Gaussian guide, refined from the encoder's by Adam.

    Starting at the encoder's ``(loc, scale)`` for every image of ``x``, all
    images at once (one batch: memory grows as ``len(x) * num_samples``
    decoded images), ``steps`` Adam steps of rate ``lr`` ascend the sum of
    the images' ELBOs, estimated with ``num_samples`` reparameterised draws
    and the closed-form KL; the decoder does not change. Returns the refined
    ``(loc, scale)``, each (N, D), detached, for the ``encoding=`` argument
    of :func:`~bayesdl.models.vae.elbo` and :func:`~bayesdl.models.vae.iwae`.

    Example::

        loc, scale = refine_encoding(vae, test_images[:300], steps=300)
    """
    x = checks.images(x, "x", dtype=_dtype(vae))
    steps = checks.positive_int("steps", steps)
    lr = checks.positive_float("lr", lr)
    num_samples = checks.positive_int("num_samples", num_samples)
    with torch.no_grad():
        loc0, scale0 = vae.encode(x)
    loc = loc0.detach().clone().requires_grad_(True)
    # scale = softplus(raw), started at the encoder's scale
    raw = (scale0.detach().expm1().clamp_min(1e-12).log()).requires_grad_(True)
    params = [p for p in getattr(vae, "parameters", lambda: [])()]
    flags = [p.requires_grad for p in params]
    optim = torch.optim.Adam([loc, raw], lr=lr)
    try:
        for p in params:
            p.requires_grad_(False)
        for _ in range(steps):
            optim.zero_grad()
            scale = F.softplus(raw)
            loss = -elbo(
                vae,
                x,
                num_samples=num_samples,
                batch_size=len(x),
                encoding=(loc, scale),
            ).sum()
            loss.backward()
            optim.step()
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
    return loc.detach(), F.softplus(raw).detach()
