"""Inference: stochastic variational inference with a history, a clock and a
guard against divergence.

``fit_svi`` is the one training loop of the book. It runs full-batch steps,
or epochs of mini-batches when it is given ``data`` and a ``batch_size``.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.elbo import ELBO
from pyro.optim import PyroOptim

__all__ = [
    "DivergenceError",
    "FitResult",
    "NutsResult",
    "fit_svi",
    "progress_enabled",
    "run_nuts",
]


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite during training."""


@dataclass
class FitResult:
    """What ``fit_svi`` returns.

    ``losses`` holds one value per step (the ELBO loss, i.e. minus the ELBO,
    for the whole data set as the model scales it); ``seconds`` is the wall
    time of the loop; ``steps`` the number of optimisation steps taken.
    """

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    @property
    def final_loss(self) -> float:
        """Mean loss over the last tenth of the steps (at least one)."""
        if not self.losses:
            raise ValueError("no steps were taken, so there is no final loss.")
        k = max(1, len(self.losses) // 10)
        return float(sum(self.losses[-k:]) / k)


def progress_enabled() -> bool:
    """Whether training shows a progress bar.

    ``BAYESDL_PROGRESS=1``/``0`` decides when set. Otherwise progress is shown
    in an interactive terminal and hidden inside a Jupyter kernel (a built page
    would otherwise carry the bar's escape codes).
    """
    env = os.environ.get("BAYESDL_PROGRESS")
    if env is not None and env.strip() != "":
        return env.strip().lower() not in ("0", "false", "no", "off")
    if "ipykernel" in sys.modules:
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _LocalParamSVI(SVI):
    """``SVI`` whose step also works with ``module_local_params=True``.

    Pyro's own ``SVI.step`` calls ``.unconstrained()`` on every parameter it
    traces, but a ``PyroModule``'s plain ``nn.Parameter`` (an
    ``AutoMultivariateNormal``'s ``loc``, a network's weights) is traced
    as itself when parameters are module-local, and has no such method.
    """

    def step(self, *args, **kwargs):
        with pyro.poutine.trace(param_only=True) as capture:
            loss = self.loss_and_grads(self.model, self.guide, *args, **kwargs)
        params = {_leaf(site["value"]) for site in capture.trace.nodes.values()}
        self.optim(params)
        pyro.infer.util.zero_grads(params)
        return pyro.infer.util.torch_item(loss)


def _leaf(value: torch.Tensor) -> torch.Tensor:
    """The unconstrained tensor that a traced parameter value comes from."""
    ref = getattr(value, "unconstrained", None)
    return ref() if ref is not None else value


def _check_finite(loss: float, step: int, lr_hint: str) -> None:
    if not math.isfinite(loss):
        raise DivergenceError(
            f"the ELBO loss became {loss} at step {step}. Try a smaller learning "
            f"rate{lr_hint}, standardise the inputs, initialise the guide's "
            "scales smaller (e.g. init_scale=0.01), or check the data for NaN."
        )


def fit_svi(
    model: Callable,
    guide: Callable,
    *args,
    num_steps: int | None = None,
    num_epochs: int | None = None,
    data: Sequence[torch.Tensor] | None = None,
    batch_size: int | None = None,
    lr: float = 0.01,
    optim: PyroOptim | None = None,
    loss: ELBO | None = None,
    progress: bool | None = None,
    callback: Callable[[int, float], None] | None = None,
    generator: torch.Generator | None = None,
    **kwargs,
) -> FitResult:
    """Fit ``guide`` to the posterior of ``model`` by SVI and time it.

    Two ways to feed data:

    * full batch: ``fit_svi(model, guide, x, y, num_steps=2000)`` calls
      ``model(x, y)`` at every step;
    * mini-batches: ``fit_svi(model, guide, data=(x, y), batch_size=128,
      num_epochs=5)`` shuffles once per epoch and calls ``model(xb, yb,
      **kwargs)`` on index slices. The model must scale its likelihood to the
      full data set (a ``pyro.plate`` of the full size with the batch as
      ``subsample``), or the prior is over-weighted.

    ``optim`` defaults to ``pyro.optim.Adam({"lr": lr})`` and ``loss`` to
    ``Trace_ELBO()``. Training stops with :class:`DivergenceError`, naming the
    step, as soon as the loss is NaN or infinite. ``callback(step, loss)``
    is called after every step.

    Example::

        >>> result = fit_svi(model, guide, x, y, num_steps=1000, lr=0.05)
        >>> result.losses[-1], result.seconds
    """
    if data is None:
        if num_steps is None or num_epochs is not None or batch_size is not None:
            raise ValueError(
                "full-batch fitting takes num_steps (and no num_epochs or "
                "batch_size); pass data=(...) and batch_size for mini-batches."
            )
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}.")
    else:
        if args:
            raise ValueError(
                "pass the tensors either positionally or as data=, not both."
            )
        if num_epochs is None or batch_size is None or num_steps is not None:
            raise ValueError(
                "mini-batch fitting takes data=, batch_size= and num_epochs= "
                "(not num_steps)."
            )
        if not isinstance(num_epochs, int) or num_epochs < 1:
            raise ValueError(f"num_epochs must be a positive int, got {num_epochs!r}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        sizes = {len(t) for t in data}
        if len(sizes) != 1:
            raise ValueError(
                f"the tensors in data have different lengths {sorted(sizes)}; "
                "they must share the first dimension."
            )
    if not (isinstance(lr, int | float) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}.")

    lr_hint = f" (lr is {lr})" if optim is None else ""
    optim = optim if optim is not None else pyro.optim.Adam({"lr": lr})
    loss = loss if loss is not None else Trace_ELBO()
    svi = _LocalParamSVI(model, guide, optim, loss=loss)
    show = progress_enabled() if progress is None else progress

    result = FitResult()
    start = time.perf_counter()
    if data is None:
        bar = _bar(num_steps, show)
        for step in range(num_steps):
            value = float(svi.step(*args, **kwargs))
            _record(result, step, value, lr_hint, callback, bar)
        total = num_steps
    else:
        n = len(data[0])
        per_epoch = math.ceil(n / batch_size)
        total = per_epoch * num_epochs
        bar = _bar(total, show)
        step = 0
        for _ in range(num_epochs):
            order = torch.randperm(n, generator=generator, device=data[0].device)
            for i in range(per_epoch):
                idx = order[i * batch_size : (i + 1) * batch_size]
                batch = [t[idx] for t in data]
                value = float(svi.step(*batch, **kwargs))
                _record(result, step, value, lr_hint, callback, bar)
                step += 1
    if bar is not None:
        bar.close()
    result.seconds = time.perf_counter() - start
    result.steps = total
    return result


def _bar(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="SVI", unit="step", leave=False)


def _record(result, step, value, lr_hint, callback, bar):
    _check_finite(value, step, lr_hint)
    result.losses.append(value)
    if callback is not None:
        callback(step, value)
    if bar is not None:
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4g}")


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

        >>> result = run_nuts(model, x, y, num_samples=1000, warmup_steps=500)
        >>> result.max_rhat, result.min_ess, result.flat("weight").mean(0)
    """
    from pyro.infer import MCMC, NUTS
    from pyro.ops.stats import effective_sample_size, split_gelman_rubin

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
    kernel_keys = set(inspect.signature(NUTS).parameters) - {"model", "potential_fn"}
    kernel_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in kernel_keys}
    show = progress_enabled() if progress is None else progress

    chains: list[dict[str, torch.Tensor]] = []
    divergences = 0
    start = time.perf_counter()
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
    seconds = time.perf_counter() - start

    samples = {k: torch.cat([c[k] for c in chains]).detach() for k in chains[0]}
    rhat = {k: split_gelman_rubin(v, 0, 1) for k, v in samples.items()}
    ess = {k: effective_sample_size(v, 0, 1) for k, v in samples.items()}
    return NutsResult(samples, rhat, ess, divergences, seconds)
