"""Learning-rate schedules of the training loops.

A schedule is named by a :class:`Schedule` (a ``str`` enum, so the plain
strings ``"geometric"`` and ``"cosine"`` work too) and built over a run's
planned number of steps by :func:`scheduler`.

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
    is None).
    """

    GEOMETRIC = "geometric"
    COSINE = "cosine"

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
    a linear ramp, ``(step + 1) / warmup_steps``.
    """
    schedule = Schedule.parse(schedule)
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
