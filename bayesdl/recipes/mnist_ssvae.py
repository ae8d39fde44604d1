"""The semi-supervised chapter's recipes: M1, M1+M2 and the supervised baseline.

Example::

    >>> from bayesdl.recipes import mnist_ssvae
    >>> mnist_ssvae.ssvae_settings()["m2"]["batch_size"]
    200
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import config, data
from ..infer import loop
from ._runner import (
    register,
    run,
    training_set,
)

__all__ = [
    "SSVAE_LABEL_COUNTS",
    "ssvae_baseline_mnist",
    "ssvae_data",
    "ssvae_m1",
    "ssvae_mnist",
    "ssvae_settings",
    "ssvae_untrained",
]


SSVAE_LABEL_COUNTS = (100, 600, 1000, 3000)
"""The numbers of labelled MNIST images that :func:`ssvae_mnist` supports."""


def ssvae_settings() -> dict[str, Any]:
    """The sizes and training settings of the semi-supervised VAE (M1+M2).

    ``m1``: the VAE trained on all training images, whose code is M2's
    input; ``m2``: the semi-supervised model; ``baseline``: the
    supervised-only classifier of the same shape; ``split_seed`` draws the
    labelled images. The profile picks the sizes.

    Example::

        >>> ssvae_settings()["m2"]["batch_size"]
        200
    """
    return {
        "num_train": config.choose(full=60_000, smoke=3_500),
        "split_seed": 0,
        "m1": {
            "z_dim": 50,
            "hidden": 500,
            "num_epochs": config.choose(full=10, smoke=2),
            "batch_size": 250,
            "lr": config.choose(full=1e-3, smoke=3e-3),
            "final_lr": 2e-4,
        },
        "m2": {
            "z_dim": 32,
            "hidden": 500,
            "classifier_hidden": [500],
            "alpha": 3000.0,
            "batch_size": 200,
            "labelled_per_batch": 32,
            "num_epochs": config.choose(full=8, smoke=2),
            "lr": 3e-3,
            "final_lr": 3e-4,
        },
        "baseline": {
            "num_steps": config.choose(full=1_000, smoke=40),
            "batch_size": 100,
            "lr": 1e-3,
        },
    }


def ssvae_data(
    settings: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST training images and labels of the semi-supervised models.

    All 60,000 in the full profile, a class-stratified seeded subset in the
    smoke profile. Which of them keep their label is decided by
    :func:`bayesdl.models.ssvae.labelled_split`.

    Example::

        >>> images, labels = ssvae_data()
    """
    settings = ssvae_settings() if settings is None else settings
    return training_set("mnist", settings["num_train"])


def check_num_labels(num_labels: object) -> int:
    if isinstance(num_labels, bool) or num_labels not in SSVAE_LABEL_COUNTS:
        raise ValueError(
            f"num_labels must be one of {', '.join(map(str, SSVAE_LABEL_COUNTS))} "
            f"(the chapter's label counts), got {num_labels!r}."
        )
    return int(num_labels)


@register("ssvae_m1", "the M1 VAE whose code the semi-supervised VAE reads (MNIST)")
def ssvae_m1(*, seed: int = 0):
    """M1: the VAE trained on every MNIST training image, no labels used.

    Its code is the input of the stacked model :func:`ssvae_mnist`. Returns
    a :class:`~bayesdl.models.ssvae.M1` with ``losses`` and ``train_seconds``.

    Example::

        >>> m1 = ssvae_m1()
        >>> loc, scale = m1.encode(images)
    """
    import pyro

    from ..models import ssvae as ssvae_module
    from ..models.ssvae import M1

    settings = ssvae_settings()
    cfg = settings["m1"]

    def fit(m1: M1, seed: int) -> loop.FitResult:
        images, _ = ssvae_data(settings)
        return loop.fit_svi(
            m1.model,
            m1.guide,
            data=(images.to(config.device()),),
            batch_size=cfg["batch_size"],
            num_epochs=cfg["num_epochs"],
            lr=cfg["lr"],
            final_lr=cfg["final_lr"],
            loss=pyro.infer.Trace_ELBO(),
            generator=torch.Generator(device="cpu").manual_seed(seed),
        )

    return run(
        "ssvae_m1",
        make=lambda: M1(
            settings["num_train"], z_dim=cfg["z_dim"], hidden=cfg["hidden"]
        ),
        fit=fit,
        settings=settings["m1"] | {"n": settings["num_train"]},
        seed=seed,
        sources=[ssvae_module, __name__],
    )


def ssvae_untrained(
    settings: dict[str, Any], num_labels: int, enumerate_labels: bool = True
):
    """A freshly initialised M1+M2 of :func:`ssvae_mnist`'s architecture.

    Example::

        >>> ss = ssvae_untrained(ssvae_settings(), num_labels=100)
    """
    from ..models.ssvae import M1, SSVAE

    m1, m2 = settings["m1"], settings["m2"]
    features = M1(settings["num_train"], z_dim=m1["z_dim"], hidden=m1["hidden"])
    return SSVAE(
        num_labels,
        settings["num_train"] - num_labels,
        features=features,
        z_dim=m2["z_dim"],
        hidden=m2["hidden"],
        classifier_hidden=m2["classifier_hidden"],
        alpha=m2["alpha"],
        enumerate_labels=enumerate_labels,
    )


@register("ssvae_mnist", "the semi-supervised VAE (M1+M2) of the MNIST chapter")
def ssvae_mnist(*, num_labels: int = 100, seed: int = 0, enumerate_labels: bool = True):
    """The chapter's semi-supervised VAE, trained with ``num_labels`` labels.

    ``num_labels`` is 100, 600, 1000 or 3000: that many MNIST training
    images keep their label (balanced per class, drawn with the settings'
    ``split_seed``), the others are unlabelled. M2 runs on the code of the
    M1 of :func:`ssvae_m1` (trained first, on all images) with mixed
    mini-batches, summing out the missing labels by enumeration (or, with
    ``enumerate_labels=False``, sampling them). Returns a
    :class:`~bayesdl.models.ssvae.SSVAE` in evaluation mode with ``losses``,
    ``train_seconds`` (M2's training; M1's is ``features.train_seconds``)
    and ``test_accuracy`` (of q(y|x) on the MNIST test set after each epoch).

    Example::

        >>> ss = ssvae_mnist(num_labels=100)
        >>> probs = ss.classify(test_images)        # (N, 10)
        >>> sevens = ss.generate(torch.full((8,), 7))
    """
    import time

    from pyro.infer import TraceEnum_ELBO

    from ..models import ssvae as ssvae_module
    from ..models.ssvae import MixedBatches, labelled_split

    num_labels = check_num_labels(num_labels)
    if not isinstance(enumerate_labels, bool):
        raise ValueError(
            f"enumerate_labels must be True or False, got {enumerate_labels!r}."
        )
    settings = ssvae_settings()
    cfg = settings["m2"]

    def fit(ss: torch.nn.Module, seed: int):
        images, labels = ssvae_data(settings)
        test_x, test_y = data.load("mnist", "test")
        labelled, _ = labelled_split(labels, num_labels, seed=settings["split_seed"])
        m1 = ssvae_m1(seed=seed)
        ss.features.load_state_dict(m1.state_dict())
        start = time.perf_counter()
        codes = ss.code(images)  # M1's code, once for the whole training set
        code_seconds = time.perf_counter() - start
        sampler = MixedBatches(
            codes,
            labels.to(config.device()),
            labelled,
            batch_size=cfg["batch_size"],
            labelled_per_batch=cfg["labelled_per_batch"],
            seed=seed,
        )
        accuracy: list[float] = []

        def evaluate(epoch: int) -> None:  # after each epoch, off the clock
            probs = ss.classify(test_x)
            accuracy.append(float((probs.argmax(-1) == test_y).double().mean()))

        torch.manual_seed(seed)
        result = loop.fit_svi(
            ss.model,
            ss.guide,
            data=sampler,
            num_epochs=cfg["num_epochs"],
            lr=cfg["lr"],
            final_lr=cfg["final_lr"],
            loss=TraceEnum_ELBO(
                max_plate_nesting=1, strict_enumeration_warning=enumerate_labels
            ),
            on_epoch_end=evaluate,
        )
        result.seconds += code_seconds
        history = {
            "test_accuracy": torch.tensor(accuracy),
            "m1_seconds": float(m1.train_seconds),
        }
        return result, history

    ss = run(
        f"ssvae_mnist_{num_labels}" + ("" if enumerate_labels else "_sampled"),
        make=lambda: ssvae_untrained(settings, num_labels, enumerate_labels),
        fit=fit,
        settings={k: v for k, v in settings.items() if k != "baseline"},
        seed=seed,
        sources=[ssvae_module, __name__],
        history=("test_accuracy",),
        numbers=("m1_seconds",),
    )
    # M2's record holds M1's weights (features.*) and training time: a
    # missing M1 entry is neither retrained nor needed here.
    ss.features.train_seconds = ss.m1_seconds
    return ss


@register(
    "ssvae_baseline_mnist",
    "a supervised-only classifier shaped like the SSVAE's q(y|x)",
)
def ssvae_baseline_mnist(*, num_labels: int = 100, seed: int = 0) -> torch.nn.Module:
    """The supervised-only peer of :func:`ssvae_mnist`: same shape, labels only.

    :func:`~bayesdl.models.ssvae.baseline_classifier` trained from scratch
    by :func:`bayesdl.infer.fit_deterministic` on the same ``num_labels``
    labelled images (the unlabelled ones are not used). Returns the network
    (images -> logits) in evaluation mode with ``losses`` and
    ``train_seconds``.

    Example::

        >>> net = ssvae_baseline_mnist(num_labels=100)
        >>> probs = net(test_images).softmax(-1)
    """
    from ..models import ssvae as ssvae_module
    from ..models.ssvae import baseline_classifier, labelled_split

    num_labels = check_num_labels(num_labels)
    settings = ssvae_settings()
    cfg = settings["baseline"]

    def fit(net: torch.nn.Module, seed: int) -> loop.FitResult:
        images, labels = ssvae_data(settings)
        labelled, _ = labelled_split(labels, num_labels, seed=settings["split_seed"])
        dev = config.device()
        per_epoch = math.ceil(num_labels / cfg["batch_size"])
        return loop.fit_deterministic(
            net,
            images[labelled].to(dev),
            labels[labelled].to(dev),
            num_epochs=max(1, cfg["num_steps"] // per_epoch),
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            generator=torch.Generator(device="cpu").manual_seed(seed),
        )

    return run(
        f"ssvae_baseline_mnist_{num_labels}",
        make=lambda: baseline_classifier(
            settings["m1"]["hidden"],
            settings["m1"]["z_dim"],
            settings["m2"]["classifier_hidden"],
        ),
        fit=fit,
        seed=seed,
        settings={
            "num_train": settings["num_train"],
            "split_seed": settings["split_seed"],
            "baseline": cfg,
            "m1_hidden": settings["m1"]["hidden"],
            "m1_z_dim": settings["m1"]["z_dim"],
            "classifier_hidden": settings["m2"]["classifier_hidden"],
        },
        sources=[ssvae_module, __name__],
    )
