"""Rate and distortion, active units, refined guides, and the ``encoding=`` path."""

from __future__ import annotations

import math

import pytest
import torch

from bayesdl.models import vae_gaps
from bayesdl.models.vae import VAE, elbo, iwae


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen)


def test_rate_plus_distortion_is_minus_the_elbo_at_the_same_draw():
    vae = VAE(num_data=100, latent_dim=3, hidden=(16,))
    x = _images(7)
    with torch.no_grad():
        torch.manual_seed(2)
        rate, distortion = vae_gaps.rate_distortion(vae, x, batch_size=3)
        torch.manual_seed(2)
        reference = elbo(vae, x, batch_size=3)
        loc, scale = vae.encode(x)
    assert torch.allclose(-(rate + distortion), reference)
    q = torch.distributions.Normal(loc, scale)
    p = torch.distributions.Normal(0.0, 1.0)
    closed = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(rate, closed, atol=1e-5)
    assert (rate >= 0).all() and (distortion > 0).all()


class _Encoder:
    """An encoder whose guide mean varies with the image in dimension 0 only."""

    def __init__(self, spread: float) -> None:
        self.spread = spread

    def encode(self, x):
        m = x.flatten(1).mean(1)
        loc = torch.stack([self.spread * (m - 0.5) * 10, torch.zeros_like(m)], -1)
        return loc, torch.ones_like(loc)

    def decode(self, z):
        return torch.full((len(z), 1, 28, 28), 0.5)


def test_active_units_counts_the_dimensions_above_the_threshold():
    x = _images(50)
    variances, active = vae_gaps.active_units(_Encoder(10.0), x)
    assert variances.shape == (2,) and variances[1] == 0
    assert active == int(variances[0] > 0.01) == 1
    _, none = vae_gaps.active_units(_Encoder(10.0), x, threshold=1e6)
    assert none == 0
    with pytest.raises(ValueError, match="at least 2 images"):
        vae_gaps.active_units(_Encoder(10.0), x[:1])


def test_elbo_and_iwae_with_the_encoders_own_encoding_agree():
    vae = VAE(num_data=100, latent_dim=2, hidden=(8,))
    x = _images(9)
    with torch.no_grad():
        loc, scale = vae.encode(x)
        for fn in (
            lambda **kw: elbo(vae, x, batch_size=4, **kw),
            lambda **kw: iwae(vae, x, k=3, batch_size=4, **kw),
        ):
            torch.manual_seed(0)
            a = fn()
            torch.manual_seed(0)
            b = fn(encoding=(loc, scale))
            assert torch.allclose(a, b)


def test_a_bad_encoding_is_refused():
    vae = VAE(num_data=100, latent_dim=2, hidden=(8,))
    x = _images(4)
    loc, scale = vae.encode(x)
    with pytest.raises(ValueError, match="N = 4 images"):
        elbo(vae, x, encoding=(loc[:3], scale[:3]))
    with pytest.raises(ValueError, match="positive"):
        elbo(vae, x, encoding=(loc, -scale))


def test_refining_raises_the_elbo_and_leaves_the_decoder_alone():
    torch.manual_seed(0)
    vae = VAE(num_data=100, latent_dim=2, hidden=(16,))
    x = _images(12)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    torch.manual_seed(1)
    loc, scale = vae_gaps.refine_encoding(vae, x, steps=150, lr=5e-2, num_samples=4)
    assert loc.shape == scale.shape == (12, 2) and (scale > 0).all()
    assert not loc.requires_grad
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())
    assert all(p.requires_grad for p in vae.parameters())
    with torch.no_grad():
        torch.manual_seed(2)
        amortized = elbo(vae, x, num_samples=400)
        refined = elbo(vae, x, num_samples=400, encoding=(loc, scale))
    # the refined guide is better on average, by more than the Monte Carlo error
    diff = refined - amortized
    assert diff.mean() > 3 * diff.std() / math.sqrt(len(diff))


def test_refine_encoding_checks_its_arguments():
    vae = VAE(num_data=100, latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match="steps"):
        vae_gaps.refine_encoding(vae, _images(2), steps=0)
    with pytest.raises(ValueError, match="lr"):
        vae_gaps.refine_encoding(vae, _images(2), lr=-1.0)
