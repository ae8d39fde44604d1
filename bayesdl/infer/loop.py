"""The package's training loop, and the two fits built on it.

:func:`train_loop` is the one loop: it feeds a step function epoch by
epoch, records every loss, keeps the clock (with per-epoch hooks off it),
shows progress, and stops a run whose loss diverges (:func:`finite_loss`,
the guard that Lightning's module and the benchmarks share).
:func:`~bayesdl.infer.svi.fit_svi` fits any Pyro model and guide by SVI on
it, full batch or in mini-batches; :func:`fit_classifier` trains an ordinary
classifier by maximum likelihood on it. Their batches come from
:mod:`bayesdl.infer.feeding`, their learning-rate schedules from
:mod:`bayesdl.infer.schedules`.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import checks
from ..timing import Stopwatch
from .feeding import batches
from .schedules import Schedule, scheduler

__all__ = [
    "DivergenceError",
    "FitResult",
    "batches",
    "fit_classifier",
    "fit_deterministic",
    "finite_loss",
    "progress_enabled",
    "train_loop",
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


def finite_loss(step: int, value: torch.Tensor | float, lr: float) -> float:
    """The loss of ``step`` as a float, or :class:`DivergenceError` if it is
    NaN or infinite (naming the step and what to try).

    The guard of every training loop of the package, Lightning's included.

    Example::

        >>> finite_loss(3, torch.tensor(0.25), lr=0.01)
        0.25
    """
    number = float(value.detach() if isinstance(value, torch.Tensor) else value)
    if not math.isfinite(number):
        raise _divergence(step, number, lr)
    return number


def train_loop(
    step: Callable[[int, Sequence], float],
    epoch: Callable[[], Iterable],
    *,
    num_epochs: int,
    per_epoch: int,
    data: object = None,
    progress: bool | None = None,
    callback: Callable[[int, float], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> FitResult:
    """Run ``step(index, batch) -> loss`` over ``num_epochs`` epochs of batches.

    ``epoch()`` returns one epoch's batches, ``per_epoch`` of them (more or
    fewer is an error: the run's length and schedule are planned from it).
    Every loss is recorded; ``callback(index, loss)`` runs after each step
    and ``on_epoch_end(epoch)`` after each epoch, off the clock, so that
    ``seconds`` counts training alone. The step owns the optimiser and the
    guard (:func:`finite_loss`).

    Example::

        result = train_loop(step, lambda: batches(x, y, batch_size=32),
                            num_epochs=3, per_epoch=math.ceil(len(x) / 32))
    """
    show = progress_enabled() if progress is None else progress
    bar = _bar(num_epochs * per_epoch, show)
    result = FitResult()
    clock = Stopwatch().start()
    for epoch_index in range(num_epochs):
        seen = 0
        for batch in epoch():
            seen += 1
            if seen > per_epoch:
                raise ValueError(_length_message(data, per_epoch, "more"))
            number = step(len(result.losses), batch)
            result.losses.append(number)
            if callback is not None:
                callback(len(result.losses) - 1, number)
            if bar is not None:
                bar.update(1)
                if len(result.losses) % 50 == 1:
                    bar.set_postfix(loss=f"{number:.4g}")
        if seen < per_epoch:
            raise ValueError(_length_message(data, per_epoch, f"only {seen}"))
        if on_epoch_end is not None:
            with clock.paused():
                on_epoch_end(epoch_index)
    if bar is not None:
        bar.close()
    result.seconds = clock.stop()
    result.steps = len(result.losses)
    return result


def _length_message(data: object, per_epoch: int, got: str) -> str:
    return (
        f"the data yielded {got} batches in an epoch, but len(data) says "
        f"{per_epoch}: the run's length and its learning-rate schedule are "
        "planned from len(data), so an iterable must yield exactly len(data) "
        f"batches per epoch ({type(data).__name__})."
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
    schedule: str = "geometric",
    warmup_steps: int = 0,
    generator: torch.Generator | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> FitResult:
    """Train a classifier ``net(x) -> logits`` on labels ``y`` by maximum likelihood.

    The ordinary network's counterpart of :func:`fit_svi`: mean
    cross-entropy over batches from :func:`batches` and Adam, with the
    learning rate of ``schedule`` (:class:`~bayesdl.infer.schedules.Schedule`):
    by default decaying geometrically from ``lr`` to ``final_lr`` (default
    ``lr / 10``); ``"one_cycle"`` is torch's ``OneCycleLR`` peaking at
    ``lr`` after ``warmup_steps`` (default 30% of the run). The loss
    recorded per step is the batch's mean cross-entropy; a NaN or infinite
    loss raises :class:`DivergenceError`. ``on_epoch_end(epoch)`` runs
    after every epoch, off the clock (to score a validation set, say).

    Example::

        result = fit_classifier(LeNet(), images, labels, num_epochs=5)
    """
    if not isinstance(net, torch.nn.Module):
        raise ValueError(f"net must be a torch.nn.Module, got {type(net).__name__}.")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor.")
    y = checks.labels(y, len(x), num_classes=2**62)
    num_epochs = checks.positive_int("num_epochs", num_epochs)
    batch_size = checks.positive_int("batch_size", batch_size)
    lr = checks.positive_float("lr", lr)
    schedule = Schedule.parse(schedule)
    warmup_steps = checks.non_negative_int("warmup_steps", warmup_steps)
    if final_lr is not None:
        final_lr = checks.positive_float("final_lr", final_lr)
    elif schedule is Schedule.GEOMETRIC:
        final_lr = lr / 10
    if len(x) == 0:
        raise ValueError("x has no rows.")
    per_epoch = math.ceil(len(x) / batch_size)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    sched = scheduler(
        optim, schedule, lr, final_lr, warmup_steps, num_epochs * per_epoch
    )

    def step(index: int, batch: Sequence[torch.Tensor]) -> float:
        xb, yb = batch
        loss = F.cross_entropy(net(xb), yb)
        number = finite_loss(index, loss, lr)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if sched is not None:
            sched.step()
        return number

    def epoch_end(index: int) -> None:
        on_epoch_end(index)
        net.train()  # the hook may have put the network in evaluation mode

    net.train()
    return train_loop(
        step,
        lambda: batches(x, y, batch_size=batch_size, generator=generator),
        num_epochs=num_epochs,
        per_epoch=per_epoch,
        progress=False,
        on_epoch_end=None if on_epoch_end is None else epoch_end,
    )


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
