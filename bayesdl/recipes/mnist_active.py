"""The active-learning chapter's recipes: which MNIST images to label, and who says.

Gal, Islam and Ghahramani's (2017) protocol at the size of a book's build.
A seed draws 2 labelled images per digit from the MNIST chapter's training
images (:func:`~bayesdl.recipes.mnist_bnn.mnist_data`), the rest of which
are the unlabelled pool. Each round trains a model from scratch on the
labelled images, scores a random subsample of the pool with an acquisition
function (:mod:`bayesdl.acquisition`) and labels the best ``acquire_size``
of them. Three models give the acquisition its sampled predictions:

* ``"dropout"``: the LeNet with dropout, sampled by MC dropout (Gal's);
* ``"mfvi"``: the MNIST chapter's mean-field Bayesian LeNet;
* ``"ensemble"``: a deep ensemble of ordinary LeNets.

The test images score each round's model for the learning curve and choose
nothing: :func:`bayesdl.acquisition.active_learning` is never given them.
The learning rate is chosen on 100 validation images, as Gal chose his
weight decay.

Example::

    curve = active_curve("dropout", "bald", seed=0)
    curve["sizes"], curve["accuracy"]      # labels, test accuracy per round
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict
from typing import Any

import pyro
import torch

from .. import acquisition, cache, checks, config, data, metrics, parallel
from ..acquisition import ACQUISITIONS, active_learning, balanced_subset
from . import mnist_bnn
from .mnist_active_models import (
    ACTIVE_MODELS,
    ActiveSettings,
    active_settings,
    fit_active_model,
    sampled_predictions,
)

__all__ = [
    "ACTIVE_MODELS",
    "ActiveSettings",
    "active_curve",
    "active_curves",
    "active_data",
    "active_lr",
    "active_settings",
    "fit_active_model",
    "labels_to_reach",
    "sampled_predictions",
]


def active_data(settings: ActiveSettings | None = None) -> dict[str, Any]:
    """The pool, the validation images and the test images, each ``(x, y)``.

    The pool is the MNIST chapter's training split (the validation images
    held out); ``num_validation`` of its validation images (class-stratified,
    seed 0) choose the learning rate; ``num_test`` test images
    (class-stratified, seed 0) score the rounds.

    Example::

        >>> sorted(active_data())
        ['pool', 'test', 'validation']
    """
    settings = ActiveSettings() if settings is None else settings
    pool, (val_x, val_y) = mnist_bnn.mnist_data()
    test_x, test_y = data.load("mnist", "test")
    return {
        "pool": pool,
        "validation": data.subset(val_x, val_y, settings.num_validation, seed=0),
        "test": data.subset(test_x, test_y, settings.num_test, seed=0),
    }


def active_lr(settings: ActiveSettings | None = None) -> tuple[float, dict]:
    """The learning rate with the lowest validation NLL, and every candidate's.

    The dropout LeNet is trained on ``lr_sizes`` randomly chosen labelled
    images (class-balanced, seed 0) at each rate of ``lrs``; MC dropout's
    NLL on the validation images, summed over the sizes, ranks the rates.
    Every model of the chapter then uses the chosen rate.

    Example::

        >>> lr, nlls = active_lr()
    """
    settings = ActiveSettings() if settings is None else settings

    def train() -> dict[str, Any]:
        sets = active_data(settings)
        (px, py), (vx, vy) = sets["pool"], sets["validation"]
        nll = torch.zeros(len(settings.lrs), len(settings.lr_sizes))
        for j, n in enumerate(settings.lr_sizes):
            gen = torch.Generator().manual_seed(0)
            idx = balanced_subset(py, n // 10, generator=gen)
            for i, lr in enumerate(settings.lrs):
                net = fit_active_model(
                    "dropout", px[idx], py[idx], lr=lr, seed=j, settings=settings
                )
                torch.manual_seed(0)
                probs = sampled_predictions(net, vx, settings).mean(0)
                nll[i, j] = metrics.negative_log_likelihood(probs, vy)
        return {"lrs": torch.tensor(settings.lrs), "nll": nll}

    used = (
        "lrs",
        "lr_sizes",
        "steps",
        "batch_size",
        "dropout",
        "passes",
        "channels",
        "hidden",
        "num_validation",
    )
    art = cache.train_or_load(
        "active_lr",
        train,
        settings={k: v for k, v in asdict(settings).items() if k in used},
        seed=0,
        sources=[__name__],
    )
    total = art["nll"].sum(1)
    nlls = {float(lr): art["nll"][i] for i, lr in enumerate(settings.lrs)}
    return float(settings.lrs[int(total.argmin())]), nlls


def _curve(model: str, kind: str, seed: int, settings: ActiveSettings) -> dict:
    lr, _ = active_lr(settings)
    sets = active_data(settings)
    (px, py), (tx, ty) = sets["pool"], sets["test"]
    gen = torch.Generator().manual_seed(seed)
    initial = balanced_subset(py, settings.initial_per_class, generator=gen)
    rounds = settings.rounds if model == "dropout" else settings.short_rounds
    accuracy, nll, tested = [], [], [0.0]

    def fit(x, y, r):
        return fit_active_model(
            model, x, y, lr=lr, seed=1000 * seed + r, settings=settings
        )

    def predict(net, x):
        return sampled_predictions(net, x.to(config.device()), settings).cpu()

    def on_round(r, net, n):
        nonlocal correct
        start = time.perf_counter()
        torch.manual_seed(r)
        probs = predict(net, tx).mean(0)
        tested[0] += time.perf_counter() - start
        accuracy.append(metrics.accuracy(probs, ty))
        nll.append(metrics.negative_log_likelihood(probs, ty))
        correct = (probs.argmax(-1) == ty).float()

    correct = None
    with pyro.settings.context(module_local_params=True):
        run = active_learning(
            fit,
            predict,
            px,
            py,
            initial,
            kind=kind,
            acquire_size=settings.acquire_size,
            rounds=rounds,
            subsample=settings.subsample,
            generator=gen,
            on_round=on_round,
        )
    return {
        "sizes": torch.tensor(run.sizes),
        "accuracy": torch.tensor(accuracy),
        "nll": torch.tensor(nll),
        "labelled": run.labelled,
        "final_correct": correct,
        "fit_seconds": run.seconds["fit"],
        "score_seconds": run.seconds["score"],
        "test_seconds": tested[0],
    }


def active_curve(
    model: str = "dropout",
    kind: str = "bald",
    *,
    seed: int = 0,
    settings: ActiveSettings | None = None,
) -> dict[str, Any]:
    """One active-learning run of ``model`` acquiring by ``kind``: its learning curve.

    A dict of ``sizes`` (labelled images at each round), ``accuracy`` and
    ``nll`` (the predictive's on the test images, per round),
    ``labelled`` (pool indices in the order labelled), ``final_correct``
    (the last round's 0/1 correctness per test image) and the seconds
    spent fitting, scoring the pool and scoring the test images. Trained
    once, then loaded from the cache.

    Example::

        curve = active_curve("dropout", "random", seed=1)
    """
    settings = ActiveSettings() if settings is None else settings
    if model not in ACTIVE_MODELS:
        raise ValueError(
            f"model must be one of {', '.join(ACTIVE_MODELS)}; got {model!r}."
        )
    if kind not in ACQUISITIONS:
        raise ValueError(
            f"kind must be one of {', '.join(ACQUISITIONS)}; got {kind!r}."
        )
    seed = checks.non_negative_int("seed", seed)
    return cache.train_or_load(
        f"active_{model}_{kind}",
        lambda: _curve(model, kind, seed, settings),
        settings={**asdict(settings), "model": model, "kind": kind},
        seed=seed,
        sources=[__name__],
    )


def _run(spec: tuple, settings: ActiveSettings) -> dict[str, Any]:
    own = spec[3] if len(spec) == 4 else settings
    return active_curve(spec[0], spec[1], seed=spec[2], settings=own)


def active_curves(
    specs: list[tuple],
    *,
    settings: ActiveSettings | None = None,
    workers: int | None = None,
) -> dict[tuple, dict[str, Any]]:
    """:func:`active_curve` for every ``(model, kind, seed)`` of ``specs``.

    A spec may carry its own settings as a fourth item, ``(model, kind,
    seed, settings)``; the others use ``settings`` (default
    :func:`active_settings`). The result maps each spec to its curve. The
    runs go to ``workers`` one-thread processes
    (:func:`bayesdl.parallel.map_processes`, two on a two-core CPU), the
    ensemble's and the mean-field network's first, since they cost most. A
    cached run loads.

    Example::

        curves = active_curves([("dropout", k, s) for k in ("random", "bald")
                                for s in range(3)])
    """
    settings = ActiveSettings() if settings is None else settings
    specs = [tuple(s) for s in specs]
    for spec in specs:
        if len(spec) not in (3, 4) or (
            len(spec) == 4 and not isinstance(spec[3], ActiveSettings)
        ):
            raise ValueError(
                "each spec is (model, kind, seed) or (model, kind, seed, "
                f"ActiveSettings); got {spec!r}."
            )
    for own in {spec[3] if len(spec) == 4 else settings for spec in specs}:
        active_lr(own)  # once, before the processes need it
    cost = {"ensemble": 3.0, "mfvi": 2.0}
    curves = parallel.map_processes(
        functools.partial(_run, settings=settings),
        specs,
        workers=workers,
        first=lambda spec: cost.get(spec[0], 1.0),
    )
    return dict(zip(specs, curves, strict=True))


def labels_to_reach(curve: dict[str, Any], accuracy: float) -> float:
    """The labels a curve of :func:`active_curve` needs to reach ``accuracy``.

    :func:`bayesdl.acquisition.labels_to_reach` on its ``sizes`` and
    ``accuracy``: read between the rounds, ``nan`` if never reached.

    Example::

        >>> labels_to_reach({"sizes": torch.tensor([20, 40]),
        ...                  "accuracy": torch.tensor([0.8, 0.95])}, 0.9)
        33.33...
    """
    return acquisition.labels_to_reach(curve["sizes"], curve["accuracy"], accuracy)
