"""The package's training loops.

:func:`fit_svi` fits any Pyro model and guide by SVI, full batch or in
mini-batches, with a loss history, a clock and a guard against divergence;
:func:`fit_classifier` trains an ordinary classifier the same way by
maximum likelihood. Both draw their mini-batches from :func:`batches`.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyro
import torch
import torch.nn.functional as F
from pyro.infer import Trace_ELBO
from pyro.infer.elbo import ELBO

from .. import checks

__all__ = [
    "DivergenceError",
    "FitResult",
    "batches",
    "fit_classifier",
    "fit_deterministic",
    "fit_svi",
    "progress_enabled",
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


def batches(
    *tensors: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
) -> Iterator[list[torch.Tensor]]:
    """One epoch of mini-batches of in-memory tensors, as index slices.

    The tensors share their first dimension N; the order is a fresh random
    permutation drawn from ``generator`` (or torch's global generator), or
    ``0..N-1`` with ``shuffle=False``. The last batch may be smaller. Every
    training loop of the package draws its batches here.

    Example::

        >>> x, y = torch.randn(10, 2), torch.arange(10)
        >>> [len(b[0]) for b in batches(x, y, batch_size=4)]
        [4, 4, 2]
    """
    n = _common_length(tensors)
    batch_size = checks.positive_int("batch_size", batch_size)
    device = tensors[0].device
    if shuffle:
        order = torch.randperm(n, generator=generator, device="cpu").to(device)
    else:
        order = torch.arange(n, device=device)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield [t[idx] for t in tensors]


def _common_length(tensors: Sequence[object]) -> int:
    if not tensors:
        raise ValueError("need at least one tensor to draw batches from.")
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        kinds = ", ".join(type(t).__name__ for t in tensors)
        raise ValueError(f"data must be torch tensors, got {kinds}.")
    sizes = {len(t) if t.ndim else -1 for t in tensors}
    if len(sizes) != 1:
        raise ValueError(
            f"the tensors have different lengths {sorted(sizes)}; they must "
            "share the first dimension."
        )
    n = sizes.pop()
    if n < 1:
        raise ValueError("the data has no rows: each tensor needs at least one.")
    return n


def _epoch_source(data: object, batch_size: int | None, generator):
    """A function that returns one epoch of batches, and the batches per epoch."""
    if isinstance(data, tuple | list):
        if batch_size is None:
            raise ValueError("data given as tensors needs batch_size=.")
        n = _common_length(data)
        batch_size = checks.positive_int("batch_size", batch_size)
        per_epoch = math.ceil(n / batch_size)
        return (lambda: batches(*data, batch_size=batch_size, generator=generator)), (
            per_epoch
        )
    if isinstance(data, torch.Tensor):
        raise ValueError(
            "data must be a tuple of tensors, e.g. data=(x,) or data=(x, y), or "
            "an iterable of batches; got a single tensor."
        )
    if not (hasattr(data, "__iter__") and hasattr(data, "__len__")):
        raise ValueError(
            "data must be a tuple of tensors (x, y, ...) or an iterable of "
            f"batches with a length, got {type(data).__name__}."
        )
    if batch_size is not None:
        raise ValueError(
            "batch_size= is for data given as tensors; an iterable of batches "
            "sets its own batch size."
        )
    per_epoch = checks.positive_int("len(data)", len(data))
    return (lambda: iter(data)), per_epoch


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


_SCHEDULES = ("geometric", "cosine")


def _scheduler(
    optim: torch.optim.Optimizer,
    schedule: str,
    lr: float,
    final_lr: float | None,
    warmup_steps: int,
    total: int,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of :func:`fit_svi` (None: constant)."""
    span = max(1, total - 1)
    if schedule == "geometric" and not warmup_steps:
        if final_lr is None:
            return None
        return torch.optim.lr_scheduler.ExponentialLR(
            optim, (final_lr / lr) ** (1 / span)
        )
    ratio = (
        (0.0 if schedule == "cosine" else 1.0) if final_lr is None else final_lr / lr
    )

    def factor(step: int) -> float:
        frac = min(step, span) / span
        if schedule == "cosine":
            decay = ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * frac))
        else:
            decay = ratio**frac
        return decay * min(1.0, (step + 1) / warmup_steps) if warmup_steps else decay

    return torch.optim.lr_scheduler.LambdaLR(optim, factor)


def _divergence(step: int, value: object, lr: float) -> DivergenceError:
    """The error of a run that diverged at ``step``.

    ``value`` is the loss (NaN or infinite), or the message of Pyro's
    validation when a distribution got invalid parameters (a NaN mean, a
    negative scale): that message is quoted, since it names the cause.
    """
    if isinstance(value, float):
        what = f"the ELBO loss became {value}"
    else:
        reason = str(value).strip().splitlines()[0] if value else ""
        what = "a distribution got invalid parameters" + (
            f" (Pyro: {reason})" if reason else ""
        )
    return DivergenceError(
        f"{what} at step {step}. Try a smaller learning "
        f"rate (lr is {lr}), standardise the inputs, initialise the guide's "
        "scales smaller (e.g. init_scale=0.01), or check the data for NaN."
    )


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
    it along half a cosine from ``lr`` to ``final_lr`` (default 0). With
    ``warmup_steps`` the rate of the first steps is also multiplied by a
    linear ramp, ``(step + 1) / warmup_steps``, which keeps a large ``lr``
    from throwing a freshly initialised network off course. ``loss``
    defaults to ``Trace_ELBO()``. Training stops with
    :class:`DivergenceError`, naming the step, as soon as the loss is NaN or
    infinite (or Pyro's validation finds invalid values). ``callback(step,
    loss)`` is called after every step; ``on_epoch_end(epoch)`` after every
    epoch (for example to score a validation set), and its time is kept off
    the clock: ``seconds`` counts training alone.

    Example::

        result = fit_svi(model, guide, x, y, num_steps=1000, lr=0.05)
        result.losses[-1], result.seconds
    """
    lr = checks.positive_float("lr", lr)
    if schedule not in _SCHEDULES:
        raise ValueError(
            f"schedule must be one of {', '.join(map(repr, _SCHEDULES))}, "
            f"got {schedule!r}."
        )
    if final_lr is not None:
        if schedule == "cosine":
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
        epoch, per_epoch = _epoch_source(data, batch_size, generator)
        total = per_epoch * num_epochs
    _check_optimizer(optimizer, optimizer_args)
    for name, fn in (("model", model), ("guide", guide)):
        if not callable(fn):
            raise ValueError(
                f"{name} must be a callable (a function or module), got "
                f"{type(fn).__name__}; call fit_svi(model, guide, ...)."
            )

    elbo = (loss if loss is not None else Trace_ELBO())(model, guide)
    show = progress_enabled() if progress is None else progress
    bar = _bar(total, show)
    result = FitResult()
    optim = sched = None
    step = 0
    start = time.perf_counter()
    paused = 0.0
    for epoch_index in range(num_epochs):
        seen = 0
        for batch in epoch():
            seen += 1
            if seen > per_epoch:
                raise ValueError(_length_message(data, per_epoch, "more"))
            if not isinstance(batch, tuple | list):
                raise ValueError(
                    "each batch must be a tuple of the model's arguments, e.g. "
                    f"(x,) or (x, y); the data yielded a {type(batch).__name__}."
                )
            try:
                if optim is None:
                    # Autoguides create their parameters on the first call:
                    # trace it to find every parameter, then build the optimizer.
                    with pyro.poutine.trace(param_only=True) as capture:
                        value = elbo(*batch, **kwargs)
                    optim = optimizer(
                        _parameters(elbo, capture.trace),
                        lr=lr,
                        **(optimizer_args or {}),
                    )
                    if not isinstance(optim, torch.optim.Optimizer):
                        raise ValueError(
                            "optimizer(params, lr=...) must return a "
                            f"torch.optim.Optimizer, got {type(optim).__name__}."
                        )
                    sched = _scheduler(
                        optim, schedule, lr, final_lr, warmup_steps, total
                    )
                else:
                    value = elbo(*batch, **kwargs)
            except ValueError as err:
                if step > 0 and "invalid values" in str(err):
                    raise _divergence(step, str(err), lr) from err
                raise
            number = float(value.detach())
            if not math.isfinite(number):
                raise _divergence(step, number, lr)
            optim.zero_grad(set_to_none=True)
            value.backward()
            optim.step()
            if sched is not None:
                sched.step()
            result.losses.append(number)
            if callback is not None:
                callback(step, number)
            if bar is not None:
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{number:.4g}")
            step += 1
        if seen < per_epoch:
            raise ValueError(_length_message(data, per_epoch, f"only {seen}"))
        if on_epoch_end is not None:
            pause_start = time.perf_counter()
            on_epoch_end(epoch_index)
            paused += time.perf_counter() - pause_start
    if bar is not None:
        bar.close()
    result.seconds = time.perf_counter() - start - paused
    result.steps = step
    return result


def _length_message(data: object, per_epoch: int, got: str) -> str:
    return (
        f"the data yielded {got} batches in an epoch, but len(data) says "
        f"{per_epoch}: the run's length and its learning-rate schedule are "
        "planned from len(data), so an iterable must yield exactly len(data) "
        f"batches per epoch ({type(data).__name__})."
    )


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


def fit_classifier(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    final_lr: float | None = None,
    generator: torch.Generator | None = None,
) -> FitResult:
    """Train a classifier ``net(x) -> logits`` on labels ``y`` by maximum likelihood.

    The ordinary network's counterpart of :func:`fit_svi`: mean
    cross-entropy over batches from :func:`batches`, Adam with the learning
    rate decaying geometrically from ``lr`` to ``final_lr`` (default
    ``lr / 10``). The loss recorded per step is the batch's mean
    cross-entropy; a NaN or infinite loss raises :class:`DivergenceError`.

    Example::

        result = fit_classifier(LeNet(), images, labels, num_epochs=5)
    """
    inputs, labels = x, y
    if not isinstance(net, torch.nn.Module):
        raise ValueError(f"net must be a torch.nn.Module, got {type(net).__name__}.")
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor.")
    labels = checks.labels(labels, len(inputs), num_classes=2**62)
    num_epochs = checks.positive_int("num_epochs", num_epochs)
    batch_size = checks.positive_int("batch_size", batch_size)
    lr = checks.positive_float("lr", lr)
    final_lr = (
        lr / 10 if final_lr is None else checks.positive_float("final_lr", final_lr)
    )
    if len(inputs) == 0:
        raise ValueError("x has no rows.")
    total = num_epochs * math.ceil(len(inputs) / batch_size)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    gamma = (final_lr / lr) ** (1.0 / max(1, total - 1))
    sched = torch.optim.lr_scheduler.ExponentialLR(optim, gamma)
    result = FitResult()
    net.train()
    start = time.perf_counter()
    for _ in range(num_epochs):
        for xb, yb in batches(
            inputs, labels, batch_size=batch_size, generator=generator
        ):
            loss = F.cross_entropy(net(xb), yb)
            number = loss.item()
            if not math.isfinite(number):
                raise _divergence(len(result.losses), number, lr)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            result.losses.append(number)
    result.seconds = time.perf_counter() - start
    result.steps = len(result.losses)
    return result


def fit_deterministic(*args, **kwargs) -> FitResult:
    """Deprecated name of :func:`fit_classifier` (removed in the next release)."""
    warnings.warn(
        "fit_deterministic is now fit_classifier; the old name goes in the next "
        "release.",
        DeprecationWarning,
        stacklevel=2,
    )
    return fit_classifier(*args, **kwargs)


def _bar(total: int, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="SVI", unit="step", leave=False)
