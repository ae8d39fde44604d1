"""Learning-rate schedules of the training loops.

A schedule is named by a :class:`Schedule` (a ``str`` enum, so the plain
strings ``"geometric"``, ``"cosine"`` and ``"one_cycle"`` work too) and
built over a run's planned number of steps by :func:`scheduler`. The
one-cycle schedule is torch's own :class:`torch.optim.lr_scheduler.OneCycleLR`.

Example::

    >>> from bayesdl.infer.schedules import Schedule
    >>> Schedule("cosine") is Schedule.COSINE, Schedule.GEOMETRIC == "geometric"
    (True, True)
"""

from __future__ import annotations

import enum
import math

import torch

__all__ = ["Schedule", "scheduler"]


class Schedule(enum.StrEnum):
    """How the learning rate moves from ``lr`` to ``final_lr`` over a run.

    ``GEOMETRIC`` decays it geometrically (constant when ``final_lr`` is
    None); ``COSINE`` anneals it along half a cosine (to 0 when ``final_lr``
    is None); ``ONE_CYCLE`` is torch's ``OneCycleLR`` with ``lr`` as its
    peak: up from ``lr / 25`` along half a cosine over the warm-up (30% of
    the run unless ``warmup_steps`` says otherwise), then down along half a
    cosine to ``final_lr`` (default ``lr / 25 / 10**4``), with Adam's
    ``beta1`` (or SGD's momentum) cycled the other way, 0.95 to 0.85 and
    back.
    """

    GEOMETRIC = "geometric"
    COSINE = "cosine"
    ONE_CYCLE = "one_cycle"

    @classmethod
    def parse(cls, value: object) -> Schedule:
        """``value`` as a :class:`Schedule`, or a ValueError naming the choices."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(s.value) for s in cls)
            raise ValueError(
                f"schedule must be one of {choices}, got {value!r}."
            ) from None


def scheduler(
    optim: torch.optim.Optimizer,
    schedule: Schedule | str,
    lr: float,
    final_lr: float | None,
    warmup_steps: int,
    total: int,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate scheduler of a run of ``total`` steps (None: constant).

    With ``warmup_steps`` the rate of the first steps is also multiplied by
    a linear ramp, ``(step + 1) / warmup_steps``; for ``ONE_CYCLE`` they
    are the steps of its rising half.

    Example::

        >>> net = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.Adam(net.parameters(), lr=0.01)
        >>> sched = scheduler(opt, "one_cycle", 0.01, None, 30, 100)
        >>> type(sched).__name__, round(opt.param_groups[0]["lr"], 6)
        ('OneCycleLR', 0.0004)
    """
    schedule = Schedule.parse(schedule)
    if schedule is Schedule.ONE_CYCLE:
        return _one_cycle(optim, lr, final_lr, warmup_steps, total)
    span = max(1, total - 1)
    if schedule is Schedule.GEOMETRIC and not warmup_steps:
        if final_lr is None:
            return None
        return torch.optim.lr_scheduler.ExponentialLR(
            optim, (final_lr / lr) ** (1 / span)
        )
    cosine = schedule is Schedule.COSINE
    ratio = (0.0 if cosine else 1.0) if final_lr is None else final_lr / lr

    def factor(step: int) -> float:
        frac = min(step, span) / span
        if cosine:
            decay = ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * frac))
        else:
            decay = ratio**frac
        return decay * min(1.0, (step + 1) / warmup_steps) if warmup_steps else decay

    return torch.optim.lr_scheduler.LambdaLR(optim, factor)


def _one_cycle(
    optim: torch.optim.Optimizer,
    lr: float,
    final_lr: float | None,
    warmup_steps: int,
    total: int,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """torch's ``OneCycleLR`` over ``total`` steps, peaking at ``lr``."""
    if total < 2:  # one step: no cycle to run, the peak rate throughout
        return None
    start = lr / 25
    pct = 0.3 if not warmup_steps else min(warmup_steps, total - 1) / total
    final_div = 1e4 if final_lr is None else start / max(final_lr, 1e-12)
    return torch.optim.lr_scheduler.OneCycleLR(
        optim,
        max_lr=lr,
        total_steps=total,
        pct_start=pct,
        div_factor=25.0,
        final_div_factor=final_div,
    )
