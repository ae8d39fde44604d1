"""The reference posterior of the 1-D sine network, and the fits judged against it.

The network of the modules chapter, ``f(x) = w2 . relu(w1 x + b1) + b2``
with 50 hidden units (151 weights), all weights ``N(0, prior_scale^2)`` a
priori, and the noise scale learned, ``sigma ~ HalfNormal(sigma_scale)``.
The same program is written twice: in NumPyro (:func:`sine_bnn_numpyro`),
which the reference sampler runs, and in Pyro (:class:`SineBNN`), which
the variational fits use. Both name their sites ``w1, b1, w2, b2, sigma``.

The approximations judged against this reference live in
:mod:`bayesdl.recipes.sine_approx`.

:func:`nuts_sine` is registered in the zoo's registry and re-exported as
``bayesdl.zoo.nuts_sine``.

Example::

    >>> ref = nuts_sine()                       # cached after the first call
    >>> ref.predict(torch.linspace(-5, 5, 11), num_samples=100).shape
    torch.Size([100, 11])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroSample

from .. import cache, checks, config, data, infer
from ..infer import numpyro_nuts
from ._runner import register

__all__ = [
    "SITES",
    "NutsPosterior",
    "NutsSettings",
    "SineBNN",
    "network_function",
    "nuts_settings",
    "nuts_sine",
    "sine_bnn_numpyro",
    "sine_data",
]

SITES = ("w1", "b1", "w2", "b2", "sigma")
"""The latent sites of both programs, in the order of :func:`network_function`."""


def sine_data(n: int = 100, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The modules chapter's data: ``toy_sine(n, noise=0.1, seed=seed)``."""
    return data.toy_sine(n, noise=0.1, seed=seed)


# -- the model, in NumPyro ----------------------------------------------------
def sine_bnn_numpyro(x, y=None, *, hidden=50, prior_scale=1.0, sigma_scale=1.0):
    """The 1-hidden-layer ReLU network with a Gaussian likelihood, in NumPyro."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as nd

    prior = nd.Normal(0.0, prior_scale).expand([hidden]).to_event(1)
    w1 = numpyro.sample("w1", prior)
    b1 = numpyro.sample("b1", prior)
    w2 = numpyro.sample("w2", prior)
    b2 = numpyro.sample("b2", nd.Normal(0.0, prior_scale))
    sigma = numpyro.sample("sigma", nd.HalfNormal(sigma_scale))
    f = jnp.maximum(x[:, None] * w1 + b1, 0.0) @ w2 + b2
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("obs", nd.Normal(f, sigma), obs=y)
    return f


# -- end numpyro --------------------------------------------------------------


# -- the model, in Pyro -------------------------------------------------------
class SineBNN(PyroModule):
    """The same network and likelihood as a ``PyroModule``."""

    def __init__(self, hidden=50, prior_scale=1.0, sigma_scale=1.0):
        super().__init__()
        self.hidden = hidden
        self.register_buffer("prior_scale", torch.tensor(float(prior_scale)))
        self.register_buffer("sigma_scale", torch.tensor(float(sigma_scale)))
        layer = PyroSample(
            lambda self: (
                dist.Normal(0.0, self.prior_scale).expand([self.hidden]).to_event(1)
            )
        )
        self.w1, self.b1, self.w2 = layer, layer, layer
        self.b2 = PyroSample(lambda self: dist.Normal(0.0, self.prior_scale))
        self.sigma = PyroSample(lambda self: dist.HalfNormal(self.sigma_scale))

    def forward(self, x, y=None):
        """The model: ``y ~ N(f(x), sigma^2)``, one noise scale for every point."""
        f = torch.relu(x[:, None] * self.w1 + self.b1) @ self.w2 + self.b2
        sigma = self.sigma  # drawn here: inside the plate it would be N draws
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(f, sigma), obs=y)
        return f


# -- end pyro -----------------------------------------------------------------


def network_function(weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``f(x)`` for a batch of weight draws: ``weights[k]`` is ``(S, ...)``; ``(S, N)``.

    Example::

        >>> w = {k: torch.zeros(3, 4) for k in ("w1", "b1", "w2")}
        >>> network_function({**w, "b2": torch.ones(3)}, torch.zeros(5)).shape
        torch.Size([3, 5])
    """
    hidden = torch.relu(
        x[None, :, None] * weights["w1"][:, None] + weights["b1"][:, None]
    )
    return (hidden * weights["w2"][:, None]).sum(-1) + weights["b2"][:, None]


def _thin(num_draws: int, num_samples: int | None) -> torch.Tensor:
    if num_samples is None:
        return torch.arange(num_draws)
    num_samples = checks.positive_int("num_samples", num_samples)
    if num_samples > num_draws:
        raise ValueError(
            f"num_samples={num_samples} is more than the {num_draws} draws held."
        )
    return torch.linspace(0, num_draws - 1, num_samples).round().long()


class NutsPosterior:
    """NUTS draws of the sine network's weights and noise, with ``predict``.

    ``samples`` maps each site of :data:`SITES` to its draws, shape
    ``(chains, draws) + site_shape``; ``seconds`` and ``divergences`` are
    the run's; ``sigma`` is the noise scale's posterior mean.
    """

    def __init__(
        self, samples: dict[str, torch.Tensor], seconds: float, divergences: int
    ):
        self.samples = samples
        self.seconds = float(seconds)
        self.train_seconds = self.seconds  # what `python -m bayesdl train` reports
        self.divergences = int(divergences)
        self.num_chains, self.num_draws = samples["sigma"].shape[:2]
        self.sigma = float(samples["sigma"].mean())
        self.sigma_sd = float(samples["sigma"].std())

    def flat(self, name: str) -> torch.Tensor:
        """The draws of ``name`` with the chains pooled: ``(chains * draws, ...)``."""
        value = self.samples[name]
        return value.reshape(-1, *value.shape[2:])

    def function_draws(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x)`` at every draw, by chain: ``(chains, draws, N)``."""
        f = network_function({k: self.flat(k) for k in SITES[:4]}, x)
        return f.reshape(self.num_chains, self.num_draws, len(x))

    def predict(self, x: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """``(S, N)`` draws of ``f(x)``, evenly spaced over the pooled chains."""
        pick = _thin(self.num_chains * self.num_draws, num_samples)
        weights = {k: self.flat(k)[pick] for k in SITES[:4]}
        return network_function(weights, x.cpu()).to(x.device)


@dataclass(frozen=True)
class NutsSettings:
    """The reference run's settings; the profile picks its length.

    Change one with :func:`dataclasses.replace`, or pass it to
    :func:`nuts_sine` as a keyword (``nuts_sine(prior_scale=0.5)``).

    Example::

        >>> NutsSettings().hidden
        50
    """

    n: int = 100
    data_seed: int = 0
    hidden: int = 50
    prior_scale: float = 1.0
    sigma_scale: float = 1.0
    num_chains: int = 4
    warmup_steps: int = field(
        default_factory=lambda: config.choose(full=1000, smoke=30)
    )
    num_samples: int = field(default_factory=lambda: config.choose(full=1000, smoke=30))
    max_tree_depth: int = field(default_factory=lambda: config.choose(full=10, smoke=4))


def nuts_settings() -> NutsSettings:
    """The reference run's :class:`NutsSettings` in the current profile."""
    return NutsSettings()


def _validate(artifact: Any) -> None:
    if not isinstance(artifact, dict) or set(artifact) != {
        "samples",
        "seconds",
        "divergences",
    }:
        raise ValueError("the artifact is not a dict of samples, seconds, divergences.")
    samples = artifact["samples"]
    if set(samples) != set(SITES):
        raise ValueError(f"the artifact's samples are not the sites {SITES}.")
    for key, value in samples.items():
        if not torch.isfinite(value).all():
            raise ValueError(f"the artifact's {key!r} holds NaN or infinite values.")
    if not math.isfinite(artifact["seconds"]):
        raise ValueError("the artifact's run time is not finite.")


@register(
    "nuts_sine",
    "the NUTS reference posterior of the 1-D sine network",
    example=lambda: torch.linspace(-3.0, 3.0, 5),
)
def nuts_sine(*, seed: int = 0, **overrides: Any) -> NutsPosterior:
    """The reference posterior of the sine network by NumPyro's NUTS, cached.

    ``overrides`` change entries of :func:`nuts_settings` (``prior_scale``,
    ``hidden``, ``num_chains``, ``warmup_steps``, ``num_samples``,
    ``max_tree_depth``...); each set of settings is its own cache entry.

    Example::

        ref = nuts_sine()
        ref.samples["w1"].shape        # (chains, draws, hidden)
        # torch.Size([4, 1000, 50])
    """
    settings = nuts_settings()
    names = [f.name for f in fields(settings)]
    unknown = set(overrides) - set(names)
    if unknown:
        raise ValueError(
            f"unknown settings {sorted(unknown)}; the settings are {sorted(names)}."
        )
    settings = replace(settings, **overrides)
    seed = checks.seed(seed)

    def train() -> dict[str, Any]:
        x, y = sine_data(settings.n, seed=settings.data_seed)
        result = infer.run_numpyro_nuts(
            sine_bnn_numpyro,
            x,
            y,
            num_samples=settings.num_samples,
            warmup_steps=settings.warmup_steps,
            num_chains=settings.num_chains,
            seed=seed,
            max_tree_depth=settings.max_tree_depth,
            hidden=settings.hidden,
            prior_scale=settings.prior_scale,
            sigma_scale=settings.sigma_scale,
        )
        return {
            "samples": result.samples,
            "seconds": float(result.seconds),
            "divergences": int(result.divergences),
        }

    artifact = cache.train_or_load(
        "nuts_sine",
        train,
        settings=asdict(settings),
        seed=seed,
        sources=[__name__, numpyro_nuts],
        validate=_validate,
    )
    return NutsPosterior(
        artifact["samples"], artifact["seconds"], artifact["divergences"]
    )
