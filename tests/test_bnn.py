"""The Bayesian LeNet: ELBO weighting, predictions, learning, bad input."""

from __future__ import annotations

import pyro
import pytest
import torch

import bayesdl
from bayesdl import metrics
from bayesdl.models.bnn import BayesianLeNet, LeNet, fit_bnn, fit_deterministic
from bayesdl.models.layers import kl_divergence


def small_bnn(num_data=1000, **kw):
    return BayesianLeNet(num_data, channels=(4, 8), hidden=16, **kw)


def test_likelihood_is_scaled_to_the_full_data_and_kl_counted_once():
    net = small_bnn(num_data=1000)
    x, y = torch.rand(50, 1, 28, 28), torch.randint(0, 10, (50,))
    trace = pyro.poutine.trace(net).get_trace(x, y)
    trace.compute_log_prob()
    assert trace.nodes["label"]["scale"] == pytest.approx(1000 / 50)
    kl_sites = [n for n in trace.nodes if n.endswith(".kl")]
    assert len(kl_sites) == 4
    assert all(trace.nodes[n]["scale"] == 1.0 for n in kl_sites)
    kl = sum(trace.nodes[n]["log_prob_sum"] for n in kl_sites)
    assert torch.allclose(kl, -kl_divergence(net), rtol=1e-5)


def test_predict_shapes_and_probabilities():
    net = small_bnn()
    probs = net.predict(torch.rand(7, 1, 28, 28), num_samples=3, batch_size=2)
    assert probs.shape == (3, 7, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(3, 7), atol=1e-5)
    assert not torch.allclose(probs[0], probs[1])  # different posterior draws
    assert LeNet((4, 8), 16).predict(torch.rand(5, 1, 28, 28)).shape == (1, 5, 10)


def test_state_dict_round_trip_reproduces_predictions():
    a = small_bnn(init_std=0.05)
    b = small_bnn()
    b.load_state_dict(a.state_dict())
    x = torch.rand(6, 1, 28, 28)
    torch.manual_seed(7)
    pa = a.predict(x, num_samples=4)
    torch.manual_seed(7)
    pb = b.predict(x, num_samples=4)
    assert torch.equal(pa, pb)


@pytest.mark.slow
def test_smoke_size_bnn_learns_well_above_chance():
    images, labels = bayesdl.data.load("mnist", "train")
    x, y = bayesdl.data.subset(images, labels, 2500, seed=0)
    xt, yt = bayesdl.data.subset(*bayesdl.data.load("mnist", "test"), 500, seed=0)
    torch.manual_seed(0)
    net = BayesianLeNet(len(x), init_std=0.01)
    result = fit_bnn(net, x, y, num_epochs=2, lr=3e-3)
    assert result.losses[-1] < result.losses[0]
    acc = metrics.accuracy(net.predict(xt, num_samples=4), yt)
    assert acc > 0.7, acc  # chance is 0.1
    det = LeNet()
    fit_deterministic(det, x, y, num_epochs=1, lr=3e-3)
    assert metrics.accuracy(det.predict(xt), yt) > 0.5


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.rand(3, 28, 28), "shape"),
        (torch.rand(3, 1, 32, 32), "shape"),
        (torch.rand(0, 1, 28, 28), "shape"),
        ((torch.rand(3, 1, 28, 28) * 255).to(torch.uint8), "floating point"),
        (torch.rand(3, 1, 28, 28) * 255, r"\[0, 1\]"),
        (torch.full((3, 1, 28, 28), float("nan")), r"\[0, 1\]"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_predict_rejects_bad_images(images, match):
    with pytest.raises(ValueError, match=match):
        small_bnn().predict(images, num_samples=2)


def test_bad_arguments_raise():
    net = small_bnn(num_data=20)
    x = torch.rand(20, 1, 28, 28)
    with pytest.raises(ValueError, match="num_samples"):
        net.predict(x, num_samples=0)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        fit_bnn(net, x, torch.full((20,), 10), num_epochs=1)
    with pytest.raises(ValueError, match="integer"):
        fit_bnn(net, x, torch.zeros(20), num_epochs=1)
    with pytest.raises(ValueError, match="num_data"):
        fit_bnn(net, x[:10], torch.zeros(10, dtype=torch.long), num_epochs=1)
    with pytest.raises(ValueError, match="prior_scale"):
        small_bnn(prior_scale=0.0)
    with pytest.raises(ValueError, match="num_data"):
        BayesianLeNet(0)
    with pytest.raises(ValueError, match="channels"):
        LeNet(channels=(4,))
