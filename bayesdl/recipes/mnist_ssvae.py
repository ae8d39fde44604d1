"""The semi-supervised chapter's recipes: M1, M1+M2 and the supervised baselines.

A stratified tenth of MNIST's training images is held out as a validation
set (:func:`ssvae_data`); the models train on the rest. The supervised
peers are in :mod:`~bayesdl.recipes.mnist_ssvae_baselines`.

Example::

    >>> from bayesdl.recipes import mnist_ssvae
    >>> mnist_ssvae.ssvae_settings().m2.batch_size
    200
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import checks, config, data
from ..data.splits import labelled_split, stratified_split
from ..infer import loop, svi
from ..infer.feeding import MixedBatches
from ..models import ssvae as ssvae_module
from ..models.m1 import M1
from ..models.ssvae import SSVAE
from ..timing import Stopwatch
from ._runner import register, run

__all__ = [
    "SSVAE_LABEL_COUNTS",
    "SSVAESettings",
    "paper_alpha",
    "ssvae_data",
    "ssvae_m1",
    "ssvae_mnist",
    "ssvae_settings",
    "ssvae_untrained",
]


SSVAE_LABEL_COUNTS = (100, 600, 1000, 3000)
"""The numbers of labelled MNIST images that :func:`ssvae_mnist` supports."""


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


def _choose(full: Any, smoke: Any) -> Any:
    return field(default_factory=lambda: config.choose(full=full, smoke=smoke))


@dataclass(frozen=True)
class M1Settings:
    """M1: the VAE trained on all training images, whose code is M2's input."""

    latent_dim: int = 50
    hidden: int = 500
    num_epochs: int = _choose(10, 2)
    batch_size: int = 250
    lr: float = _choose(1e-3, 3e-3)
    final_lr: float = 2e-4


@dataclass(frozen=True)
class M2Settings:
    """M2 on M1's code (``code_draws``: on draws of it rather than its mean)."""

    latent_dim: int = 32
    hidden: int = 500
    classifier_hidden: tuple[int, ...] = (500,)
    alpha: float = 3000.0
    code_draws: bool = False
    batch_size: int = 200
    labelled_per_batch: int = 32
    num_epochs: int = _choose(8, 2)
    lr: float = 3e-3
    final_lr: float = 3e-4


@dataclass(frozen=True)
class BaselineSettings:
    """The supervised-only classifiers, trained on the labelled images alone."""

    num_steps: int = _choose(1_000, 40)
    batch_size: int = 100
    lr: float = 1e-3


@dataclass(frozen=True)
class Candidate:
    """One setting of M2 in the validation sweep."""

    alpha: float
    code_draws: bool


def _candidates() -> tuple[Candidate, ...]:
    paper = paper_alpha(config.choose(full=50_000, smoke=3_500), 100)
    return (Candidate(paper, False), Candidate(3000.0, False), Candidate(3000.0, True))


@dataclass(frozen=True)
class SweepSettings:
    """Settings of M2 compared on the validation set (100 labels, short runs)."""

    num_labels: int = 100
    num_epochs: int = _choose(2, 1)
    candidates: tuple[Candidate, ...] = field(default_factory=_candidates)


@dataclass(frozen=True)
class RaceSettings:
    """The short runs that race enumeration against sampling."""

    num_labels: int = 100
    num_epochs: int = _choose(2, 1)
    sampled_epochs: int = _choose(6, 2)
    seeds: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class SSVAESettings:
    """The sizes and training settings of the semi-supervised VAE (M1+M2).

    ``num_val`` training images are held out for validation and the models
    train on ``num_train`` others; ``split_seed`` draws both splits and the
    labelled subsets. ``m1``, ``m2``, ``baseline``, ``sweep`` and ``race``
    hold the settings of each part. The profile picks the sizes.

    Example::

        >>> s = SSVAESettings()
        >>> s.m2.batch_size, dataclasses.replace(s.m2, num_epochs=1).num_epochs
        (200, 1)
    """

    num_train: int = _choose(50_000, 3_500)
    num_val: int = _choose(10_000, 500)
    split_seed: int = 0
    m1: M1Settings = field(default_factory=M1Settings)
    m2: M2Settings = field(default_factory=M2Settings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)
    race: RaceSettings = field(default_factory=RaceSettings)


def ssvae_settings() -> SSVAESettings:
    """The settings of the current profile: ``SSVAESettings()``."""
    return SSVAESettings()


def _key(settings: SSVAESettings, *parts: str) -> dict[str, Any]:
    """The sizes, the split and the named parts: what a model's key covers."""
    key = {k: getattr(settings, k) for k in ("num_train", "num_val", "split_seed")}
    return key | {p: dataclasses.asdict(getattr(settings, p)) for p in parts}


def ssvae_data(
    settings: SSVAESettings | None = None, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST images and labels of the semi-supervised models.

    ``split="train"``: the ``num_train`` images the models train on;
    ``split="val"``: the ``num_val`` held-out validation images, both from
    MNIST's training set (:func:`bayesdl.data.splits.stratified_split`).

    Example::

        >>> images, labels = ssvae_data()
        >>> val_x, val_y = ssvae_data(split="val")
    """
    settings = ssvae_settings() if settings is None else settings
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}.")
    images, labels = data.load("mnist", "train")
    train, val = stratified_split(
        labels, settings.num_val, num_train=settings.num_train, seed=settings.split_seed
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


def _m1(settings: SSVAESettings) -> M1:
    m1 = settings.m1
    return M1(settings.num_train, m1.latent_dim, m1.hidden)


@register("ssvae_m1", "the M1 VAE whose code the semi-supervised VAE reads (MNIST)")
def ssvae_m1(*, seed: int = 0) -> M1:
    """M1: the VAE trained on the models' training images, no labels used.

    Its code is the input of the stacked model :func:`ssvae_mnist`. Returns
    a :class:`~bayesdl.models.m1.M1` with ``losses`` and ``train_seconds``.

    Example::

        m1 = ssvae_m1()
        loc, scale = m1.encode(images)
    """
    import pyro

    settings = ssvae_settings()
    cfg = settings.m1

    def fit(m1: M1, seed: int) -> loop.FitResult:
        images, _ = ssvae_data(settings)
        return svi.fit_svi(
            m1.model,
            m1.guide,
            data=(images.to(config.device()),),
            batch_size=cfg.batch_size,
            num_epochs=cfg.num_epochs,
            lr=cfg.lr,
            final_lr=cfg.final_lr,
            loss=pyro.infer.Trace_ELBO(),
            generator=torch.Generator(device="cpu").manual_seed(seed),
        )

    return run(
        "ssvae_m1",
        make=lambda: _m1(settings),
        fit=fit,
        settings=_key(settings, "m1"),
        seed=seed,
        sources=[ssvae_module, __name__],
    )


def ssvae_untrained(
    settings: SSVAESettings, num_labels: int, enumerate_labels: bool = True
) -> SSVAE:
    """A freshly initialised M1+M2 of :func:`ssvae_mnist`'s architecture."""
    m2 = settings.m2
    return SSVAE(
        num_labels,
        settings.num_train - num_labels,
        features=_m1(settings),
        latent_dim=m2.latent_dim,
        hidden=m2.hidden,
        classifier_hidden=m2.classifier_hidden,
        alpha=m2.alpha,
        enumerate_labels=enumerate_labels,
    )


def _variant(settings: SSVAESettings, **changes: Any) -> tuple[SSVAESettings, str]:
    """The settings with M2's ``changes`` (None: unchanged), and a name suffix."""
    changes = {k: v for k, v in changes.items() if v is not None}
    m2 = dataclasses.replace(settings.m2, **changes)
    suffix = ""
    if m2.num_epochs != settings.m2.num_epochs:
        suffix += f"_{m2.num_epochs}ep"
    if m2.alpha != settings.m2.alpha:
        suffix += f"_alpha{m2.alpha:g}"
    if m2.code_draws != settings.m2.code_draws:
        suffix += "_draws" if m2.code_draws else "_means"
    return dataclasses.replace(settings, m2=m2), suffix


@register("ssvae_mnist", "the semi-supervised VAE (M1+M2) of the MNIST chapter")
def ssvae_mnist(
    *,
    num_labels: int = 100,
    seed: int = 0,
    enumerate_labels: bool = True,
    num_epochs: int | None = None,
    alpha: float | None = None,
    code_draws: bool | None = None,
) -> SSVAE:
    """The chapter's semi-supervised VAE, trained with ``num_labels`` labels.

    ``num_labels`` (100, 600, 1000 or 3000) of the training images of
    :func:`ssvae_data` keep their label (:func:`~bayesdl.data.splits.labelled_split`).
    M2 runs on the code of :func:`ssvae_m1` with mixed mini-batches, summing
    out the missing labels (or, with ``enumerate_labels=False``, sampling
    them). ``num_epochs``, ``alpha`` and ``code_draws`` replace the settings'
    values (the sweep and the race). Returns a
    :class:`~bayesdl.models.ssvae.SSVAE` with ``losses``, ``train_seconds``
    (M2's; M1's is ``features.train_seconds``) and ``val_accuracy`` (of
    q(y|x) on the validation images after each epoch).

    Example::

        ss = ssvae_mnist(num_labels=100)
        probs = ss.predict(test_images)          # (1, N, 10)
        sevens = ss.generate(y=torch.full((8,), 7))
    """
    from pyro.infer import TraceEnum_ELBO

    num_labels = check_num_labels(num_labels)
    for name, flag in (
        ("enumerate_labels", enumerate_labels),
        ("code_draws", code_draws),
    ):
        if flag is not None and not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}.")
    if num_epochs is not None:
        num_epochs = checks.positive_int("num_epochs", num_epochs)
    if alpha is not None:
        alpha = checks.positive_float("alpha", alpha)
    settings, suffix = _variant(
        ssvae_settings(), num_epochs=num_epochs, alpha=alpha, code_draws=code_draws
    )
    suffix = ("" if enumerate_labels else "_sampled") + suffix
    cfg = settings.m2

    def fit(ss: SSVAE, seed: int):
        images, labels = ssvae_data(settings)
        val_x, val_y = ssvae_data(settings, "val")
        labelled, _ = labelled_split(labels, num_labels, seed=settings.split_seed)
        m1 = ssvae_m1(seed=seed)
        ss.features.load_state_dict(m1.state_dict())
        with Stopwatch() as clock:
            codes = ss.code(images)  # M1's code, once for the whole training set
        scales = None
        if cfg.code_draws:  # M2 reads a fresh draw of M1's code each time
            chunks = [
                m1.encode(images[i : i + 5000]) for i in range(0, len(images), 5000)
            ]
            scales = torch.cat([scale for _, scale in chunks]).to(codes.device)
        val_codes, val_y = ss.code(val_x), val_y.to(config.device())
        sampler = MixedBatches(
            codes,
            labels.to(config.device()),
            labelled,
            batch_size=cfg.batch_size,
            labelled_per_batch=cfg.labelled_per_batch,
            seed=seed,
            scales=scales,
        )
        accuracy: list[float] = []

        def evaluate(epoch: int) -> None:  # after each epoch, off the clock
            with torch.no_grad():
                pred = ss.q_y(val_codes).logits.argmax(-1)
            accuracy.append(float((pred == val_y).double().mean()))

        torch.manual_seed(seed)
        result = svi.fit_svi(
            ss.model,
            ss.guide,
            data=sampler,
            num_epochs=cfg.num_epochs,
            lr=cfg.lr,
            final_lr=cfg.final_lr,
            loss=TraceEnum_ELBO(
                max_plate_nesting=1, strict_enumeration_warning=enumerate_labels
            ),
            on_epoch_end=evaluate,
        )
        result.seconds += clock.seconds
        history = {
            "val_accuracy": torch.tensor(accuracy),
            "m1_seconds": float(m1.train_seconds),
        }
        return result, history

    ss = run(
        f"ssvae_mnist_{num_labels}{suffix}",
        make=lambda: ssvae_untrained(settings, num_labels, enumerate_labels),
        fit=fit,
        settings=_key(settings, "m1", "m2"),
        seed=seed,
        sources=[ssvae_module, __name__],
        history=("val_accuracy",),
        numbers=("m1_seconds",),
    )
    # M2's record holds M1's weights (features.*) and training time: a
    # missing M1 entry is neither retrained nor needed here.
    ss.features.train_seconds = ss.m1_seconds
    return ss
