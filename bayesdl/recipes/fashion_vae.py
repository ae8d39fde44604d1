"""The Fashion-MNIST chapter's recipe: the VAE, its data split and its fit.

Example::

    >>> from bayesdl.recipes import fashion_vae
    >>> fashion_vae.vae_settings().latent_dim
    32
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import checks, config, data
from ..infer import loop, svi
from ._runner import (
    checked_settings,
    register,
    run,
)

__all__ = [
    "VAE_VARIANTS",
    "VAESettings",
    "vae_bayesian_head",
    "vae_continuous_bernoulli",
    "vae_data",
    "vae_fashion_mnist",
    "vae_fashion_mnist_variant",
    "vae_fit",
    "vae_settings",
    "vae_untrained",
]

VAE_VARIANTS: dict[str, dict[str, Any]] = {
    "geometric": {"schedule": "geometric", "final_lr": 1e-4},
}
"""Settings compared with :func:`vae_settings` on the validation set, by name:
what each changes (:func:`vae_fashion_mnist_variant` trains them)."""


def _choose(full: Any, smoke: Any) -> Any:
    return field(default_factory=lambda: config.choose(full=full, smoke=smoke))


@dataclass(frozen=True)
class VAESettings:
    """The architecture and training settings of the Fashion-MNIST VAE.

    ``num_val`` images of the training set are held out for validation
    (seeded split), the VAE trains on ``num_train`` of the rest; the profile
    picks the sizes. Change a field with :func:`dataclasses.replace`.

    Example::

        >>> s = VAESettings()
        >>> s.latent_dim, dataclasses.replace(s, num_epochs=1).num_epochs
        (32, 1)
    """

    num_train: int = _choose(55_000, 2_000)
    num_val: int = _choose(5_000, 500)
    num_epochs: int = _choose(12, 2)
    batch_size: int = 256
    lr: float = 8e-3
    final_lr: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = _choose(200, 4)
    latent_dim: int = 32
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "elu"


def vae_settings() -> VAESettings:
    """The settings of the current profile: ``VAESettings()``.

    Example::

        >>> vae_settings().latent_dim
        32
    """
    return VAESettings()


def vae_data(
    settings: VAESettings | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and validation images of :func:`vae_fashion_mnist`.

    :func:`bayesdl.data.train_validation_split` (seed 0) holds out
    ``num_val`` of Fashion-MNIST's 60,000 training images; the VAE trains
    on ``num_train`` of the rest (all of them in the full profile, a
    class-stratified seeded subset otherwise). The test set is never
    touched.

    Example::

        >>> train_x, val_x = vae_data()
    """
    settings = checked_settings(settings, vae_settings, "vae_settings")
    num_val = checks.positive_int("num_val", settings.num_val)
    num_train = checks.positive_int("num_train", settings.num_train)
    images, labels = data.load("fashion_mnist", "train")
    if num_val + num_train > len(images):
        raise ValueError(
            f"num_val + num_train is {num_val + num_train}, more than the "
            f"{len(images)} training images; lower num_train."
        )
    train, (val, _) = data.train_validation_split(images, labels, num_val, seed=0)
    if num_train < len(train[0]):
        train = data.subset(*train, num_train, seed=0)
    return train[0], val


def vae_untrained(settings: VAESettings | None = None) -> torch.nn.Module:
    """A freshly initialised VAE of :func:`vae_fashion_mnist`'s architecture.

    Example::

        >>> _ = torch.manual_seed(0)
        >>> vae = vae_untrained()
    """
    from ..models.vae import VAE

    settings = checked_settings(settings, vae_settings, "vae_settings")
    return VAE(
        settings.num_train,
        settings.latent_dim,
        settings.hidden,
        activation=settings.activation,
    )


def vae_fit(
    vae: torch.nn.Module,
    train_x: torch.Tensor,
    settings: VAESettings | None = None,
    *,
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    progress: bool | None = None,
) -> loop.FitResult:
    """Train ``vae`` on ``train_x`` as :func:`vae_fashion_mnist` does.

    One call of :func:`bayesdl.infer.fit_svi` in mini-batch mode with
    ``TraceMeanField_ELBO``, Adam and the learning-rate schedule of
    ``settings`` (default :func:`vae_settings`); ``seed`` seeds the order
    of the batches. ``python -m bayesdl bench vae`` trains through it too.

    Example::

        >>> train_x, _ = vae_data()
        >>> result = vae_fit(vae_untrained(), train_x)
    """
    import pyro

    settings = checked_settings(settings, vae_settings, "vae_settings")
    seed = checks.seed(seed)
    return svi.fit_svi(
        vae.model,
        vae.guide,
        data=(train_x,),
        batch_size=settings.batch_size,
        num_epochs=settings.num_epochs,
        lr=settings.lr,
        final_lr=settings.final_lr,
        schedule=settings.schedule,
        warmup_steps=settings.warmup_steps,
        optimizer_args={"fused": True},
        loss=pyro.infer.TraceMeanField_ELBO(),
        callback=callback,
        on_epoch_end=on_epoch_end,
        progress=progress,
        generator=torch.Generator(device="cpu").manual_seed(seed),
    )


def _train(
    name: str,
    settings: VAESettings,
    make: Callable[[], torch.nn.Module],
    sources: list[Any],
    seed: int,
) -> torch.nn.Module:
    """Train ``make()`` on :func:`vae_data` with :func:`vae_fit`; record per epoch.

    After every epoch (off the clock) the ELBO per image of the validation
    set and of as many training images (the first of the training split),
    by :func:`bayesdl.models.vae.elbo` with one draw each: the same
    estimator, so the two compare.
    """
    from ..models.vae import elbo

    def fit(vae: torch.nn.Module, seed: int):
        train_x, val_x = vae_data(settings)
        dev = config.device()
        train_x, val_x = train_x.to(dev), val_x.to(dev)
        seen_x = train_x[: len(val_x)]
        per_epoch = -(-len(train_x) // settings.batch_size)
        val_elbo: list[float] = []
        train_eval_elbo: list[float] = []

        def score(epoch: int) -> None:  # after each epoch, off the clock
            with torch.no_grad():
                val_elbo.append(float(elbo(vae, val_x).mean()))
                train_eval_elbo.append(float(elbo(vae, seen_x).mean()))

        result = vae_fit(vae, train_x, settings, seed=seed, on_epoch_end=score)
        per_image = -torch.tensor(result.losses, dtype=torch.float64) / len(train_x)
        history = {
            "train_elbo": per_image.view(-1, per_epoch).mean(1),
            "train_eval_elbo": torch.tensor(train_eval_elbo),
            "val_elbo": torch.tensor(val_elbo),
        }
        return result, history

    return run(
        name,
        make=make,
        fit=fit,
        settings=settings,
        seed=seed,
        sources=[__name__, *sources],
        history=("train_elbo", "train_eval_elbo", "val_elbo"),
    )


@register("vae_fashion_mnist", "the VAE of the Fashion-MNIST chapter")
def vae_fashion_mnist(*, seed: int = 0) -> torch.nn.Module:
    """The chapter's VAE, trained on Fashion-MNIST (see :func:`vae_settings`).

    Trained once per profile by mini-batch SVI with ``TraceMeanField_ELBO``
    through :func:`bayesdl.infer.fit_svi`, then loaded from the cache.
    Returns a :class:`~bayesdl.models.vae.VAE` in evaluation mode with
    ``losses`` (the loss of every step), ``train_seconds``, and per epoch
    ``train_elbo`` (mean training ELBO per image over the epoch's steps),
    ``train_eval_elbo`` (ELBO per image of ``num_val`` training images after
    the epoch) and ``val_elbo`` (ELBO per image of the validation set after
    the epoch).

    Example::

        >>> vae = vae_fashion_mnist()
        >>> images = vae.generate(16)
    """
    from ..models import vae as vae_module

    settings = vae_settings()
    return _train(
        "vae_fashion_mnist",
        settings,
        lambda: vae_untrained(settings),
        [vae_module],
        seed,
    )


@register("vae_fashion_mnist_variant", "the chapter's VAE with other settings")
def vae_fashion_mnist_variant(
    *, variant: str = "geometric", seed: int = 0
) -> torch.nn.Module:
    """The chapter's VAE trained with the settings of ``VAE_VARIANTS[variant]``.

    Everything else as :func:`vae_fashion_mnist` (data, epochs, records),
    so the validation ELBOs compare. ``"geometric"``: the learning rate
    warms up as the chapter's to the same peak, then decays geometrically
    to ``final_lr`` instead of along a cosine to zero.

    Example::

        other = vae_fashion_mnist_variant(variant="geometric")
        float(other.val_elbo[-1])
    """
    from ..models import vae as vae_module

    if variant not in VAE_VARIANTS:
        raise ValueError(
            f"variant must be one of {', '.join(map(repr, VAE_VARIANTS))}, "
            f"got {variant!r}."
        )
    settings = dataclasses.replace(vae_settings(), **VAE_VARIANTS[variant])
    return _train(
        f"vae_fashion_mnist_{variant}",
        settings,
        lambda: vae_untrained(settings),
        [vae_module],
        seed,
    )


def _short_settings() -> VAESettings:
    """The chapter's settings for the exercises' short runs."""
    return dataclasses.replace(
        vae_settings(), num_epochs=config.choose(full=3, smoke=1)
    )


@register("vae_continuous_bernoulli", "a short continuous-Bernoulli VAE")
def vae_continuous_bernoulli(*, seed: int = 0) -> torch.nn.Module:
    """The chapter's VAE with a continuous Bernoulli likelihood, trained briefly.

    A :class:`~bayesdl.models.vae_variants.ContinuousBernoulliVAE` of the
    chapter's architecture, trained as :func:`vae_fashion_mnist` but for
    fewer epochs (3 in the full profile); the same records per epoch.

    Example::

        cb = vae_continuous_bernoulli()
        cb.mean(cb.encode(images)[0])      # the pixels' means
    """
    from ..models import vae as vae_module
    from ..models import vae_variants

    settings = _short_settings()

    def make() -> torch.nn.Module:
        return vae_variants.ContinuousBernoulliVAE(
            settings.num_train,
            settings.latent_dim,
            settings.hidden,
            activation=settings.activation,
        )

    return _train(
        "vae_continuous_bernoulli", settings, make, [vae_module, vae_variants], seed
    )


@register("vae_bayesian_head", "a short VAE with a Bayesian last decoder layer")
def vae_bayesian_head(*, seed: int = 0) -> torch.nn.Module:
    """The chapter's VAE with a Bayesian last decoder layer, trained briefly.

    A :class:`~bayesdl.models.vae_variants.BayesianHeadVAE` (prior N(0, 1)
    on the head's weights) of the chapter's architecture, trained as
    :func:`vae_continuous_bernoulli` is.

    Example::

        vae = vae_bayesian_head()
        draws = vae.decode_draws(vae.encode(images)[0], 20)
    """
    from ..models import vae as vae_module
    from ..models import vae_variants

    settings = _short_settings()

    def make() -> torch.nn.Module:
        return vae_variants.BayesianHeadVAE(
            settings.num_train,
            settings.latent_dim,
            settings.hidden,
            activation=settings.activation,
        )

    return _train("vae_bayesian_head", settings, make, [vae_module, vae_variants], seed)
