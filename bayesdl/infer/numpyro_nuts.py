"""NUTS with NumPyro: vectorised chains, for the reference posterior of a network.

Pyro's own sampler (:func:`bayesdl.infer.run_nuts`) is the book's route to
NUTS for small models. A network of a few hundred weights needs thousands of
gradient evaluations per chain; NumPyro (Pyro's JAX sibling, the same
modelling language) compiles the whole sampler and runs the chains side by
side, which makes such a reference a matter of minutes on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import checks
from ..timing import Stopwatch
from .loop import progress_enabled
from .nuts import NutsResult, check_counts

__all__ = ["run_numpyro_nuts"]


def run_numpyro_nuts(
    model: Callable,
    *args,
    num_samples: int,
    warmup_steps: int,
    num_chains: int = 4,
    seed: int = 0,
    max_tree_depth: int = 10,
    target_accept_prob: float = 0.8,
    progress: bool | None = None,
    **kwargs,
) -> NutsResult:
    """Sample the posterior of the NumPyro model ``model(*args, **kwargs)`` with NUTS.

    The chains run vectorised in one compiled program, each from its own
    random start (NumPyro's ``init_to_uniform``, drawn per chain from the
    key of ``seed``), with step size and a diagonal mass matrix adapted during
    ``warmup_steps``. Arrays among the arguments may be torch tensors: they
    are handed to JAX as NumPy arrays. The result has the shape of
    :func:`bayesdl.infer.run_nuts`'s: torch tensors of shape ``(chains,
    draws) + site_shape``, R-hat and ESS from ``pyro.ops.stats``, the
    divergent transitions after warm-up, and the wall time (compilation
    included).

    Example::

        import numpyro, numpyro.distributions as nd
        def model(y):
            mu = numpyro.sample("mu", nd.Normal(0.0, 1.0))
            numpyro.sample("y", nd.Normal(mu, 1.0), obs=y)
        result = run_numpyro_nuts(model, torch.randn(10), num_samples=500,
                                  warmup_steps=500)
        result.max_rhat, result.flat("mu").mean()
    """
    check_counts(num_samples, warmup_steps, num_chains)
    seed = checks.seed(seed)
    max_tree_depth = checks.positive_int("max_tree_depth", max_tree_depth)
    target_accept_prob = checks.positive_float("target_accept_prob", target_accept_prob)
    if not target_accept_prob < 1:
        raise ValueError(
            f"target_accept_prob must be in (0, 1), got {target_accept_prob!r}."
        )
    import jax
    from numpyro.infer import MCMC, NUTS
    from pyro.ops.stats import effective_sample_size, split_gelman_rubin

    def to_jax(value):
        if isinstance(value, torch.Tensor):
            return jax.numpy.asarray(value.detach().cpu().numpy())
        return value

    args = tuple(to_jax(a) for a in args)
    kwargs = {k: to_jax(v) for k, v in kwargs.items()}
    show = progress_enabled() if progress is None else progress
    kernel = NUTS(
        model, max_tree_depth=max_tree_depth, target_accept_prob=target_accept_prob
    )
    mcmc = MCMC(
        kernel,
        num_warmup=warmup_steps,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=show,
    )
    with Stopwatch() as clock:
        key = jax.random.PRNGKey(seed)
        mcmc.run(key, *args, extra_fields=("diverging",), **kwargs)
        grouped = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(grouped)
    seconds = clock.seconds
    if not grouped:
        raise ValueError(
            "the model has no latent sample site (every numpyro.sample is "
            "observed), so NUTS has nothing to sample."
        )
    samples = {
        k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in grouped.items()
    }
    divergences = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    rhat = {k: split_gelman_rubin(v, 0, 1) for k, v in samples.items()}
    ess = {k: effective_sample_size(v, 0, 1) for k, v in samples.items()}
    return NutsResult(samples, rhat, ess, divergences, seconds)
