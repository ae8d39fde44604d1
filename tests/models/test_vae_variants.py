"""The continuous-Bernoulli VAE and the VAE with a Bayesian decoder head."""

from __future__ import annotations

import pyro
import pytest
import torch

from bayesdl.models.vae import elbo, iwae
from bayesdl.models.vae_variants import BayesianHeadVAE, ContinuousBernoulliVAE


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen)


def test_continuous_bernoulli_elbo_matches_pyros_loss():
    torch.manual_seed(0)
    vae = ContinuousBernoulliVAE(num_data=40, latent_dim=2, hidden=(8,))
    x = _images(10)
    torch.manual_seed(1)
    ours = elbo(vae, x).sum()
    torch.manual_seed(1)
    loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(vae.model, vae.guide, x)
    assert torch.allclose(-loss, ours * 40 / 10, rtol=1e-4)


def test_continuous_bernoulli_log_likelihood_is_a_density_and_mean_differs():
    vae = ContinuousBernoulliVAE(num_data=40, latent_dim=2, hidden=(8,))
    z = torch.randn(3, 2)
    lam = vae.decode(z)
    ll = vae.log_likelihood(z, _images(3))
    expected = torch.distributions.ContinuousBernoulli(probs=lam)
    assert torch.allclose(
        ll, expected.log_prob(_images(3)).flatten(1).sum(-1), atol=1e-3
    )
    mean = vae.mean(z)
    # the mean lies between lambda and 1/2 (away from 1/2, where torch's
    # formula for the mean loses digits in float32)
    away = (lam - 0.5).abs() > 0.01
    assert away.any()
    assert ((mean - 0.5).abs() < (lam - 0.5).abs())[away].all()
    with torch.no_grad():
        assert torch.isfinite(iwae(vae, _images(3), k=4)).all()


def test_bayesian_head_samples_its_weights_once_outside_the_plate():
    vae = BayesianHeadVAE(num_data=1000, latent_dim=2, hidden=(8,))
    x = _images(10)
    trace = pyro.poutine.trace(vae.model).get_trace(x)
    assert trace.nodes["head.weight"]["scale"] == 1.0
    assert trace.nodes["head.weight"]["value"].shape == (784, 8)
    assert trace.nodes["x"]["scale"] == pytest.approx(100.0)
    guide = pyro.poutine.trace(vae.guide).get_trace(x)
    assert {"head.weight", "head.bias", "z"} <= set(guide.nodes)


def test_bayesian_head_loss_has_the_weights_kl_once():
    torch.manual_seed(0)
    vae = BayesianHeadVAE(num_data=50, latent_dim=2, hidden=(8,), init_scale=0.1)
    x = _images(10)
    with torch.no_grad():
        elbo_fn = pyro.infer.TraceMeanField_ELBO(num_particles=50)
        loss = elbo_fn.differentiable_loss(vae.model, vae.guide, x)
        kl = sum(
            torch.distributions.kl_divergence(
                vae.head_guide(n), vae.head_prior(n)
            ).sum()
            for n in ("weight", "bias")
        )
        # the loss minus the weights' KL is the images' part: scaled by N/B,
        # near -(N/B) * the ELBO at the guide's mean weights (small draws)
        images = -elbo(vae, x, num_samples=200).sum() * 50 / 10
    assert abs(float(loss - kl - images)) < 0.05 * abs(float(images))
    assert kl > 0


def test_bayesian_head_draws_and_decode():
    vae = BayesianHeadVAE(num_data=100, latent_dim=2, hidden=(8,), init_scale=0.5)
    z = torch.zeros(3, 2)
    draws = vae.decode_draws(z, 6)
    assert draws.shape == (6, 3, 1, 28, 28)
    assert draws.std(0).mean() > 0
    assert vae.decode(z).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="num_draws"):
        vae.decode_draws(z, 0)
    with pytest.raises(ValueError, match="prior_scale"):
        BayesianHeadVAE(num_data=100, prior_scale=0.0)


@pytest.mark.parametrize("cls", [ContinuousBernoulliVAE, BayesianHeadVAE])
def test_variants_speak_the_vocabulary(cls):
    from bayesdl.models import Classifier, Generative, PyroTrained

    vae = cls(num_data=40, latent_dim=2, hidden=(8,))
    assert isinstance(vae, Generative) and isinstance(vae, PyroTrained)
    assert not isinstance(vae, Classifier)
    x = _images(3)
    loc, _ = vae.encode(x)
    assert not loc.requires_grad
    assert vae.generate(z=loc).shape == vae.generate(3).shape == (3, 1, 28, 28)
    loss = pyro.infer.TraceMeanField_ELBO().loss(vae.model, vae.guide, x, None)
    assert torch.isfinite(torch.tensor(loss))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.validate_batch(x * 2)
