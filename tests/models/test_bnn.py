"""The Bayesian LeNet: ELBO weighting, predictions, learning, bad input."""

from __future__ import annotations

import inspect

import pyro
import pytest
import torch

import bayesdl
from bayesdl import metrics
from bayesdl.infer import fit_classifier, fit_svi
from bayesdl.models.bnn import BayesianLeNet, LeNet
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
    result = fit_svi(
        net,
        net.guide,
        data=(x, y),
        batch_size=128,
        num_epochs=2,
        lr=3e-3,
        final_lr=3e-4,
    )
    assert result.losses[-1] < result.losses[0]
    acc = metrics.accuracy(net.predict(xt, num_samples=4), yt)
    assert acc > 0.7, acc  # chance is 0.1
    det = LeNet()
    fit_classifier(det, x, y, num_epochs=1, lr=3e-3)
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
        net(x, torch.full((20,), 10))
    with pytest.raises(ValueError, match="integer"):
        net(x, torch.zeros(20))
    with pytest.raises(ValueError, match="num_data"):
        small_bnn(num_data=10)(x, torch.zeros(20, dtype=torch.long))
    with pytest.raises(ValueError, match="prior_scale"):
        small_bnn(prior_scale=0.0)
    with pytest.raises(ValueError, match="num_data"):
        BayesianLeNet(0)
    with pytest.raises(ValueError, match="channels"):
        LeNet(channels=(4,))


# The plain Pyro route: PyroSample priors, AutoNormal, TraceMeanField_ELBO.


def small_pyro_net(num_data=1000, **kw):
    from bayesdl.models.pyro_lenet import PyroLeNet

    return PyroLeNet(num_data, channels=(4, 8), hidden=16, **kw)


def autonormal(net):
    from pyro.infer.autoguide import AutoNormal, init_to_value

    return AutoNormal(
        net, init_loc_fn=init_to_value(values=net.initial_values()), init_scale=0.01
    )


def test_pyro_lenet_sites_priors_and_real_subsample_indices():
    net = small_pyro_net(num_data=1000, prior_scale=0.1)
    x, y = torch.rand(50, 1, 28, 28), torch.randint(0, 10, (50,))
    index = torch.arange(100, 150)
    trace = pyro.poutine.trace(net).get_trace(x, y, index)
    weights = [n for n, s in trace.nodes.items() if n.startswith("layers.")]
    assert weights == [
        f"layers.{i}.{p}" for i in (0, 3, 7, 9) for p in ("weight", "bias")
    ]
    prior = trace.nodes["layers.7.weight"]["fn"]
    assert float(prior.base_dist.scale.max()) == pytest.approx(0.1)
    assert trace.nodes["label"]["scale"] == pytest.approx(1000 / 50)
    assert torch.equal(trace.nodes["data"]["value"], index)
    # initial values: torch's default initialisation, not zeros
    init = net.initial_values()
    assert set(init) == set(weights)
    assert float(init["layers.0.weight"].abs().max()) > 0


def test_pyro_lenet_prior_follows_dtype():
    net = small_pyro_net().to(torch.float64)
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    trace = pyro.poutine.trace(net).get_trace(x)
    assert trace.nodes["layers.0.weight"]["value"].dtype == torch.float64
    assert net.initial_values()["layers.0.weight"].dtype == torch.float64


def test_pyro_lenet_refuses_unscaled_batches_and_bad_arguments():
    from bayesdl.models.pyro_lenet import PyroLeNet

    net = small_pyro_net(num_data=1000)
    with pytest.raises(ValueError, match="index"):
        net(torch.rand(5, 1, 28, 28), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="num_data"):
        PyroLeNet(0)
    with pytest.raises(ValueError, match="prior_scale"):
        PyroLeNet(10, prior_scale=-1.0)
    with pytest.raises(ValueError, match="num_samples"):
        net.predict(torch.rand(2, 1, 28, 28), num_samples=0, guide=autonormal(net))


def test_pyro_lenet_predict_shapes():
    net = small_pyro_net()
    guide = autonormal(net)
    with pytest.raises(ValueError, match="has not run yet"):
        net.predict(torch.rand(2, 1, 28, 28), guide=guide)
    guide(torch.rand(3, 1, 28, 28), torch.tensor([1, 2, 3]), torch.arange(3))
    probs = net.predict(
        torch.rand(7, 1, 28, 28), num_samples=3, guide=guide, batch_size=4
    )
    assert probs.shape == (3, 7, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(3, 7), atol=1e-5)
    assert not torch.allclose(probs[0], probs[1])


def test_fast_layers_and_pyro_route_estimate_the_same_elbo():
    """Same q, same batch: both ELBO estimators agree within their errors."""
    from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

    from bayesdl.models.bnn import autonormal_state

    torch.manual_seed(0)
    fast = small_bnn(num_data=1000, init_std=0.05)
    net = small_pyro_net(num_data=1000)
    guide = autonormal(net)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    index = torch.arange(64)
    guide(x, y, index)
    guide.load_state_dict(autonormal_state(fast))
    plain = TraceMeanField_ELBO()(net, guide)
    quick = Trace_ELBO()(fast, fast.guide)
    with torch.no_grad():
        a = torch.stack([plain(x, y, index) for _ in range(150)])
        b = torch.stack([quick(x, y) for _ in range(150)])
    se = (a.var() / len(a) + b.var() / len(b)).sqrt()
    assert abs(a.mean() - b.mean()) < 4 * se
    with pytest.raises(ValueError, match="BayesianLeNet"):
        autonormal_state(net)


# The vocabulary: model/guide, predict(x, num_samples=S), checks at the boundary.


def test_the_networks_speak_the_vocabulary():
    from bayesdl.models import Classifier, Generative, PyroTrained
    from bayesdl.models.pyro_lenet import PyroLeNet

    bnn, det, plain = small_bnn(), LeNet((4, 8), 16), small_pyro_net()
    assert isinstance(bnn, PyroTrained) and isinstance(bnn, Classifier)
    assert isinstance(det, Classifier) and not isinstance(det, PyroTrained)
    assert isinstance(plain, Classifier) and not isinstance(plain, Generative)
    x, y = torch.rand(5, 1, 28, 28), torch.randint(0, 10, (5,))
    trace = pyro.poutine.trace(bnn.model).get_trace(x, y)
    assert trace.nodes["label"]["scale"] == pytest.approx(1000 / 5)
    assert bnn.guide(x, y) is None
    index = torch.arange(5)
    trace = pyro.poutine.trace(plain.model).get_trace(x, y, index)
    assert "layers.0.weight" in trace.nodes
    assert det.predict(x, num_samples=1).shape == (1, 5, 10)
    assert bnn.predict(x, num_samples=2).shape == (2, 5, 10)
    params = list(inspect.signature(PyroLeNet.predict).parameters)
    assert params[:3] == ["self", "x", "num_samples"]


def test_predict_runs_without_gradients_on_the_inputs_device():
    x = torch.rand(3, 1, 28, 28, requires_grad=True)
    for net, s in ((small_bnn(), 2), (LeNet((4, 8), 16), 1)):
        probs = net.predict(x, num_samples=s)
        assert not probs.requires_grad and probs.device == x.device


def test_only_the_first_batch_is_checked():
    net = small_bnn(num_data=20)
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    net(x, y)  # checked, and the check is then removed
    assert not net._forward_pre_hooks
    net(x * 255, y)  # training steps run without the check
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net.predict(x * 255, num_samples=1)  # predict checks every input


def test_pyro_lenet_has_moved_and_the_old_import_warns():
    import bayesdl.models.bnn as bnn_module
    from bayesdl.models.pyro_lenet import PyroLeNet

    with pytest.warns(DeprecationWarning, match="bayesdl.models.pyro_lenet"):
        assert bnn_module.PyroLeNet is PyroLeNet
    with pytest.raises(AttributeError):
        bnn_module.NoSuchNet  # noqa: B018


def test_pooling_before_relu_is_the_same_function():
    h = torch.randn(8, 4, 24, 24)
    pool, relu = torch.nn.MaxPool2d(2), torch.nn.ReLU()
    assert torch.equal(relu(pool(h)), pool(relu(h)))
