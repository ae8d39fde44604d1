"""NumPyro's NUTS (bayesdl.infer.run_numpyro_nuts): exact on a conjugate model."""

from __future__ import annotations

import math

import pytest
import torch

from bayesdl import infer


def linear_numpyro(x, y=None, noise=0.5):
    """A one-layer network y = w x + b, N(0, 1) weights, the noise fixed."""
    import numpyro
    import numpyro.distributions as nd

    w = numpyro.sample("w", nd.Normal(0.0, 1.0))
    b = numpyro.sample("b", nd.Normal(0.0, 1.0))
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", nd.Normal(w * x + b, noise), obs=y)


def linear_pyro(x, y=None, noise=0.5):
    """The same model in Pyro."""
    import pyro
    import pyro.distributions as dist

    w = pyro.sample("w", dist.Normal(0.0, 1.0))
    b = pyro.sample("b", dist.Normal(0.0, 1.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("y", dist.Normal(w * x + b, noise), obs=y)


def exact_posterior(x, y, noise=0.5):
    """The Gaussian posterior of (w, b): mean and covariance."""
    design = torch.stack([x, torch.ones_like(x)], -1).double()
    precision = design.T @ design / noise**2 + torch.eye(2, dtype=torch.float64)
    cov = torch.linalg.inv(precision)
    mean = cov @ design.T @ y.double() / noise**2
    return mean, cov


@pytest.fixture
def linear_data():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(20, generator=gen)
    return x, 0.7 * x - 0.3 + 0.5 * torch.randn(20, generator=gen)


def _check_against_exact(result, mean, cov):
    for i, site in enumerate(("w", "b")):
        draws = result.flat(site).double()
        sd = math.sqrt(cov[i, i])
        ess = float(result.ess[site])
        # the mean within 4 Monte Carlo standard errors, the sd within 15%
        assert abs(draws.mean() - mean[i]) < 4 * sd / math.sqrt(ess), site
        assert abs(draws.std() / sd - 1) < 0.15, site


@pytest.mark.slow
def test_numpyro_nuts_matches_the_exact_posterior(linear_data):
    x, y = linear_data
    result = infer.run_numpyro_nuts(
        linear_numpyro, x, y, num_samples=500, warmup_steps=300, num_chains=2
    )
    assert result.samples["w"].shape == (2, 500)
    assert result.max_rhat < 1.05 and result.min_ess > 100
    assert result.divergences == 0 and result.seconds > 0
    _check_against_exact(result, *exact_posterior(x, y))


@pytest.mark.slow
def test_pyro_and_numpyro_agree_on_the_same_model(linear_data):
    x, y = linear_data
    mean, cov = exact_posterior(x, y)
    pyro_result = infer.run_nuts(
        linear_pyro, x, y, num_samples=300, warmup_steps=200, num_chains=2
    )
    _check_against_exact(pyro_result, mean, cov)


def test_chains_start_apart_and_the_seed_repeats(linear_data):
    x, y = linear_data
    kwargs = dict(num_samples=5, warmup_steps=5, num_chains=3)
    a = infer.run_numpyro_nuts(linear_numpyro, x, y, seed=1, **kwargs)
    b = infer.run_numpyro_nuts(linear_numpyro, x, y, seed=1, **kwargs)
    assert torch.equal(a.samples["w"], b.samples["w"])
    first = a.samples["w"][:, 0]
    assert len(set(first.tolist())) == 3  # three different chains


@pytest.mark.parametrize(
    "bad",
    [
        {"num_chains": 0},
        {"num_chains": 1.5},
        {"num_samples": 1},
        {"num_samples": True},
        {"warmup_steps": -1},
        {"seed": -1},
        {"max_tree_depth": 0},
        {"target_accept_prob": 1.0},
    ],
)
def test_argument_checks(bad, linear_data):
    kwargs = {"num_samples": 10, "warmup_steps": 10, "num_chains": 2, **bad}
    with pytest.raises(ValueError):
        infer.run_numpyro_nuts(linear_numpyro, *linear_data, **kwargs)


def test_a_model_without_latent_sites_is_refused(linear_data):
    import numpyro
    import numpyro.distributions as nd

    def observed_only(x, y):
        numpyro.sample("y", nd.Normal(0.0, 1.0).expand([len(x)]), obs=y)

    with pytest.raises(ValueError, match="no latent"):
        infer.run_numpyro_nuts(
            observed_only, *linear_data, num_samples=5, warmup_steps=5
        )
