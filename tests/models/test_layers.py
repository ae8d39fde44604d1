"""Bayesian layers: priors follow .to(), KL in closed form, state dicts, bad input."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from bayesdl.models.layers import (
    BayesianConv2d,
    BayesianLayer,
    BayesianLinear,
    kl_divergence,
)


# Factories, not instances: a PyroModule must be built after bayesdl.setup()
# (which turns on module-local parameters), i.e. inside the test.
@pytest.mark.parametrize(
    "make",
    [lambda: BayesianLinear(6, 3), lambda: BayesianConv2d(2, 4, 3)],
    ids=["linear", "conv"],
)
def test_prior_and_posterior_follow_to_float64(make):
    layer = make().to(torch.float64)
    assert layer.prior_scale.dtype == torch.float64
    assert layer.prior_loc.dtype == torch.float64
    assert layer.prior().sample().dtype == torch.float64
    assert layer.posterior().loc.dtype == torch.float64
    assert layer.kl_divergence().dtype == torch.float64
    x = torch.rand(5, 6, dtype=torch.float64)
    if isinstance(layer, BayesianConv2d):
        x = torch.rand(5, 2, 7, 7, dtype=torch.float64)
    assert layer(x).dtype == torch.float64


def test_prior_scale_is_a_buffer_in_the_state_dict():
    layer = BayesianLinear(3, 2, prior_scale=0.5)
    state = layer.state_dict()
    assert float(state["prior_scale"]) == 0.5
    assert "weight_loc" in "".join(state)  # PyroParams are stored unconstrained


def test_kl_matches_torch_distributions():
    layer = BayesianLinear(4, 3, prior_scale=0.7, prior_loc=0.1, init_std=0.05)
    expected = sum(
        torch.distributions.kl_divergence(layer.posterior(n), layer.prior(n)).sum()
        for n in ("weight", "bias")
    )
    assert torch.allclose(layer.kl_divergence(), expected, rtol=1e-5)
    net = nn.Sequential(layer, nn.ReLU(), BayesianConv2d(1, 2, 3, bias=False))
    conv = net[2]
    total = layer.kl_divergence() + conv.kl_divergence()
    assert torch.allclose(kl_divergence(net), total)


def test_local_reparameterization_has_the_right_moments():
    torch.manual_seed(0)
    layer = BayesianLinear(5, 2, init_std=0.3)
    x = torch.randn(1, 5)
    with torch.no_grad():
        out = layer(x.expand(20000, 5))
        w_mean = layer.weight_loc @ x[0] + layer.bias_loc
        w_var = layer.weight_scale**2 @ x[0] ** 2 + layer.bias_scale**2
    assert torch.allclose(out.mean(0), w_mean, atol=0.02)
    assert torch.allclose(out.var(0), w_var, rtol=0.05)
    # Sampling a weight matrix instead gives the same distribution per input.
    layer.local_reparameterization = False
    with torch.no_grad():
        draws = torch.stack([layer(x)[0] for _ in range(4000)])
    assert torch.allclose(draws.mean(0), w_mean, atol=0.05)
    assert torch.allclose(draws.var(0), w_var, rtol=0.1)


def test_kl_is_a_factor_only_inside_pyro():
    net = pyro.nn.PyroModule[nn.Sequential](BayesianLinear(4, 3), BayesianLinear(3, 2))
    trace = pyro.poutine.trace(net).get_trace(torch.rand(2, 4))
    kl_sites = [n for n, s in trace.nodes.items() if s["type"] == "sample"]
    assert kl_sites == ["0.kl", "1.kl"]
    assert torch.allclose(trace.log_prob_sum(), -kl_divergence(net), rtol=1e-5)
    assert net(torch.rand(2, 4)).shape == (2, 2)  # plain call: no Pyro needed


def test_state_dict_round_trip_reproduces_predictions():
    a = BayesianConv2d(1, 3, 3, init_std=0.1)
    with torch.no_grad():
        a.weight_loc.add_(1.0)  # something not at its initial value
    b = BayesianConv2d(1, 3, 3, init_std=0.1)
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 1, 8, 8)
    torch.manual_seed(3)
    ya = a(x)
    torch.manual_seed(3)
    yb = b(x)
    assert torch.equal(ya, yb)


def test_svi_moves_the_posterior():
    layer = BayesianLinear(2, 1, prior_scale=1.0, init_std=0.1)
    x = torch.randn(64, 2)
    y = x @ torch.tensor([2.0, -1.0]) + 0.1 * torch.randn(64)

    def model(x, y):
        mean = layer(x).squeeze(-1)
        with pyro.plate("data", len(x)):
            pyro.sample("y", dist.Normal(mean, 0.1), obs=y)

    svi = pyro.infer.SVI(
        model, lambda x, y: None, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO()
    )
    for _ in range(300):
        svi.step(x, y)
    assert torch.allclose(
        layer.weight_loc.detach(), torch.tensor([[2.0, -1.0]]), atol=0.1
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prior_scale": 0.0}, "prior_scale"),
        ({"prior_scale": -1.0}, "prior_scale"),
        ({"prior_scale": float("nan")}, "prior_scale"),
        ({"prior_scale": "1"}, "prior_scale"),
        ({"init_std": 0}, "init_std"),
        ({"prior_loc": float("inf")}, "prior_loc"),
    ],
)
def test_bad_prior_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BayesianLinear(3, 2, **kwargs)
    with pytest.raises(ValueError, match=match):
        BayesianConv2d(1, 2, 3, **kwargs)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="in_features"):
        BayesianLinear(0, 2)
    with pytest.raises(ValueError, match="kernel_size"):
        BayesianConv2d(1, 2, 0)
    with pytest.raises(ValueError, match="padding"):
        BayesianConv2d(1, 2, 3, padding=-1)
    with pytest.raises(ValueError, match="no parameter"):
        BayesianLinear(3, 2, bias=False).prior("bias")


def test_eval_mode_draws_one_network_per_call():
    layer = BayesianLinear(4, 3, init_std=0.5)
    x = torch.rand(1, 4).expand(6, 4)
    train_out = layer(x)  # local reparameterization: a draw per example
    assert not torch.allclose(train_out[0], train_out[1])
    layer.eval()
    with torch.no_grad():
        a, b = layer(x), layer(x)
    assert torch.allclose(a, a[:1].expand_as(a))  # one weight draw per call
    assert not torch.allclose(a, b)  # a new network at every call


def test_bare_base_class_says_what_is_missing():
    bare = BayesianLayer(1.0, 0.0, 1e-3, True)
    for use in (
        lambda: bare(torch.zeros(2, 3)),
        bare.kl_divergence,
        bare.prior,
        bare.posterior,
    ):
        with pytest.raises(TypeError, match="BayesianLayer is a base class"):
            use()
