"""Bayesian linear regression: the model, and the closed forms checked against
independent computations."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from pyro.optim.clipped_adam import ClippedAdam
from torch.distributions import MultivariateNormal, kl_divergence

import bayesdl
from bayesdl.models.regression import (
    BayesianLinearRegression,
    analytic_elbo,
    conjugate_posterior,
    conjugate_predictive,
    design_matrix,
    expected_log_likelihood,
    log_evidence,
)


def random_problem(seed: int, n: int = 30, d: int = 2):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen) * 2.0 + 1.0
    w = torch.randn(d, generator=gen)
    y = 0.5 + x @ w + 0.3 * torch.randn(n, generator=gen)
    prior_scale = 0.5 + 3.0 * torch.rand((), generator=gen).item()
    noise_scale = 0.2 + torch.rand((), generator=gen).item()
    return x, y, prior_scale, noise_scale


def joint_gaussian(x, y, prior_scale, noise_scale):
    """Posterior and evidence by conditioning the joint Gaussian of (theta, y).

    An independent route: covariance form, N-by-N solves, no precision matrix.
    """
    X = torch.cat([torch.ones(len(x), 1), x], -1).double()
    k = X.shape[1]
    cov_ty = prior_scale**2 * X.T  # Cov(theta, y)
    cov_yy = (
        noise_scale**2 * torch.eye(len(y), dtype=X.dtype) + prior_scale**2 * X @ X.T
    )
    gain = torch.linalg.solve(cov_yy, cov_ty.T).T
    mean = gain @ y.double()
    cov = prior_scale**2 * torch.eye(k, dtype=X.dtype) - gain @ cov_ty.T
    evidence = MultivariateNormal(torch.zeros(len(y), dtype=X.dtype), cov_yy)
    return mean, cov, evidence.log_prob(y.double())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("d", [1, 3])
def test_posterior_and_evidence_match_joint_gaussian(seed, d):
    x, y, s0, sigma = random_problem(seed, d=d)
    post = conjugate_posterior(x, y, prior_scale=s0, noise_scale=sigma)
    mean, cov, log_z = joint_gaussian(x, y, s0, sigma)
    assert post.mean.dtype == torch.float64
    torch.testing.assert_close(post.mean, mean, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(post.covariance_matrix, cov, rtol=1e-7, atol=1e-10)
    value = log_evidence(x, y, prior_scale=s0, noise_scale=sigma)
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(log_z.item(), rel=1e-10)


def test_one_dimensional_input_is_a_single_feature():
    x, y, s0, sigma = random_problem(0, d=1)
    post_2d = conjugate_posterior(x, y, prior_scale=s0, noise_scale=sigma)
    post_1d = conjugate_posterior(x[:, 0], y, prior_scale=s0, noise_scale=sigma)
    torch.testing.assert_close(post_1d.mean, post_2d.mean)
    assert design_matrix(x[:, 0]).shape == (len(x), 2)


@pytest.mark.parametrize("seed", range(3))
def test_predictive_matches_posterior_draws(seed):
    x, y, s0, sigma = random_problem(seed, d=2)
    x_new = torch.randn(4, 2)
    pred = conjugate_predictive(x_new, x, y, prior_scale=s0, noise_scale=sigma)
    mean, cov, _ = joint_gaussian(x, y, s0, sigma)
    X_new = design_matrix(x_new)
    torch.testing.assert_close(pred.mean, X_new @ mean)
    var = sigma**2 + torch.einsum("mi,ij,mj->m", X_new, cov, X_new)
    torch.testing.assert_close(pred.variance, var, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="x_new has 1 features"):
        conjugate_predictive(torch.randn(4), x, y, prior_scale=s0, noise_scale=sigma)


def random_gaussian(k: int, seed: int) -> MultivariateNormal:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(k, k, generator=gen, dtype=torch.float64)
    return MultivariateNormal(
        torch.randn(k, generator=gen, dtype=torch.float64),
        covariance_matrix=0.01 * (a @ a.T + k * torch.eye(k, dtype=torch.float64)),
    )


@pytest.mark.parametrize("seed", range(5))
def test_elbo_plus_kl_is_log_evidence(seed):
    x, y, s0, sigma = random_problem(seed, d=2)
    post = conjugate_posterior(x, y, prior_scale=s0, noise_scale=sigma)
    log_z = log_evidence(x, y, prior_scale=s0, noise_scale=sigma)
    q = random_gaussian(3, seed)
    elbo = analytic_elbo(q, x, y, prior_scale=s0, noise_scale=sigma)
    gap = elbo + kl_divergence(q, post) - log_z
    assert abs(gap.item()) <= 1e-9 * abs(log_z.item())
    assert elbo < log_z
    at_posterior = analytic_elbo(post, x, y, prior_scale=s0, noise_scale=sigma)
    assert at_posterior.item() == pytest.approx(log_z.item(), rel=1e-10)


def test_expected_log_likelihood_matches_monte_carlo():
    x, y, _, sigma = random_problem(1, d=2)
    q = random_gaussian(3, 1)
    theta = q.sample((20000,))
    mean = theta[:, 0:1] + theta[:, 1:] @ x.double().T
    mc = dist.Normal(mean, sigma).log_prob(y.double()).sum(-1)
    value = expected_log_likelihood(q, x, y, noise_scale=sigma)
    assert abs(value.item() - mc.mean().item()) < 4 * mc.std().item() / math.sqrt(
        len(mc)
    )


def test_analytic_elbo_is_differentiable():
    x, y, s0, sigma = random_problem(2, d=1)
    loc = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    q = MultivariateNormal(loc, scale_tril=0.1 * torch.eye(2, dtype=torch.float64))
    analytic_elbo(q, x, y, prior_scale=s0, noise_scale=sigma).backward()
    assert loc.grad is not None and torch.isfinite(loc.grad).all()


def test_model_log_joint_matches_hand_computation():
    x, y, s0, _ = random_problem(3, d=2)
    model = BayesianLinearRegression(2, prior_scale=s0, noise_prior_scale=0.7)
    values = {
        "bias": torch.tensor(0.3),
        "weight": torch.tensor([0.5, -1.0]),
        "sigma": torch.tensor(0.4),
    }
    conditioned = pyro.poutine.condition(model, data=values)
    trace = pyro.poutine.trace(conditioned).get_trace(x, y)
    expected = (
        dist.Normal(0.0, s0).log_prob(values["bias"])
        + dist.Normal(0.0, s0).log_prob(values["weight"]).sum()
        + dist.HalfNormal(0.7).log_prob(values["sigma"])
        + dist.Normal(0.3 + x @ values["weight"], 0.4).log_prob(y).sum()
    )
    torch.testing.assert_close(trace.log_prob_sum(), expected)


def test_known_noise_has_no_sigma_site_and_follows_dtype():
    x, y, *_ = random_problem(4, d=1)
    model = BayesianLinearRegression(noise_scale=0.5).double()
    trace = pyro.poutine.trace(model).get_trace(x[:, 0].double(), y.double())
    assert "sigma" not in trace.nodes
    assert trace.nodes["obs"]["fn"].scale.dtype == torch.float64
    assert trace.nodes["bias"]["value"].dtype == torch.float64


@pytest.mark.parametrize("guide_class", [AutoNormal, AutoMultivariateNormal])
def test_model_takes_batched_draws(guide_class):
    x, y = bayesdl.data.toy_regression(n=20, seed=0)
    model = BayesianLinearRegression()
    guide = guide_class(model)
    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=1)
    assert math.isfinite(elbo.loss(model, guide, x, y))
    draws = Predictive(model, guide=guide, num_samples=7, parallel=True)(x[:5])
    assert draws["obs"].shape == (7, 5)


def test_svi_recovers_exact_posterior():
    x, y = bayesdl.data.toy_regression(n=100, seed=0)
    xc = x - x.mean()
    model = BayesianLinearRegression(prior_scale=10.0, noise_scale=0.5)
    guide = AutoMultivariateNormal(model)
    steps = 1500
    bayesdl.infer.fit_svi(
        model,
        guide,
        xc,
        y,
        num_steps=steps,
        lr=0.1,
        final_lr=1e-4,
        optimizer=ClippedAdam,
        loss=Trace_ELBO(num_particles=8, vectorize_particles=True, max_plate_nesting=1),
    )
    exact = conjugate_posterior(xc, y, prior_scale=10.0, noise_scale=0.5)
    q = guide.get_posterior()
    mean_err = ((q.mean.double() - exact.mean) / exact.stddev).abs().max()
    sd_ratio = q.stddev.double() / exact.stddev
    assert mean_err < 0.1
    assert ((sd_ratio - 1).abs() < 0.1).all(), sd_ratio


# Bad input: a ValueError that names the argument and the problem.


def test_mismatched_lengths():
    x, y = torch.randn(10), torch.randn(9)
    with pytest.raises(ValueError, match="y has 9 entries but x has 10"):
        conjugate_posterior(x, y, prior_scale=1.0, noise_scale=1.0)
    with pytest.raises(ValueError, match="y has 9 entries but x has 10"):
        BayesianLinearRegression()(x, y)
    with pytest.raises(ValueError, match="y has 9 entries"):
        log_evidence(x, y, prior_scale=1.0, noise_scale=1.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "1", True])
def test_non_positive_scales(bad):
    x, y = torch.randn(10), torch.randn(10)
    for name in ("prior_scale", "noise_scale", "noise_prior_scale"):
        with pytest.raises(ValueError, match=f"{name} must be a positive finite"):
            BayesianLinearRegression(**{name: bad})
    with pytest.raises(ValueError, match="prior_scale must be a positive"):
        conjugate_posterior(x, y, prior_scale=bad, noise_scale=1.0)
    with pytest.raises(ValueError, match="noise_scale must be a positive"):
        log_evidence(x, y, prior_scale=1.0, noise_scale=bad)
    with pytest.raises(ValueError, match="noise_scale must be a positive"):
        expected_log_likelihood(random_gaussian(2, 0), x, y, noise_scale=bad)


@pytest.mark.parametrize("where", ["x", "y"])
def test_nan_in_data(where):
    x, y = torch.randn(10), torch.randn(10)
    (x if where == "x" else y)[3] = float("nan")
    with pytest.raises(ValueError, match=f"{where} contains NaN"):
        conjugate_posterior(x, y, prior_scale=1.0, noise_scale=1.0)
    with pytest.raises(ValueError, match=f"{where} contains NaN"):
        BayesianLinearRegression()(x, y)


def test_wrong_shapes_and_arguments():
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        BayesianLinearRegression(0)
    model = BayesianLinearRegression(2)
    with pytest.raises(
        ValueError, match="x has 1 features per row but the model expects 2"
    ):
        model(torch.randn(5), torch.randn(5))
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)"):
        conjugate_posterior(
            torch.randn(5), torch.randn(5, 1), prior_scale=1.0, noise_scale=1.0
        )
    with pytest.raises(
        ValueError, match="q must be a single MultivariateNormal over 2"
    ):
        analytic_elbo(
            random_gaussian(3, 0),
            torch.randn(5),
            torch.randn(5),
            prior_scale=1.0,
            noise_scale=1.0,
        )


def test_empty_data_is_refused_clearly():
    empty = torch.zeros(0)
    with pytest.raises(ValueError, match="x must hold at least one row"):
        BayesianLinearRegression()(empty, empty)
    with pytest.raises(ValueError, match="x must hold at least one row"):
        conjugate_posterior(empty, empty, prior_scale=1.0, noise_scale=1.0)
    with pytest.raises(ValueError, match="x must hold at least one row"):
        log_evidence(empty, empty, prior_scale=1.0, noise_scale=1.0)


def test_the_model_speaks_the_vocabulary_and_checks_its_first_data():
    from bayesdl.models import PyroTrained

    model = BayesianLinearRegression(2, noise_scale=0.5)
    assert not isinstance(model, PyroTrained)  # its guide is an autoguide
    x, y = torch.randn(6, 2), torch.randn(6)
    trace = pyro.poutine.trace(model.model).get_trace(x, y=y)
    assert trace.nodes["obs"]["value"] is y
    assert not model._forward_pre_hooks  # checked once, on the first call
    fresh = BayesianLinearRegression(2)
    with pytest.raises(ValueError, match="y has 5 entries but x has 6"):
        fresh(x, y=torch.randn(5))
