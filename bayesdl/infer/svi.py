"""Stochastic variational inference on the package's one training loop.

:func:`fit_svi` fits any Pyro model and guide by SVI, full batch or in
mini-batches, with a loss history, a clock, a learning-rate schedule and a
guard against divergence (:func:`bayesdl.infer.loop.train_loop`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyro
import torch
from pyro.infer import Trace_ELBO
from pyro.infer.elbo import ELBO

from .. import checks
from .feeding import epoch_source
from .loop import FitResult, _divergence, finite_loss, train_loop
from .schedules import Schedule, scheduler

__all__ = ["fit_svi"]


def _parameters(elbo: torch.nn.Module, trace) -> list[torch.Tensor]:
    """The leaf tensors to optimise.

    The parameters of the model and the guide when they are modules (or
    bound methods of modules, such as ``vae.model``), plus any ``pyro.param``
    of the global store that they reached in ``trace``.
    """
    params = {id(p): p for p in elbo.parameters()}
    for fn in (elbo.model, elbo.guide):
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, torch.nn.Module):
            params.update((id(p), p) for p in owner.parameters())
    for site in trace.nodes.values():
        value = site["value"]
        ref = getattr(value, "unconstrained", None)
        leaf = ref() if ref is not None else value
        if isinstance(leaf, torch.Tensor) and leaf.requires_grad and leaf.is_leaf:
            params.setdefault(id(leaf), leaf)
    return list(params.values())


def fit_svi(
    model: Callable,
    guide: Callable,
    *args,
    num_steps: int | None = None,
    num_epochs: int | None = None,
    data: Sequence[torch.Tensor] | Iterable | None = None,
    batch_size: int | None = None,
    lr: float = 0.01,
    final_lr: float | None = None,
    schedule: str = "geometric",
    warmup_steps: int = 0,
    optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
    optimizer_args: dict[str, Any] | None = None,
    loss: ELBO | None = None,
    progress: bool | None = None,
    callback: Callable[[int, float], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    generator: torch.Generator | None = None,
    **kwargs,
) -> FitResult:
    """Fit ``guide`` to the posterior of ``model`` by SVI and time it.

    Pyro's route for parameters that live in their modules: the ELBO is
    used as a module, ``elbo = loss(model, guide)``, whose parameters (the
    model's and the guide's) a torch optimizer updates; ``elbo(*batch)`` is
    the loss, minus the ELBO. Three ways to feed data:

    * full batch: ``fit_svi(model, guide, x, y, num_steps=2000)`` calls
      ``model(x, y)`` at every step;
    * mini-batches: ``fit_svi(model, guide, data=(x, y), batch_size=128,
      num_epochs=5)`` draws each epoch's batches from :func:`batches`;
    * any iterable of batches with a length (a sampler of your own), as
      ``data=sampler`` with ``num_epochs``: iterated once per epoch.

    With mini-batches the model must scale its likelihood to the full data
    set (a ``pyro.plate`` of the full size with the batch as ``subsample``),
    or the prior is over-weighted. Keyword arguments go to the model and the
    guide at every step.

    ``optimizer`` (default Adam) is built as ``optimizer(params, lr=lr,
    **optimizer_args)``. The learning rate follows ``schedule`` over the
    run's steps: ``"geometric"`` decays it geometrically from ``lr`` to
    ``final_lr`` (constant when ``final_lr`` is None); ``"cosine"`` anneals
    it along half a cosine from ``lr`` to ``final_lr`` (default 0);
    ``"one_cycle"`` is torch's ``OneCycleLR``, rising from ``lr / 25`` to
    the peak ``lr`` over ``warmup_steps`` (default 30% of the run) and
    falling to ``final_lr`` (default ``lr / 25 / 10**4``). With
    ``warmup_steps`` the rate of the first steps of the other two is also
    multiplied by a linear ramp, ``(step + 1) / warmup_steps``, which keeps
    a large ``lr`` from throwing a freshly initialised network off course. ``loss``
    defaults to ``Trace_ELBO()``. Training stops with
    :class:`DivergenceError`, naming the step, as soon as the loss is NaN or
    infinite (or Pyro's validation finds invalid values). ``callback(step,
    loss)`` is called after every step; ``on_epoch_end(epoch)`` after every
    epoch (for example to score a validation set), and its time is kept off
    the clock: ``seconds`` counts training alone. When the model is a
    module (or a method of one) with a ``validate_batch`` method, it is
    called on the first batch, so that a batch the model cannot score is
    refused with the model's own message before any step, while ``model``
    and ``guide`` check nothing on every step.

    Example::

        result = fit_svi(model, guide, x, y, num_steps=1000, lr=0.05)
        result.losses[-1], result.seconds
    """
    lr = checks.positive_float("lr", lr)
    schedule = Schedule.parse(schedule)
    if final_lr is not None:
        if schedule is not Schedule.GEOMETRIC:
            final_lr = checks.non_negative_float("final_lr", final_lr)
        else:
            final_lr = checks.positive_float("final_lr", final_lr)
    warmup_steps = checks.non_negative_int("warmup_steps", warmup_steps)
    if data is None:
        if num_steps is None or num_epochs is not None or batch_size is not None:
            raise ValueError(
                "full-batch fitting takes num_steps (and no num_epochs or "
                "batch_size); pass data=(...) and batch_size for mini-batches."
            )
        total = checks.positive_int("num_steps", num_steps)
        for i, t in enumerate(args):
            if isinstance(t, torch.Tensor) and t.ndim and len(t) == 0:
                raise ValueError(f"argument {i} of the model has no rows.")

        def epoch():
            return (args for _ in range(total))

        per_epoch, num_epochs = total, 1
    else:
        if args:
            raise ValueError(
                "pass the tensors either positionally or as data=, not both."
            )
        if num_epochs is None or num_steps is not None:
            raise ValueError(
                "mini-batch fitting takes data= and num_epochs= (not num_steps)."
            )
        num_epochs = checks.positive_int("num_epochs", num_epochs)
        epoch, per_epoch = epoch_source(data, batch_size, generator)
        total = per_epoch * num_epochs
    _check_optimizer(optimizer, optimizer_args)
    for name, fn in (("model", model), ("guide", guide)):
        if not callable(fn):
            raise ValueError(
                f"{name} must be a callable (a function or module), got "
                f"{type(fn).__name__}; call fit_svi(model, guide, ...)."
            )

    elbo = (loss if loss is not None else Trace_ELBO())(model, guide)
    state: dict[str, Any] = {}

    def first_loss(batch: Sequence) -> torch.Tensor:
        # The model's own checks of a batch run once, here, not in every step.
        check = getattr(_owner(model), "validate_batch", None)
        if callable(check):
            check(*batch, **kwargs)
        # Autoguides create their parameters on the first call: trace it to
        # find every parameter, then build the optimizer and the schedule.
        with pyro.poutine.trace(param_only=True) as capture:
            value = elbo(*batch, **kwargs)
        optim = optimizer(
            _parameters(elbo, capture.trace), lr=lr, **(optimizer_args or {})
        )
        if not isinstance(optim, torch.optim.Optimizer):
            raise ValueError(
                "optimizer(params, lr=...) must return a "
                f"torch.optim.Optimizer, got {type(optim).__name__}."
            )
        state["optim"] = optim
        state["sched"] = scheduler(optim, schedule, lr, final_lr, warmup_steps, total)
        return value

    def step(index: int, batch: Sequence) -> float:
        if not isinstance(batch, tuple | list):
            raise ValueError(
                "each batch must be a tuple of the model's arguments, e.g. "
                f"(x,) or (x, y); the data yielded a {type(batch).__name__}."
            )
        try:
            value = elbo(*batch, **kwargs) if state else first_loss(batch)
        except ValueError as err:
            if index > 0 and "invalid values" in str(err):
                raise _divergence(index, str(err), lr) from err
            raise
        number = finite_loss(index, value, lr)
        optim, sched = state["optim"], state["sched"]
        optim.zero_grad(set_to_none=True)
        value.backward()
        optim.step()
        if sched is not None:
            sched.step()
        return number

    return train_loop(
        step,
        epoch,
        num_epochs=num_epochs,
        per_epoch=per_epoch,
        data=data,
        progress=progress,
        callback=callback,
        on_epoch_end=on_epoch_end,
    )


def _owner(fn: object) -> object:
    """The module behind ``fn``: ``fn`` itself, or the module of a bound method."""
    return fn if isinstance(fn, torch.nn.Module) else getattr(fn, "__self__", None)


def _check_optimizer(optimizer: object, optimizer_args: object) -> None:
    """Refuse what ``optimizer(params, lr=lr, **optimizer_args)`` cannot build."""
    from pyro.optim import PyroOptim

    torch_class = isinstance(optimizer, type) and issubclass(
        optimizer, torch.optim.Optimizer
    )  # torch's own, or one such as pyro.optim.ClippedAdam
    pyro_optim = not torch_class and (
        isinstance(optimizer, PyroOptim)
        or getattr(optimizer, "__module__", "").startswith("pyro.optim")
    )
    if pyro_optim:
        raise ValueError(
            "fit_svi takes a torch optimizer class such as torch.optim.Adam, "
            "not Pyro's wrapper pyro.optim.Adam: it optimises the modules' "
            "parameters directly (pass lr= and optimizer_args= for the rest)."
        )
    if not callable(optimizer):
        raise ValueError(
            "optimizer must be a torch optimizer class such as torch.optim.Adam, "
            f"got {optimizer!r}."
        )
    if optimizer_args is None:
        return
    if not isinstance(optimizer_args, dict):
        raise TypeError(
            f"optimizer_args must be a dict such as {{'weight_decay': 1e-4}}, got "
            f"{optimizer_args!r}."
        )
    if "lr" in optimizer_args:
        raise ValueError(
            "pass the learning rate as fit_svi(lr=...), not in optimizer_args: "
            "the schedule starts from it."
        )
