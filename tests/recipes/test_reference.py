"""The sine network's reference posterior and its approximations
(bayesdl.recipes.sine_reference, bayesdl.recipes.sine_approx)."""

from __future__ import annotations

import dataclasses

import pyro
import pytest
import torch

import bayesdl
from bayesdl.recipes import sine_approx as sa
from bayesdl.recipes import sine_reference as ref


def _weights(hidden=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = {k: torch.randn(hidden, generator=gen) for k in ("w1", "b1", "w2")}
    return {**w, "b2": torch.randn((), generator=gen), "sigma": torch.tensor(0.3)}


def test_pyro_and_numpyro_programs_have_the_same_density():
    """The two syntaxes are one model: equal log joints at the same weights."""
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    x, y = ref.sine_data(20)
    w = _weights()
    model = ref.SineBNN(hidden=6, prior_scale=0.7, sigma_scale=0.5)
    conditioned = pyro.poutine.condition(model, data=w)
    pyro_lp = pyro.poutine.trace(conditioned).get_trace(x, y).log_prob_sum()
    jax_lp, _ = log_density(
        ref.sine_bnn_numpyro,
        (jnp.asarray(x.numpy()), jnp.asarray(y.numpy())),
        {"hidden": 6, "prior_scale": 0.7, "sigma_scale": 0.5},
        {k: jnp.asarray(v.numpy()) for k, v in w.items()},
    )
    assert abs(float(pyro_lp) - float(jax_lp)) < 1e-3 * abs(float(pyro_lp))


def test_network_function_is_the_models_mean():
    x = torch.linspace(-3, 3, 7)
    w = _weights()
    f = pyro.poutine.condition(ref.SineBNN(hidden=6), data=w)(x)
    batched = {k: v.unsqueeze(0).expand(2, *v.shape) for k, v in w.items()}
    torch.testing.assert_close(ref.network_function(batched, x)[1], f)


def test_fit_map_regression_learns_the_noise():
    x, y = ref.sine_data(100)
    torch.manual_seed(0)
    net = sa.regression_net(20)
    sigma, seconds = sa.fit_map_regression(net, x, y, num_steps=1500, lr=0.02)
    assert 0.05 < sigma < 0.3 and seconds > 0
    with pytest.raises(ValueError, match="num_steps"):
        sa.fit_map_regression(net, x, y, num_steps=0)


@pytest.mark.slow
def test_nuts_sine_is_cached_and_predicts(smoke):
    x = torch.linspace(-5, 5, 11)
    first = bayesdl.zoo.nuts_sine()
    s = ref.nuts_settings()
    chains, draws = s.num_chains, s.num_samples
    assert first.samples["w1"].shape == (chains, draws, s.hidden)
    assert first.samples["sigma"].shape == (chains, draws)
    assert first.function_draws(x).shape == (chains, draws, 11)
    assert first.predict(x).shape == (chains * draws, 11)
    assert first.predict(x, num_samples=10).shape == (10, 11)
    assert first.sigma > 0 and first.seconds > 0
    path = bayesdl.cache.entry_path(
        "nuts_sine", dataclasses.asdict(s), 0, [ref, bayesdl.infer.numpyro_nuts]
    )
    assert path.is_file()
    again = bayesdl.zoo.nuts_sine()
    assert torch.equal(first.samples["w1"], again.samples["w1"])
    assert again.seconds == first.seconds  # loaded, not sampled again
    assert "nuts_sine" in bayesdl.zoo.REGISTRY


def test_nuts_sine_arguments_are_checked(smoke):
    with pytest.raises(ValueError, match="unknown settings"):
        bayesdl.zoo.nuts_sine(widht=3)
    with pytest.raises(ValueError, match="seed"):
        bayesdl.zoo.nuts_sine(seed=-1)
    post = ref.NutsPosterior(
        {k: v.expand(2, 3, *v.shape) for k, v in _weights().items()}, 1.0, 0
    )
    with pytest.raises(ValueError, match="num_samples"):
        post.predict(torch.zeros(2), num_samples=7)


def test_sd_profile_separates_the_function_from_the_noise():
    f = torch.randn(500, 7, generator=torch.Generator().manual_seed(0))
    mean, f_sd, y_sd = sa.sd_profile(f, 0.3)
    m2, y2 = bayesdl.metrics.predictive_moments(f, 0.3)
    torch.testing.assert_close(mean, m2)
    torch.testing.assert_close(y_sd, y2)  # the same predictive as the metrics
    torch.testing.assert_close(y_sd**2, f_sd**2 + 0.09)


def test_region_masks_are_the_chapters_regions():
    x = torch.tensor([-4.5, -2.0, -0.75, 0.25, 1.0, 3.5, 4.0])
    masks = sa.region_masks(x)
    assert x[masks["data"]].tolist() == [-2.0, 1.0]
    assert x[masks["gap"]].tolist() == [0.25]
    assert x[masks["beyond"]].tolist() == [-4.5, 4.0]


def test_validation_split_is_a_partition():
    x, y = torch.arange(100.0), torch.arange(100.0) * 2
    (xf, yf), (xv, yv) = sa.validation_split(x, y, fraction=0.2, seed=3)
    assert len(xv) == 20 and len(xf) == 80
    assert sorted(torch.cat([xf, xv]).tolist()) == x.tolist()
    torch.testing.assert_close(yv, xv * 2)  # pairs stay together
    with pytest.raises(ValueError, match="fraction"):
        sa.validation_split(x[:3], y[:3], fraction=0.01)


def test_fit_maps_trains_disjoint_members(smoke):
    x, y = ref.sine_data(50)
    first = sa.fit_maps(x, y, seed=0, size=2)
    second = sa.fit_maps(x, y, seed=1, size=2)
    again = sa.fit_maps(x, y, seed=0, size=2)
    assert len(first) == 2 and all(m.sigma > 0 and m.seconds > 0 for m in first)
    w = [m.net[1].weight for m in (*first, *second)]
    assert not any(torch.equal(a, b) for i, a in enumerate(w) for b in w[i + 1 :])
    torch.testing.assert_close(again[1].net[1].weight, first[1].net[1].weight)
    [drop] = sa.fit_maps(x, y, dropout=0.2, size=1)
    assert any(isinstance(layer, torch.nn.Dropout) for layer in drop.net)


def test_fit_guide_returns_a_posterior_and_its_elbo_record(smoke):
    from pyro.infer.autoguide import AutoNormal

    x, y = ref.sine_data(30)
    settings = dataclasses.replace(sa.approx_settings(), svi_steps=20)
    post, fit = sa.fit_guide(AutoNormal, x, y, lr=0.01, seed=1, settings=settings)
    assert len(fit.losses) == 20 and fit.seconds > 0
    assert post.predict(torch.linspace(-1, 1, 4), num_samples=6).shape == (6, 4)
    assert post.sigma > 0
    again, refit = sa.fit_guide(AutoNormal, x, y, lr=0.01, seed=1, settings=settings)
    assert refit.losses == fit.losses  # the seed fixes the run
