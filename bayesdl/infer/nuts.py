"""NUTS for small models: Pyro's sampler, chains one after another, with diagnostics."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pyro
import torch

from .. import checks
from ..timing import Stopwatch
from .loop import progress_enabled

__all__ = ["NutsResult", "run_nuts"]


@dataclass
class NutsResult:
    """What ``run_nuts`` returns.

    ``samples`` maps each latent site to its draws with a leading chain
    dimension, shape ``(chains, draws) + site_shape``; ``rhat`` and ``ess`` map
    it to the split Gelman-Rubin statistic and the effective sample size of
    every element (shape of the site); ``divergences`` counts divergent
    transitions after warm-up over all chains; ``seconds`` is the wall time.
    """

    samples: dict[str, torch.Tensor]
    rhat: dict[str, torch.Tensor]
    ess: dict[str, torch.Tensor]
    divergences: int
    seconds: float

    @property
    def max_rhat(self) -> float:
        """The largest R-hat over all sites and elements (want <= 1.01)."""
        return max(float(v.max()) for v in self.rhat.values())

    @property
    def min_ess(self) -> float:
        """The smallest effective sample size over all sites and elements."""
        return min(float(v.min()) for v in self.ess.values())

    def flat(self, name: str) -> torch.Tensor:
        """The draws of site ``name`` with the chains pooled: (chains * draws, ...)."""
        if name not in self.samples:
            raise ValueError(f"no site {name!r}; the sites are {sorted(self.samples)}.")
        value = self.samples[name]
        return value.reshape(-1, *value.shape[2:])


def check_counts(num_samples: object, warmup_steps: object, num_chains: object):
    """Refuse draw, warm-up and chain counts that no NUTS run can use.

    Shared by :func:`run_nuts` and :func:`~bayesdl.infer.run_numpyro_nuts`.
    """
    for name, value in (
        ("num_samples", num_samples),
        ("warmup_steps", warmup_steps),
        ("num_chains", num_chains),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}.")
    if num_samples < 2 or warmup_steps < 0 or num_chains < 1:
        raise ValueError(
            "num_samples must be at least 2, warmup_steps non-negative and "
            f"num_chains positive; got {num_samples}, {warmup_steps}, {num_chains}."
        )


def run_nuts(
    model: Callable,
    *args,
    num_samples: int,
    warmup_steps: int,
    num_chains: int = 2,
    seed: int = 0,
    progress: bool | None = None,
    **kwargs,
) -> NutsResult:
    """Sample the posterior of ``model(*args)`` with NUTS, chains one after another.

    Chains run sequentially in this process (no multiprocessing, which breaks
    inside Jupyter), chain ``c`` seeded with ``seed + c`` through
    ``pyro.set_rng_seed`` (so the global random state changes). Keyword
    arguments that ``pyro.infer.NUTS`` accepts (``full_mass``,
    ``target_accept_prob``, ``max_tree_depth``, ``init_strategy``,
    ``jit_compile``, ...) go to the kernel; any others go to the model. Progress bars follow
    :func:`progress_enabled` unless ``progress`` is given. R-hat and ESS are
    computed across the chains with ``pyro.ops.stats``; they need at least
    two chains to detect chains that disagree.

    Example::

        result = run_nuts(model, x, y, num_samples=1000, warmup_steps=500)
        result.max_rhat, result.min_ess, result.flat("weight").mean(0)
    """
    from pyro.infer import MCMC, NUTS
    from pyro.ops.stats import effective_sample_size, split_gelman_rubin

    check_counts(num_samples, warmup_steps, num_chains)
    seed = checks.seed(seed)
    kernel_keys = set(inspect.signature(NUTS).parameters) - {"model", "potential_fn"}
    kernel_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in kernel_keys}
    _check_has_latents(model, args, kwargs)
    show = progress_enabled() if progress is None else progress

    chains: list[dict[str, torch.Tensor]] = []
    divergences = 0
    with Stopwatch() as clock:
        for chain in range(num_chains):
            pyro.set_rng_seed(seed + chain)
            mcmc = MCMC(
                NUTS(model, **kernel_kwargs),
                num_samples=num_samples,
                warmup_steps=warmup_steps,
                num_chains=1,
                disable_progbar=not show,
            )
            mcmc.run(*args, **kwargs)
            chains.append(mcmc.get_samples(group_by_chain=True))
            divergences += len(mcmc.diagnostics()["divergences"]["chain 0"])
    seconds = clock.seconds

    samples = {k: torch.cat([c[k] for c in chains]).detach() for k in chains[0]}
    rhat = {k: split_gelman_rubin(v, 0, 1) for k, v in samples.items()}
    ess = {k: effective_sample_size(v, 0, 1) for k, v in samples.items()}
    return NutsResult(samples, rhat, ess, divergences, seconds)


def _check_has_latents(model: Callable, args: tuple, kwargs: dict) -> None:
    """Refuse a model with no latent sample site: NUTS would have nothing to draw."""
    from pyro.poutine.util import site_is_subsample

    with pyro.poutine.block():
        trace = pyro.poutine.trace(model).get_trace(*args, **kwargs)
    latent = [
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
    ]
    if not latent:
        raise ValueError(
            "the model has no latent sample site (every pyro.sample is observed), "
            "so NUTS has nothing to sample; add a pyro.sample without obs=."
        )
