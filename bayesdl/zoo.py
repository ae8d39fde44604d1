"""The book's trained models, one call away.

Each function trains its model once per profile (and seed, and version of
the code that trains it), caches it with :func:`bayesdl.cache.train_or_load`,
and loads it from the cache on every later call. The chapters call the same
functions, so after a build of the book the calls are instant. The recipes
live in :mod:`bayesdl.recipes`, one file per chapter; this module gathers
them and their :data:`REGISTRY`.

Example::

    >>> import bayesdl
    >>> bnn = bayesdl.zoo.bnn_mnist()
    >>> test_x, test_y = bayesdl.data.load("mnist", "test")
    >>> probs = bnn.predict(test_x, num_samples=20)    # (20, 10000, 10)
"""

from __future__ import annotations

from .recipes._runner import EXAMPLES, REGISTRY, register
from .recipes.fashion_vae import (
    VAE_VARIANTS,
    vae_bayesian_head,
    vae_continuous_bernoulli,
    vae_data,
    vae_fashion_mnist,
    vae_fashion_mnist_variant,
    vae_fit,
    vae_settings,
    vae_untrained,
)
from .recipes.mnist_active import (
    active_curve,
    active_curves,
    active_data,
    active_lr,
    active_settings,
)
from .recipes.mnist_alternatives import (
    LastLayerLaplace,
    alternatives_settings,
    dropout_mnist,
    dropout_rate_mnist,
    ensemble_mnist,
    laplace_mnist,
    temperature_mnist,
)
from .recipes.mnist_bnn import bnn_mnist, lenet_mnist, mnist_data, mnist_settings
from .recipes.mnist_ssvae import (
    SSVAE_LABEL_COUNTS,
    ssvae_data,
    ssvae_m1,
    ssvae_mnist,
    ssvae_settings,
    ssvae_untrained,
)
from .recipes.mnist_ssvae_baselines import (
    ssvae_baseline_mnist,
    ssvae_m1_classifier_mnist,
)
from .recipes.sine_reference import nuts_sine

__all__ = [
    "EXAMPLES",
    "REGISTRY",
    "load",
    "LastLayerLaplace",
    "active_curve",
    "active_curves",
    "active_data",
    "active_lr",
    "active_settings",
    "alternatives_settings",
    "dropout_mnist",
    "dropout_rate_mnist",
    "ensemble_mnist",
    "laplace_mnist",
    "mnist_data",
    "temperature_mnist",
    "SSVAE_LABEL_COUNTS",
    "VAE_VARIANTS",
    "bnn_mnist",
    "lenet_mnist",
    "mnist_settings",
    "nuts_sine",
    "register",
    "ssvae_baseline_mnist",
    "ssvae_data",
    "ssvae_m1",
    "ssvae_m1_classifier_mnist",
    "ssvae_mnist",
    "ssvae_settings",
    "ssvae_untrained",
    "vae_bayesian_head",
    "vae_continuous_bernoulli",
    "vae_data",
    "vae_fashion_mnist",
    "vae_fashion_mnist_variant",
    "vae_fit",
    "vae_settings",
    "vae_untrained",
]


def load(name: str, **kwargs):
    """The registered model ``name``, trained first if no cache entry has it.

    ``kwargs`` go to its zoo function (``seed=``, and what the recipe takes).

    Example::

        net = load("lenet_mnist", seed=1)      # the same as lenet_mnist(seed=1)
    """
    if name not in REGISTRY:
        raise ValueError(
            f"no zoo model is named {name!r}; the registry has "
            f"{', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[name][0](**kwargs)
