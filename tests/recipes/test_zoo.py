"""The zoo: trained once per profile, then loaded from the cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import bayesdl
from bayesdl import zoo
from bayesdl.models import Classifier, Generative


@pytest.mark.slow
def test_bnn_mnist_trains_once_then_loads(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    first = zoo.bnn_mnist()
    assert len(list(tmp_path.glob("bnn_mnist-*.pt"))) == 1
    stamp = next(tmp_path.glob("bnn_mnist-*.pt")).stat().st_mtime_ns
    second = zoo.bnn_mnist()
    assert next(tmp_path.glob("bnn_mnist-*.pt")).stat().st_mtime_ns == stamp
    assert second.train_seconds == first.train_seconds
    x, y = bayesdl.data.load("mnist", "test")
    x, y = x[:300], y[:300]
    torch.manual_seed(0)
    p1 = first.predict(x, num_samples=3)
    torch.manual_seed(0)
    p2 = second.predict(x, num_samples=3)
    assert p1.shape == (3, 300, 10)
    assert torch.equal(p1, p2)
    assert bayesdl.metrics.accuracy(p1, y) > 0.5  # chance is 0.1
    with pytest.raises(ValueError, match="shape"):
        second.predict(x[:, 0], num_samples=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        second.predict(x * 255, num_samples=2)


@pytest.mark.slow
def test_lenet_mnist_is_cached_too(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    net = zoo.lenet_mnist()
    again = zoo.lenet_mnist()
    x = bayesdl.data.load("mnist", "test")[0][:50]
    assert torch.equal(net.predict(x), again.predict(x))


def test_settings_depend_on_the_profile(smoke, monkeypatch):
    small = dataclasses.asdict(zoo.mnist_settings())
    monkeypatch.setenv("BAYESDL_PROFILE", "full")
    full = dataclasses.asdict(zoo.mnist_settings())
    assert small["num_train"] < full["num_train"] == 55_000
    assert full["num_train"] + full["num_validation"] == 60_000
    sized = ("num_train", "num_validation", "num_epochs")
    assert {k: v for k, v in small.items() if k not in sized} == {
        k: v for k, v in full.items() if k not in sized
    }


def test_bad_seed_raises():
    with pytest.raises(ValueError, match="seed"):
        zoo.bnn_mnist(seed=-1)


def _damaged(artifact, how):
    state = dict(artifact["state_dict"])
    if how == "nan":
        key = next(k for k, v in state.items() if v.is_floating_point())
        state[key] = torch.full_like(state[key], float("nan"))
        return {**artifact, "state_dict": state}
    if how == "missing key":
        state.pop(next(iter(state)))
        return {**artifact, "state_dict": state}
    if how == "wrong shape":
        key = next(iter(state))
        state[key] = torch.zeros(3)
        return {**artifact, "state_dict": state}
    return {"weights": torch.zeros(2)}  # another structure altogether


@pytest.mark.slow
@pytest.mark.parametrize("how", ["nan", "missing key", "wrong shape", "structure"])
def test_a_damaged_artifact_is_retrained_not_served(how, smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    zoo.lenet_mnist()
    path = next(tmp_path.glob("lenet_mnist-*.pt"))
    record = torch.load(path, weights_only=True)
    record["artifact"] = _damaged(record["artifact"], how)
    bayesdl.cache.save_atomic(record, path)
    with pytest.warns(RuntimeWarning, match="could not be used"):
        net = zoo.lenet_mnist()
    assert all(torch.isfinite(v).all() for v in net.state_dict().values())
    zoo.lenet_mnist()  # the retrained entry now loads without a warning


def test_registry_lists_callable_models_with_descriptions():
    assert {"bnn_mnist", "lenet_mnist"} <= set(zoo.REGISTRY)
    for fn, description in zoo.REGISTRY.values():
        assert callable(fn) and description
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("bnn_mnist", "again")(lambda: None)


def _tamper(path, change):
    record = torch.load(path, weights_only=True)
    change(record["artifact"])
    bayesdl.cache.save_atomic(record, path)


def _integer_weights(artifact):
    state = artifact["state_dict"]
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].long()


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.pop("losses"),
        lambda a: a.pop("device"),
        lambda a: a.update(losses=torch.tensor([1.0, float("nan")])),
        lambda a: a.update(losses="hello"),
        lambda a: a.update(seconds=float("inf")),
        lambda a: a.update(threads=0),
        _integer_weights,
    ],
    ids=[
        "no losses",
        "no device",
        "nan losses",
        "string losses",
        "inf seconds",
        "no threads",
        "integer weights",
    ],
)
def test_the_whole_record_is_validated(change, smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    zoo.lenet_mnist()
    path = next(tmp_path.glob("lenet_mnist-*.pt"))
    _tamper(path, change)
    with pytest.warns(RuntimeWarning, match="could not be used"):
        net = zoo.lenet_mnist()
    assert all(v.is_floating_point() for v in net.state_dict().values())
    assert torch.isfinite(net.losses).all()


@pytest.mark.slow
def test_a_record_copied_to_another_entry_is_refused(smoke, tmp_path, monkeypatch):
    """The probe's L1: a file copied under another model's name is not served."""
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    net = zoo.lenet_mnist(seed=1)
    path = next(tmp_path.glob("lenet_mnist-*.pt"))
    key = bayesdl.cache.entry_key(
        "lenet_mnist",
        dataclasses.asdict(zoo.mnist_settings()),
        0,
        ["bayesdl.models.bnn", "bayesdl.recipes.mnist_bnn"],
    )
    forged = tmp_path / f"lenet_mnist-{key}.pt"
    forged.write_bytes(path.read_bytes())
    with pytest.warns(RuntimeWarning, match="copied or renamed"):
        genuine = zoo.lenet_mnist(seed=0)
    x = bayesdl.data.load("mnist", "test")[0][:20]
    assert not torch.equal(genuine.predict(x), net.predict(x))


@pytest.mark.slow
def test_trained_models_record_where_they_were_trained(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path))
    net = zoo.lenet_mnist()
    assert net.trained_on == {
        "device": str(bayesdl.config.device()),
        "threads": torch.get_num_threads(),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(zoo.REGISTRY))
def test_every_registered_model_trains_caches_and_loads(name, smoke, monkeypatch):
    """One test over the registry: a new recipe is tested without a new test.

    In the smoke profile each model trains (or loads from this session's
    cache), then loads again without training; a network comes back in
    evaluation mode with finite weights and a finite history.
    """
    fn, description = zoo.REGISTRY[name]
    assert description
    first = fn()

    def no_training(*args, **kwargs):
        raise AssertionError(f"{name} was trained again instead of loaded")

    monkeypatch.setattr(bayesdl.infer.loop, "train_loop", no_training)
    again = fn()
    if isinstance(first, torch.nn.Module):
        assert not again.training
        state = again.state_dict()
        assert state.keys() == first.state_dict().keys()
        assert all(torch.isfinite(v).all() for v in state.values())
        assert torch.isfinite(again.losses).all() and again.train_seconds > 0
        assert again.train_seconds == first.train_seconds
        assert again.trained_on["threads"] >= 1
    _answers_in_the_vocabulary(again, zoo.EXAMPLES[name]())


def _answers_in_the_vocabulary(model, x):
    """What :mod:`bayesdl.models` promises of every model: a classifier's
    (S, N, C) probabilities (or a regression's (S, N) draws), a generative
    model's codes, images and samples; all without gradients, on the input's
    device."""
    assert isinstance(model, Classifier | Generative), type(model).__name__
    y = None
    if isinstance(model, Classifier):
        p = model.predict(x)
        assert p.device == x.device and not p.requires_grad
        assert torch.isfinite(p).all()
        if p.ndim == 3:  # class probabilities, S >= 1 draws
            assert p.shape[1] == len(x) and p.shape[0] >= 1
            assert torch.allclose(p.sum(-1), torch.ones(()), atol=1e-4)
            y = p.mean(0).argmax(-1)
        else:  # draws of a regression function
            assert p.shape[1:] == (len(x),)
    if isinstance(model, Generative):
        # A model that also classifies (the SS-VAE) encodes and decodes given
        # labels: its own most likely ones.
        loc, scale = model.encode(x, y)
        assert loc.shape == scale.shape == (len(x), model.latent_dim)
        assert (scale > 0).all() and not loc.requires_grad
        assert loc.device == x.device
        images = model.decode(loc, y)
        assert len(images) == len(x) and images.device == x.device
        assert not images.requires_grad
        new = model.generate(3, generator=torch.Generator().manual_seed(0))
        assert len(new) == 3 and not new.requires_grad


def test_load_names_what_the_registry_has():
    with pytest.raises(
        ValueError, match="no zoo model is named 'bnn_mnsit'.*bnn_mnist"
    ):
        zoo.load("bnn_mnsit")
    assert zoo.REGISTRY["lenet_mnist"][0] is zoo.lenet_mnist
