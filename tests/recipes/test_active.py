"""The active-learning chapter's loop: what it labels, from where, and who chooses."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from bayesdl import acquisition, data
from bayesdl.acquisition import ACQUISITIONS, active_learning, balanced_subset
from bayesdl.recipes import mnist_active as ma


def _tiny(smoke):
    return replace(ma.ActiveSettings(), steps=4, subsample=60, acquire_size=5)


def _pool():
    sets = ma.active_data()
    return sets["pool"]


@pytest.mark.parametrize("kind", ACQUISITIONS)
@pytest.mark.parametrize("model", ma.ACTIVE_MODELS)
def test_one_round_acquires_new_unique_pool_images(smoke, kind, model):
    settings = _tiny(smoke)
    px, py = _pool()
    gen = torch.Generator().manual_seed(0)
    initial = balanced_subset(py, 1, generator=gen)
    seen = []

    def fit(x, y, r):
        seen.append(len(x))
        return ma.fit_active_model(model, x, y, lr=3e-3, seed=r, settings=settings)

    def predict(net, x):
        probs = ma.sampled_predictions(net, x, settings)
        assert probs.dim() == 3 and probs.shape[1:] == (len(x), 10)
        return probs

    run = active_learning(
        fit,
        predict,
        px,
        py,
        initial,
        kind=kind,
        acquire_size=5,
        rounds=1,
        subsample=60,
        generator=gen,
    )
    new = run.labelled[len(initial) :]
    assert torch.equal(run.labelled[: len(initial)], initial)
    assert len(new) == 5 and len(set(new.tolist())) == 5
    assert not set(new.tolist()) & set(initial.tolist())
    assert ((0 <= new) & (new < len(px))).all()
    assert run.sizes == (10, 15) and seen == [10, 15]


def test_the_loop_never_reads_the_test_set(smoke, monkeypatch):
    settings = _tiny(smoke)
    px, py = _pool()
    real = data.load

    def no_test(name, split="train", *args, **kwargs):
        if split == "test":
            raise AssertionError("the acquisition loop read the test set")
        return real(name, split, *args, **kwargs)

    monkeypatch.setattr(data, "load", no_test)
    gen = torch.Generator().manual_seed(1)
    run = active_learning(
        lambda x, y, r: ma.fit_active_model(
            "dropout", x, y, lr=3e-3, seed=r, settings=settings
        ),
        lambda net, x: ma.sampled_predictions(net, x, settings),
        px,
        py,
        balanced_subset(py, 1, generator=gen),
        kind="bald",
        acquire_size=5,
        rounds=2,
        subsample=60,
        generator=gen,
    )
    assert run.sizes == (10, 15, 20)


def test_the_test_images_choose_nothing(smoke, monkeypatch):
    """Two different test sets: the same images labelled, in the same order."""
    settings = replace(_tiny(smoke), rounds=2)
    real = ma.active_data
    runs = []
    for flip in (False, True):

        def swapped(s=None, flip=flip):
            sets = real(s)
            tx, ty = sets["test"]
            if flip:  # other images, other labels
                sets["test"] = (1 - tx, (ty + 3) % 10)
            return sets

        monkeypatch.setattr(ma, "active_data", swapped)
        runs.append(ma._curve("dropout", "bald", 0, settings))
    assert torch.equal(runs[0]["labelled"], runs[1]["labelled"])
    assert not torch.equal(runs[0]["accuracy"], runs[1]["accuracy"])


def test_active_curve_records_a_learning_curve_and_is_cached(smoke):
    settings = _tiny(smoke)
    curve = ma.active_curve("dropout", "random", seed=0, settings=settings)
    n = settings.rounds + 1
    assert curve["sizes"].tolist() == [20 + settings.acquire_size * r for r in range(n)]
    assert curve["accuracy"].shape == (n,) and curve["nll"].shape == (n,)
    assert ((0 <= curve["accuracy"]) & (curve["accuracy"] <= 1)).all()
    assert curve["final_correct"].shape == (settings.num_test,)
    assert len(curve["labelled"]) == curve["sizes"][-1]
    again = ma.active_curve("dropout", "random", seed=0, settings=settings)
    assert torch.equal(curve["labelled"], again["labelled"])
    # random acquisition does not depend on the model: the same images
    ens = ma.active_curve("ensemble", "random", seed=0, settings=settings)
    short = len(ens["labelled"])
    assert torch.equal(curve["labelled"][:short], ens["labelled"])


def test_active_curves_in_two_processes_match_one(smoke):
    settings = _tiny(smoke)
    specs = [("dropout", "entropy", 0), ("dropout", "bald", 1)]
    both = ma.active_curves(specs, settings=settings, workers=2)
    for spec in specs:
        alone = ma.active_curve(spec[0], spec[1], seed=spec[2], settings=settings)
        assert torch.equal(both[spec]["labelled"], alone["labelled"])


def test_labels_to_reach_reads_a_curve():
    curve = {"sizes": torch.tensor([20, 40]), "accuracy": torch.tensor([0.8, 0.95])}
    assert ma.labels_to_reach(curve, 0.9) == pytest.approx(20 + 20 / 1.5)
    assert math.isnan(ma.labels_to_reach(curve, 0.99))


def test_bad_arguments_say_what_to_fix(smoke):
    with pytest.raises(ValueError, match="model must be one of"):
        ma.active_curve("svm", "bald")
    with pytest.raises(ValueError, match="kind must be one of"):
        ma.active_curve("dropout", "margin")
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    with pytest.raises(ValueError, match="model must be one of"):
        ma.fit_active_model("svm", x, y, lr=1e-3, seed=0)
    with pytest.raises(ValueError, match="each spec is"):
        ma.active_curves([("dropout", "bald")])
    with pytest.raises(ValueError, match="each spec is"):
        ma.active_curves([("dropout", "bald", 0, {"rounds": 2})])
    px, py = torch.rand(30, 1, 28, 28), torch.arange(30) % 10
    gen = torch.Generator().manual_seed(0)
    kwargs = dict(kind="bald", acquire_size=5, generator=gen)
    with pytest.raises(ValueError, match="pool has 30"):
        active_learning(None, None, px, py, torch.arange(10), rounds=5, **kwargs)
    with pytest.raises(ValueError, match="each once"):
        active_learning(None, None, px, py, torch.tensor([1, 1]), rounds=1, **kwargs)
    with pytest.raises(ValueError, match="indexes a pool of 30"):
        active_learning(None, None, px, py, torch.tensor([40]), rounds=1, **kwargs)
    with pytest.raises(ValueError, match="smaller than acquire_size"):
        active_learning(
            None, None, px, py, torch.arange(3), rounds=1, subsample=2, **kwargs
        )
    assert acquisition.ACQUISITIONS == ACQUISITIONS
