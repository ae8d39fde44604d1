"""Inference: fit_svi (history, NaN guard, module-local parameters) and run_nuts."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
from torch.distributions import constraints

import bayesdl
from bayesdl.infer import DivergenceError, fit_svi, progress_enabled, run_nuts
from bayesdl.models.regression import BayesianLinearRegression


def normal_mean_model(y):
    """A conjugate toy: mu ~ N(0, 1), y_i ~ N(mu, 1)."""
    mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
    with pyro.plate("data", len(y)):
        pyro.sample("obs", dist.Normal(mu, 1.0), obs=y)


def normal_mean_guide(y):
    loc = pyro.param("loc", torch.tensor(0.0))
    scale = pyro.param("scale", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("mu", dist.Normal(loc, scale))


def test_fit_svi_history_and_exact_answer():
    y = torch.full((9,), 2.0)
    result = fit_svi(normal_mean_model, normal_mean_guide, y, num_steps=1500, lr=0.02)
    assert len(result.losses) == result.steps == 1500
    assert result.seconds > 0
    assert result.final_loss < sum(result.losses[:50]) / 50
    # Exact posterior: N(sum(y) / (n + 1), 1 / (n + 1)).
    assert pyro.param("loc").item() == pytest.approx(1.8, abs=0.05)
    assert pyro.param("scale").item() == pytest.approx(math.sqrt(0.1), abs=0.05)


@pytest.mark.parametrize("guide_class", [AutoNormal, AutoMultivariateNormal])
def test_fit_svi_trains_module_local_autoguides(guide_class):
    """bayesdl.setup turns on module_local_params; fit_svi must still train."""
    assert pyro.settings.get("module_local_params")
    x, y = bayesdl.data.toy_regression(n=50, seed=0)
    model = BayesianLinearRegression(prior_scale=10.0, noise_scale=0.5)
    guide = guide_class(model)
    result = fit_svi(model, guide, x - x.mean(), y, num_steps=600, lr=0.1)
    assert result.final_loss < result.losses[0] / 10
    assert len(pyro.get_param_store()) == 0  # parameters stayed in the guide
    median = guide.median()
    assert median["bias"].item() == pytest.approx(y.mean().item(), abs=0.3)


def _bad_after(step: int, value: float):
    """normal_mean_model, plus a log factor that turns to ``value`` at ``step``.

    With the hand-written guide every SVI step runs the model once, so the
    loss goes bad at exactly that step (counting from 0).
    """
    calls = {"n": 0}

    def model(y):
        normal_mean_model(y)
        bad = value if calls["n"] >= step else 0.0
        calls["n"] += 1
        pyro.factor("f", torch.tensor(bad))

    return model


@pytest.mark.filterwarnings("ignore:Encountered NaN:UserWarning")
def test_nan_guard_names_the_step_and_advises():
    # Validation would reject the NaN factor itself; the guard is for the loss.
    pyro.enable_validation(False)
    y = torch.zeros(3)
    with pytest.raises(DivergenceError, match=r"became nan at step 3\b.*learning rate"):
        fit_svi(_bad_after(3, float("nan")), normal_mean_guide, y, num_steps=10)


def test_infinite_loss_is_caught():
    y = torch.zeros(3)
    with pytest.raises(DivergenceError, match=r"became inf at step 2\b"):
        fit_svi(_bad_after(2, -float("inf")), normal_mean_guide, y, num_steps=10)


def test_fit_svi_rejects_bad_arguments():
    y = torch.zeros(3)
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        fit_svi(normal_mean_model, normal_mean_guide, y, num_steps=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        fit_svi(normal_mean_model, normal_mean_guide, y, num_steps=5, lr=-1.0)


def test_progress_follows_environment(monkeypatch):
    monkeypatch.setenv("BAYESDL_PROGRESS", "0")
    assert not progress_enabled()
    monkeypatch.setenv("BAYESDL_PROGRESS", "1")
    assert progress_enabled()


def test_run_nuts_shapes_diagnostics_and_answer():
    y = torch.full((9,), 2.0)
    result = run_nuts(
        normal_mean_model,
        y,
        num_samples=200,
        warmup_steps=100,
        num_chains=2,
        seed=1,
        progress=False,
    )
    assert result.samples["mu"].shape == (2, 200)
    assert result.flat("mu").shape == (400,)
    assert result.rhat["mu"].shape == () and result.ess["mu"].shape == ()
    assert result.max_rhat < 1.05
    assert result.min_ess > 50
    assert result.divergences == 0
    assert result.seconds > 0
    draws = result.flat("mu")
    se = math.sqrt(0.1) / math.sqrt(result.min_ess)
    assert abs(draws.mean().item() - 1.8) < 5 * se
    assert draws.std().item() == pytest.approx(math.sqrt(0.1), rel=0.2)


def test_run_nuts_passes_kernel_and_model_keywords():
    def model(y, scale=1.0):
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Normal(mu, scale).expand([len(y)]).to_event(1), obs=y)

    result = run_nuts(
        model,
        torch.zeros(4),
        scale=0.5,
        full_mass=True,
        num_samples=20,
        warmup_steps=20,
        num_chains=1,
        progress=False,
    )
    assert result.samples["mu"].shape == (1, 20)
    with pytest.raises(ValueError, match="no site 'nu'"):
        result.flat("nu")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_samples": 1, "warmup_steps": 5}, "num_samples must be at least 2"),
        ({"num_samples": 10, "warmup_steps": -1}, "warmup_steps non-negative"),
        (
            {"num_samples": 10, "warmup_steps": 5, "num_chains": 0},
            "num_chains positive",
        ),
        ({"num_samples": 10.0, "warmup_steps": 5}, "num_samples must be an int"),
    ],
)
def test_run_nuts_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_nuts(normal_mean_model, torch.zeros(3), **kwargs)
