"""The semi-supervised chapter's recipes: M1, M1+M2 and the supervised baselines.

A stratified tenth of MNIST's training images is held out as a validation
set (:func:`ssvae_data` with ``split="val"``); every model here trains on
the rest, and records its validation accuracy, never the test set's.

Example::

    >>> from bayesdl.recipes import mnist_ssvae
    >>> mnist_ssvae.ssvae_settings()["m2"]["batch_size"]
    200
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import checks, config, data
from ..infer import loop, svi
from ._runner import register, run

__all__ = [
    "SSVAE_LABEL_COUNTS",
    "ssvae_baseline_mnist",
    "ssvae_data",
    "ssvae_m1",
    "ssvae_m1_classifier_mnist",
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
    supervised-only classifiers; ``num_val`` training images are held out
    for validation and the models train on ``num_train`` others;
    ``split_seed`` draws both splits; ``sweep`` lists the settings of M2
    (``alpha``, and ``code_draws``: M2 on draws of M1's code rather than its
    mean) compared on the validation set (100 labels, short runs), and
    ``race`` the short runs that race enumeration against sampling. The profile picks
    the sizes.

    Example::

        >>> ssvae_settings()["m2"]["batch_size"]
        200
    """
    return {
        "num_train": config.choose(full=50_000, smoke=3_500),
        "num_val": config.choose(full=10_000, smoke=500),
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
            "code_draws": False,
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
        "sweep": {
            "num_labels": 100,
            "num_epochs": config.choose(full=2, smoke=1),
            "candidates": [
                {
                    "alpha": paper_alpha(config.choose(full=50_000, smoke=3_500), 100),
                    "code_draws": False,
                },
                {"alpha": 3000.0, "code_draws": False},
                {"alpha": 3000.0, "code_draws": True},
            ],
        },
        "race": {
            "num_labels": 100,
            "num_epochs": config.choose(full=2, smoke=1),
            "sampled_epochs": config.choose(full=6, smoke=2),
            "seeds": [0, 1],
        },
    }


def paper_alpha(num_train: int, num_labels: int) -> float:
    """Kingma et al.'s weight ``alpha = 0.1 N`` as a weight per labelled image.

    The paper weights the *mean* of ``log q(y|x)`` over the labelled set by
    ``0.1 N`` (``N`` training images in all); :class:`SSVAE` weights each
    labelled image's term, so the same objective has ``0.1 N / num_labels``.

    Example::

        >>> paper_alpha(50_000, 100)
        50.0
    """
    num_train = checks.positive_int("num_train", num_train)
    num_labels = checks.positive_int("num_labels", num_labels)
    return 0.1 * num_train / num_labels


def ssvae_data(
    settings: dict[str, Any] | None = None, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST images and labels of the semi-supervised models.

    ``split="train"``: the ``num_train`` images the models train on;
    ``split="val"``: the ``num_val`` held-out validation images. Both come
    from MNIST's training set (a seeded, class-stratified split,
    :func:`bayesdl.data.splits.stratified_split`); the test set is not
    read. Which training images keep their label is decided by
    :func:`bayesdl.data.splits.labelled_split`.

    Example::

        >>> images, labels = ssvae_data()
        >>> val_x, val_y = ssvae_data(split="val")
    """
    from ..data.splits import stratified_split

    settings = ssvae_settings() if settings is None else settings
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}.")
    images, labels = data.load("mnist", "train")
    train, val = stratified_split(
        labels,
        settings["num_val"],
        num_train=settings["num_train"],
        seed=settings["split_seed"],
    )
    index = train if split == "train" else val
    return images[index], labels[index]


def check_num_labels(num_labels: object) -> int:
    if isinstance(num_labels, bool) or num_labels not in SSVAE_LABEL_COUNTS:
        raise ValueError(
            f"num_labels must be one of {', '.join(map(str, SSVAE_LABEL_COUNTS))} "
            f"(the chapter's label counts), got {num_labels!r}."
        )
    return int(num_labels)


@register("ssvae_m1", "the M1 VAE whose code the semi-supervised VAE reads (MNIST)")
def ssvae_m1(*, seed: int = 0):
    """M1: the VAE trained on the models' training images, no labels used.

    Its code is the input of the stacked model :func:`ssvae_mnist`. Returns
    a :class:`~bayesdl.models.ssvae.M1` with ``losses`` and ``train_seconds``.

    Example::

        m1 = ssvae_m1()
        loc, scale = m1.encode(images)
    """
    import pyro

    from ..models import ssvae as ssvae_module
    from ..models.ssvae import M1

    settings = ssvae_settings()
    cfg = settings["m1"]

    def fit(m1: M1, seed: int) -> loop.FitResult:
        images, _ = ssvae_data(settings)
        return svi.fit_svi(
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
        settings=settings["m1"]
        | {
            "n": settings["num_train"],
            "num_val": settings["num_val"],
            "split_seed": settings["split_seed"],
        },
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
def ssvae_mnist(
    *,
    num_labels: int = 100,
    seed: int = 0,
    enumerate_labels: bool = True,
    num_epochs: int | None = None,
    alpha: float | None = None,
    code_draws: bool | None = None,
):
    """The chapter's semi-supervised VAE, trained with ``num_labels`` labels.

    ``num_labels`` is 100, 600, 1000 or 3000: that many of the training
    images of :func:`ssvae_data` keep their label (balanced per class, drawn
    with the settings' ``split_seed``), the others are unlabelled. M2 runs
    on the code of the M1 of :func:`ssvae_m1` (trained first) with mixed
    mini-batches, summing out the missing labels by enumeration (or, with
    ``enumerate_labels=False``, sampling them). ``num_epochs``, ``alpha``
    and ``code_draws`` replace the settings' values (for the validation
    sweep and the race). Returns a :class:`~bayesdl.models.ssvae.SSVAE` in evaluation
    mode with ``losses``, ``train_seconds`` (M2's training; M1's is
    ``features.train_seconds``) and ``val_accuracy`` (of q(y|x) on the
    held-out validation images after each epoch). The test set is not read.

    Example::

        ss = ssvae_mnist(num_labels=100)
        probs = ss.classify(test_images)        # (N, 10)
        sevens = ss.generate(torch.full((8,), 7))
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
    cfg = dict(settings["m2"])
    suffix = "" if enumerate_labels else "_sampled"
    if num_epochs is not None:
        cfg["num_epochs"] = checks.positive_int("num_epochs", num_epochs)
    if alpha is not None:
        cfg["alpha"] = checks.positive_float("alpha", alpha)
    if code_draws is not None:
        if not isinstance(code_draws, bool):
            raise ValueError(f"code_draws must be True or False, got {code_draws!r}.")
        cfg["code_draws"] = code_draws
    default = settings["m2"]
    if cfg["num_epochs"] != default["num_epochs"]:
        suffix += f"_{cfg['num_epochs']}ep"
    if cfg["alpha"] != default["alpha"]:
        suffix += f"_alpha{cfg['alpha']:g}"
    if cfg["code_draws"] != default["code_draws"]:
        suffix += "_draws" if cfg["code_draws"] else "_means"
    settings["m2"] = cfg

    def fit(ss: torch.nn.Module, seed: int):
        images, labels = ssvae_data(settings)
        val_x, val_y = ssvae_data(settings, "val")
        labelled, _ = labelled_split(labels, num_labels, seed=settings["split_seed"])
        m1 = ssvae_m1(seed=seed)
        ss.features.load_state_dict(m1.state_dict())
        start = time.perf_counter()
        codes = ss.code(images)  # M1's code, once for the whole training set
        code_seconds = time.perf_counter() - start
        scales = None
        if cfg["code_draws"]:  # M2 reads a fresh draw of M1's code each time
            chunks = [
                m1.encode(images[i : i + 5000]) for i in range(0, len(images), 5000)
            ]
            scales = torch.cat([scale for _, scale in chunks])
        val_codes, val_y = ss.code(val_x), val_y.to(config.device())
        sampler = MixedBatches(
            codes,
            labels.to(config.device()),
            labelled,
            batch_size=cfg["batch_size"],
            labelled_per_batch=cfg["labelled_per_batch"],
            seed=seed,
            scales=scales,
        )
        accuracy: list[float] = []

        def evaluate(epoch: int) -> None:  # after each epoch, off the clock
            with torch.no_grad():
                pred = ss.classifier_logits(val_codes).argmax(-1)
            accuracy.append(float((pred == val_y).double().mean()))

        torch.manual_seed(seed)
        result = svi.fit_svi(
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
            "val_accuracy": torch.tensor(accuracy),
            "m1_seconds": float(m1.train_seconds),
        }
        return result, history

    ss = run(
        f"ssvae_mnist_{num_labels}{suffix}",
        make=lambda: ssvae_untrained(settings, num_labels, enumerate_labels),
        fit=fit,
        settings={
            k: v for k, v in settings.items() if k not in ("baseline", "sweep", "race")
        },
        seed=seed,
        sources=[ssvae_module, __name__],
        history=("val_accuracy",),
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
    by :func:`bayesdl.infer.fit_classifier` on the same ``num_labels``
    labelled images (the unlabelled ones are not used, nor is M1). Returns the network
    (images -> logits) in evaluation mode with ``losses`` and
    ``train_seconds``.

    Example::

        net = ssvae_baseline_mnist(num_labels=100)
        probs = net(test_images).softmax(-1)
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
        return loop.fit_classifier(
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
            "num_val": settings["num_val"],
            "split_seed": settings["split_seed"],
            "baseline": cfg,
            "m1_hidden": settings["m1"]["hidden"],
            "m1_z_dim": settings["m1"]["z_dim"],
            "classifier_hidden": settings["m2"]["classifier_hidden"],
        },
        sources=[ssvae_module, __name__],
    )


@register(
    "ssvae_m1_classifier_mnist",
    "the SSVAE's classifier trained on frozen M1 codes of the labelled images",
)
def ssvae_m1_classifier_mnist(
    *, num_labels: int = 100, seed: int = 0
) -> torch.nn.Module:
    """What M1's features buy alone: q(y|x)'s layers on M1's frozen code.

    The classifier MLP of :func:`ssvae_mnist` (M1's code -> logits),
    trained like :func:`ssvae_baseline_mnist` on the same ``num_labels``
    labelled images, reading the mean of the code of :func:`ssvae_m1` (which
    saw every training image, without labels); no M2 objective. The
    counterpart of Kingma et al.'s "M1+TSVM" row. Returns the network
    (codes -> logits) in evaluation mode with ``losses`` and
    ``train_seconds``.

    Example::

        net = ssvae_m1_classifier_mnist(num_labels=100)
        codes = ssvae_m1().encode(test_images)[0]
        probs = net(codes).softmax(-1)
    """
    from ..models import ssvae as ssvae_module
    from ..models.m1 import _mlp
    from ..models.ssvae import NUM_CLASSES, labelled_split

    num_labels = check_num_labels(num_labels)
    settings = ssvae_settings()
    cfg = settings["baseline"]
    widths = settings["m2"]["classifier_hidden"]

    def fit(net: torch.nn.Module, seed: int) -> loop.FitResult:
        images, labels = ssvae_data(settings)
        labelled, _ = labelled_split(labels, num_labels, seed=settings["split_seed"])
        dev = config.device()
        codes = ssvae_m1(seed=seed).encode(images[labelled])[0].to(dev)
        per_epoch = math.ceil(num_labels / cfg["batch_size"])
        return loop.fit_classifier(
            net,
            codes,
            labels[labelled].to(dev),
            num_epochs=max(1, cfg["num_steps"] // per_epoch),
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            generator=torch.Generator(device="cpu").manual_seed(seed),
        )

    z_dim = settings["m1"]["z_dim"]
    return run(
        f"ssvae_m1_classifier_mnist_{num_labels}",
        make=lambda: _mlp([z_dim, *widths, NUM_CLASSES], torch.nn.ReLU),
        fit=fit,
        seed=seed,
        settings={k: v for k, v in settings.items() if k not in ("m2", "sweep", "race")}
        | {"classifier_hidden": widths},
        sources=[ssvae_module, __name__],
    )
