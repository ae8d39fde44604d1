"""Ensembles, MC dropout (bayesdl.models.approx) and the linearised Laplace
(bayesdl.models.laplace)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bayesdl.models.approx import (
    Ensemble,
    MCDropout,
    check_dropout_rate,
    check_ensemble_size,
)
from bayesdl.models.laplace import LaplaceGLM
from bayesdl.recipes.sine_approx import Column, regression_net


def test_ensemble_stacks_its_members():
    nets = [nn.Linear(3, 4) for _ in range(5)]
    x = torch.randn(7, 3)
    probs = Ensemble(nets).predict(x)
    assert probs.shape == (5, 7, 4)
    torch.testing.assert_close(probs.sum(-1), torch.ones(5, 7))
    torch.testing.assert_close(probs[2], nets[2](x).softmax(-1))
    assert Ensemble(nets).predict(x, num_samples=2).shape == (2, 7, 4)


def test_regression_ensemble_returns_function_values():
    nets = [regression_net(8) for _ in range(3)]
    ens = Ensemble(nets, output="regression", sigma=0.1)
    x = torch.linspace(-1, 1, 5)
    f = ens.predict(x)
    assert f.shape == (3, 5) and ens.sigma == 0.1
    torch.testing.assert_close(f[1], nets[1](x).squeeze(-1).detach())


@pytest.mark.parametrize("size", [1, 0, 2.0, True])
def test_ensemble_size_is_checked(size):
    with pytest.raises(ValueError, match="ensemble"):
        check_ensemble_size(size)


def test_ensemble_arguments_are_checked():
    with pytest.raises(ValueError, match="at least 2"):
        Ensemble([nn.Linear(1, 1)])
    with pytest.raises(ValueError, match="output"):
        Ensemble([nn.Linear(1, 1)] * 2, output="logits")
    ens = Ensemble([nn.Linear(1, 1) for _ in range(2)])
    with pytest.raises(ValueError, match="more predictions"):
        ens.predict(torch.randn(3, 1), num_samples=3)
    with pytest.raises(ValueError, match="num_samples"):
        ens.predict(torch.randn(3, 1), num_samples=0)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, True, "0.1"])
def test_dropout_rate_is_checked(rate):
    with pytest.raises(ValueError, match="dropout rate"):
        check_dropout_rate(rate)
    if not isinstance(rate, bool | str):
        with pytest.raises(ValueError, match="dropout rate"):
            regression_net(8, dropout=rate)


def test_mc_dropout_samples_and_restores_the_mode():
    net = regression_net(50, dropout=0.2)
    net.eval()
    mc = MCDropout(net, output="regression", sigma=0.1)
    x = torch.linspace(-2, 2, 9)
    f = mc.predict(x, num_samples=30)
    assert f.shape == (30, 9)
    assert f.std(0).min() > 0  # every pass drops other units
    assert not net.training  # the network's own mode is kept
    with torch.no_grad():
        plain = net(x).squeeze(-1)
    torch.testing.assert_close(net(x).squeeze(-1).detach(), plain)


def test_mc_dropout_needs_dropout():
    with pytest.raises(ValueError, match="nn.Dropout"):
        MCDropout(regression_net(8))
    with pytest.raises(ValueError, match="num_samples"):
        MCDropout(regression_net(8, dropout=0.1)).predict(torch.zeros(2), 0)


def test_laplace_of_a_linear_model_is_the_exact_posterior():
    """For y = w x + b the GGN is the Hessian and the linearisation exact."""
    torch.manual_seed(0)
    x = torch.randn(30)
    y = 0.5 * x + 0.2 + 0.3 * torch.randn(30)
    sigma, prior_scale = 0.3, 2.0
    design = torch.stack([x, torch.ones(30)], -1)
    precision = design.T @ design / sigma**2 + torch.eye(2) / prior_scale**2
    mean = torch.linalg.solve(precision, design.T @ y / sigma**2)
    net = nn.Sequential(Column(), nn.Linear(1, 1))
    with torch.no_grad():
        net[1].weight.fill_(mean[0])
        net[1].bias.fill_(mean[1])
    la = LaplaceGLM(net, x, output="regression", sigma=sigma, prior_scale=prior_scale)
    torch.testing.assert_close(la.precision, precision)
    xs = torch.linspace(-2, 2, 5)
    grid = torch.stack([xs, torch.ones(5)], -1)
    f_mean, f_cov = la.function_moments(xs)
    exact_var = (grid @ torch.linalg.inv(precision) * grid).sum(-1)
    torch.testing.assert_close(f_mean.squeeze(-1), grid @ mean)
    torch.testing.assert_close(f_cov[:, 0, 0], exact_var)
    draws = la.predict(xs, num_samples=20_000)
    assert draws.shape == (20_000, 5)
    torch.testing.assert_close(draws.var(0), exact_var, rtol=0.05, atol=0)


def test_laplace_classifier_and_subset_of_weights():
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.randn(40, 2)
    la = LaplaceGLM(net, x, parameters=["2.weight", "2.bias"])
    assert la.num_parameters == 8 * 3 + 3
    probs = la.predict(x[:5], num_samples=7)
    assert probs.shape == (7, 5, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(7, 5))


def test_laplace_arguments_are_checked():
    net = regression_net(4)
    x = torch.randn(10)
    with pytest.raises(ValueError, match="sigma"):
        LaplaceGLM(net, x, output="regression")
    with pytest.raises(ValueError, match="parameters"):
        LaplaceGLM(net, x, output="regression", sigma=0.1, parameters=["nope"])
    with pytest.raises(ValueError, match="prior_scale"):
        LaplaceGLM(net, x, output="regression", sigma=0.1, prior_scale=0)


def test_every_approximation_is_a_classifier_without_gradients():
    from bayesdl.models import Classifier
    from bayesdl.models.calibration import TemperatureScaled

    nets = [torch.nn.Linear(3, 4) for _ in range(3)]
    drop = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(3, 4))
    x, y = torch.randn(8, 3), torch.randint(0, 4, (8,))
    models = [
        Ensemble(nets),
        MCDropout(drop),
        LaplaceGLM(nets[0], x, y),
        TemperatureScaled(Ensemble(nets), 2.0),
    ]
    for model in models:
        assert isinstance(model, Classifier)
        probs = model.predict(x.requires_grad_(), num_samples=1)
        assert probs.shape == (1, 8, 4) and not probs.requires_grad
        assert probs.device == x.device


def test_mc_dropout_runs_a_lenets_trunk_once_with_the_same_draws():
    from bayesdl.models.bnn import LeNet

    net = LeNet((4, 8), 16, dropout=0.3).eval()
    x = torch.rand(7, 1, 28, 28)
    torch.manual_seed(5)
    fast = MCDropout(net).predict(x, num_samples=6)
    trunk, head = net.dropout_split()
    assert isinstance(head[0], torch.nn.Dropout)
    torch.manual_seed(5)
    # the plain route: the whole network once per pass, dropout on
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.train()
    with torch.no_grad():
        slow = torch.stack([net(x).softmax(-1) for _ in range(6)])
    net.eval()
    torch.testing.assert_close(fast, slow, rtol=0, atol=0)
    assert not net.training
    with pytest.raises(ValueError, match="no dropout layer"):
        LeNet((4, 8), 16).dropout_split()
