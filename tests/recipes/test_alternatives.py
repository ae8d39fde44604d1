"""The alternatives chapter's pieces: splits, shifts, temperature, Laplace evidence, zoo."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import bayesdl
from bayesdl import data, metrics, zoo
from bayesdl.models.bnn import LeNet, lenet_layers
from bayesdl.models.calibration import (
    TemperatureScaled,
    fit_temperature,
    scale_temperature,
)
from bayesdl.models.laplace import LaplaceGLM


def _images(n=20, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_validation_split_is_disjoint_seeded_and_whole():
    x = torch.arange(100.0).reshape(100, 1, 1, 1).expand(100, 1, 28, 28) / 100
    y = torch.arange(100) % 10
    (tx, ty), (vx, vy) = data.train_validation_split(x, y, 30, seed=3)
    assert len(tx) == 70 and len(vx) == 30
    ids_t, ids_v = set(tx[:, 0, 0, 0].tolist()), set(vx[:, 0, 0, 0].tolist())
    assert not ids_t & ids_v and len(ids_t | ids_v) == 100
    (tx2, _), (vx2, _) = data.train_validation_split(x, y, 30, seed=3)
    assert torch.equal(vx, vx2) and torch.equal(tx, tx2)
    (_, _), (vx3, _) = data.train_validation_split(x, y, 30, seed=4)
    assert not torch.equal(vx, vx3)
    with pytest.raises(ValueError, match="num_validation"):
        data.train_validation_split(x, y, 100)
    with pytest.raises(ValueError, match="num_validation"):
        data.train_validation_split(x, y, 0)


def test_rotate_by_0_and_90_degrees():
    x = _images(5)
    torch.testing.assert_close(data.rotate(x, 0), x)
    torch.testing.assert_close(data.rotate(x, 90), torch.rot90(x, 1, (-2, -1)))
    torch.testing.assert_close(data.rotate(x, 180), torch.rot90(x, 2, (-2, -1)))
    turned = data.rotate(x, 45)
    assert turned.shape == x.shape and 0 <= turned.min() and turned.max() <= 1
    assert not torch.allclose(turned, x)
    with pytest.raises(ValueError, match="degrees"):
        data.rotate(x, float("nan"))
    with pytest.raises(ValueError, match="shape"):
        data.rotate(x[:, 0], 10)


@pytest.mark.parametrize("kind", data.OOD_KINDS)
def test_synthetic_ood_is_seeded_images(kind):
    a = data.synthetic_ood(16, seed=1, kind=kind)
    assert a.shape == (16, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, data.synthetic_ood(16, seed=1, kind=kind))
    assert not torch.equal(a, data.synthetic_ood(16, seed=2, kind=kind))
    bayesdl.checks.images(a)


def test_synthetic_ood_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        data.synthetic_ood(4, kind="stars")
    with pytest.raises(ValueError, match="n"):
        data.synthetic_ood(0)


def test_blobs_are_smoother_than_uniform_noise():
    def roughness(x):
        return (x[..., 1:, :] - x[..., :-1, :]).abs().mean()

    blobs = data.synthetic_ood(32, kind="blobs")
    noise = data.synthetic_ood(32, kind="uniform")
    assert roughness(blobs) < roughness(noise) / 3


def test_temperature_recovers_the_one_that_made_the_labels():
    torch.manual_seed(0)
    logits = 3 * torch.randn(20_000, 5)
    true_t = 2.0
    labels = torch.distributions.Categorical(logits=logits / true_t).sample()
    t = fit_temperature(logits.softmax(-1), labels)
    assert abs(t - true_t) < 0.1
    scaled = scale_temperature(logits.softmax(-1), t)
    assert metrics.accuracy(scaled, labels) == metrics.accuracy(
        logits.softmax(-1), labels
    )
    nll = metrics.negative_log_likelihood
    assert nll(scaled, labels) < nll(logits.softmax(-1), labels)
    torch.testing.assert_close(
        scale_temperature(logits.softmax(-1), 1.0), logits.softmax(-1)
    )


def test_temperature_arguments_are_checked():
    p = torch.tensor([[0.9, 0.1]])
    with pytest.raises(ValueError, match="temperature"):
        scale_temperature(p, 0.0)
    with pytest.raises(ValueError, match="low"):
        fit_temperature(p, torch.tensor([0]), low=2.0, high=1.0)
    with pytest.raises(ValueError, match="predict"):
        TemperatureScaled(nn.Linear(2, 2), 1.0)


def test_temperature_scaled_model_predicts_one_sample():
    net = LeNet()
    scaled = TemperatureScaled(net, 2.0)
    x = _images(6)
    out = scaled.predict(x)
    assert out.shape == (1, 6, 10)
    torch.testing.assert_close(out[0], (net(x) / 2).softmax(-1), atol=1e-5, rtol=0)


def test_lenet_with_dropout_and_its_checks():
    layers = lenet_layers(False, dropout=0.3)
    assert sum(isinstance(m, nn.Dropout) for m in layers) == 2
    assert not any(isinstance(m, nn.Dropout) for m in lenet_layers(False))
    with pytest.raises(ValueError, match="dropout"):
        lenet_layers(True, dropout=0.1)
    with pytest.raises(ValueError, match="dropout"):
        LeNet(dropout=1.0)
    net = LeNet(dropout=0.5).eval()
    x = _images(4)
    assert net.features(x).shape == (4, 128)
    torch.testing.assert_close(net.layers[-1](net.features(x)), net(x))
    with pytest.raises(ValueError, match="num_samples"):
        net.predict(x, num_samples=3)


def _softmax_head(seed=0):
    torch.manual_seed(seed)
    head = nn.Linear(4, 3)
    x = torch.randn(60, 4)
    y = torch.randint(0, 3, (60,))
    return head, x, y


def test_laplace_of_a_softmax_head_has_the_exact_hessian():
    """For a linear softmax model the GGN is the Hessian of the log joint."""
    head, x, y = _softmax_head()
    prior_scale = 0.7
    la = LaplaceGLM(head, x, y, parameters=["weight", "bias"], prior_scale=prior_scale)
    w0, b0 = head.weight.detach(), head.bias.detach()

    def neg_log_joint(flat):
        w, b = flat[:12].reshape(3, 4), flat[12:]
        nll = nn.functional.cross_entropy(x @ w.T + b, y, reduction="sum")
        return nll + flat.pow(2).sum() / (2 * prior_scale**2)

    flat = torch.cat([w0.reshape(-1), b0])
    hessian = torch.autograd.functional.hessian(neg_log_joint, flat)
    torch.testing.assert_close(la.precision, hessian, atol=1e-4, rtol=1e-4)
    # The structured path and the general one (Jacobians) agree.
    general = LaplaceGLM(
        nn.Sequential(head),
        x,
        y,
        parameters=["0.weight", "0.bias"],
        prior_scale=prior_scale,
    )
    torch.testing.assert_close(la.precision, general.precision, atol=1e-4, rtol=1e-4)
    assert la.log_marginal_likelihood() == pytest.approx(
        general.log_marginal_likelihood(), abs=1e-3
    )
    draws = la.predict(x[:5], num_samples=4)
    assert draws.shape == (4, 5, 3)


def test_laplace_evidence_of_a_linear_gaussian_model_is_exact():
    """y = X w + noise, w ~ N(0, s^2 I): the evidence is N(y; 0, s^2 X X^T + sigma^2 I)."""
    torch.manual_seed(1)
    x = torch.randn(40, 2)
    y = x @ torch.tensor([0.8, -0.4]) + 0.3 + 0.2 * torch.randn(40)
    sigma, s = 0.2, 1.5
    design = torch.cat([x, torch.ones(40, 1)], 1)
    precision = design.T @ design / sigma**2 + torch.eye(3) / s**2
    mean = torch.linalg.solve(precision, design.T @ y / sigma**2)
    head = nn.Linear(2, 1)
    with torch.no_grad():
        head.weight.copy_(mean[:2][None])
        head.bias.copy_(mean[2:])
    la = LaplaceGLM(
        head,
        x,
        y,
        output="regression",
        sigma=sigma,
        prior_scale=s,
        parameters=["weight", "bias"],
    )
    cov = s**2 * design @ design.T + sigma**2 * torch.eye(40)
    exact = torch.distributions.MultivariateNormal(torch.zeros(40), cov).log_prob(y)
    assert la.log_marginal_likelihood() == pytest.approx(float(exact), abs=1e-3)


def test_fit_prior_scale_maximises_the_evidence():
    head, x, y = _softmax_head(2)
    la = LaplaceGLM(head, x, y, parameters=["weight", "bias"])
    best = la.fit_prior_scale()
    assert la.prior_scale == best
    at = la.log_marginal_likelihood()
    for factor in (0.8, 1.25):
        assert at >= la.log_marginal_likelihood(best * factor)
    torch.testing.assert_close(
        la.precision, la.data_precision + torch.eye(15) / best**2
    )
    with pytest.raises(ValueError, match="labels"):
        LaplaceGLM(head, x, parameters=["weight", "bias"]).fit_prior_scale()
    with pytest.raises(ValueError, match="prior_scale"):
        la.log_marginal_likelihood(-1.0)


def test_set_prior_scale_moves_the_prior_and_keeps_the_data():
    head, x, y = _softmax_head(2)
    la = LaplaceGLM(head, x, y, parameters=["weight", "bias"])
    data_precision = la.data_precision.clone()
    assert la.set_prior_scale(0.5) == 0.5 == la.prior_scale
    torch.testing.assert_close(la.data_precision, data_precision)
    torch.testing.assert_close(la.precision, data_precision + torch.eye(15) / 0.25)
    cov = la.cov_factor @ la.cov_factor.T
    torch.testing.assert_close(cov @ la.precision, torch.eye(15), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="prior_scale"):
        la.set_prior_scale(0.0)


@pytest.mark.slow
def test_laplace_prior_chosen_on_validation(smoke):
    extra = zoo.alternatives_settings()
    model = zoo.laplace_mnist(prior="validation")
    nlls = model.validation_nll
    assert tuple(nlls) == extra.laplace_scales
    assert model.prior_scale == min(nlls, key=nlls.get)
    assert model.laplace.prior_scale == model.prior_scale
    evidence = zoo.laplace_mnist()
    assert torch.equal(evidence.laplace.data_precision, model.laplace.data_precision)
    settings = zoo.mnist_settings()
    assert model.train_features.shape == (settings.num_train, settings.hidden)
    with pytest.raises(ValueError, match="prior must be one of evidence, validation"):
        zoo.laplace_mnist(prior="map")


@pytest.mark.slow
def test_mnist_data_holds_out_the_validation_images(smoke):
    settings = zoo.mnist_settings()
    (tx, ty), (vx, vy) = zoo.mnist_data()
    assert len(tx) == settings.num_train and len(vx) == settings.num_validation
    seen = {hash(img.numpy().tobytes()) for img in tx}
    assert not any(hash(img.numpy().tobytes()) in seen for img in vx)


@pytest.mark.slow
def test_alternatives_predict_samples_of_probabilities(smoke):
    x, y = data.load("mnist", "test")
    x, y = x[:200], y[:200]
    models = {
        "temperature": (zoo.temperature_mnist(), None, 1),
        "dropout": (zoo.dropout_mnist(), 3, 3),
        "ensemble": (zoo.ensemble_mnist(size=2), None, 2),
        "laplace": (zoo.laplace_mnist(), 5, 5),
    }
    for name, (model, s, expected) in models.items():
        kwargs = {} if s is None else {"num_samples": s}
        probs = model.predict(x, **kwargs)
        assert probs.shape == (expected, 200, 10), name
        assert metrics.accuracy(probs, y) > 0.5, name
        assert model.train_seconds > 0 and not model.training, name
    temp = models["temperature"][0]
    assert temp.validation_nll["fitted"] <= temp.validation_nll["T=1"]
    assert models["dropout"][0].rate in zoo.alternatives_settings().dropout_rates
    assert math.isfinite(models["laplace"][0].prior_scale)
    with pytest.raises(ValueError, match="dropout rate"):
        zoo.dropout_mnist(rate=1.5)
    with pytest.raises(ValueError, match="members"):
        zoo.ensemble_mnist(size=1)


def test_the_recipes_settings_are_frozen_dataclasses():
    import dataclasses

    from bayesdl.recipes.mnist_alternatives import (
        AlternativesSettings,
        DropoutSettings,
    )
    from bayesdl.recipes.mnist_bnn import MnistSettings

    settings = MnistSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.num_epochs = 64
    assert dataclasses.replace(settings, num_epochs=7).num_epochs == 7
    dropout = dataclasses.asdict(DropoutSettings(dropout=0.1))
    assert dropout == {**dataclasses.asdict(settings), "dropout": 0.1}
    assert AlternativesSettings().ensemble_size == 5
    assert zoo.alternatives_settings() == AlternativesSettings()


def test_last_layer_laplace_is_a_classifier_on_the_inputs_device():
    from bayesdl.models import Classifier
    from bayesdl.recipes.mnist_alternatives import LastLayerLaplace

    net = LeNet((4, 8), 16).eval()
    x, y = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    with torch.no_grad():
        feats = net.features(x)
    la = LaplaceGLM(net.layers[-1], feats, y, parameters=["weight", "bias"])
    model = LastLayerLaplace(net, la)
    assert isinstance(model, Classifier)
    probs = model.predict(x, num_samples=3, batch_size=4)
    assert probs.shape == (3, 6, 10) and probs.device == x.device
    assert not probs.requires_grad
    assert torch.allclose(probs.sum(-1), torch.ones(3, 6), atol=1e-5)
