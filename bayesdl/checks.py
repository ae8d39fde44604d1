"""The argument checks that every entry point of ``bayesdl`` shares.

Each check returns the value it accepted (converted where that is safe, e.g.
an ``int`` learning rate to ``float``) and raises ``ValueError`` with one
message per mistake, so that the same bad value gets the same words
wherever it is passed.

Example::

    >>> from bayesdl import checks
    >>> checks.positive_int("num_epochs", 3)
    3
    >>> checks.positive_int("num_epochs", True)
    Traceback (most recent call last):
    ValueError: num_epochs must be a positive int, got True.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

__all__ = [
    "IMAGE_SHAPE",
    "SEED_LIMIT",
    "finite_float",
    "images",
    "labels",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "probabilities",
    "seed",
    "widths",
]

IMAGE_SHAPE = (1, 28, 28)
"""The shape of one image of MNIST or Fashion-MNIST as ``bayesdl.data`` loads it."""


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` >= 1; ``bool`` is refused (``True`` is no count).

    Example::

        >>> positive_int("batch_size", 128)
        128
    """
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """``value`` as an ``int`` >= 0; ``bool`` is refused.

    Example::

        >>> non_negative_int("warmup_steps", 0)
        0
    """
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}.")
    return int(value)


SEED_LIMIT = 2**32
"""Seeds lie in ``[0, 2**32)``: the range that Python, NumPy, torch and Pyro
all accept (NumPy's global generator takes no more)."""


def seed(value: object, name: str = "seed") -> int:
    """A seed: an ``int`` (NumPy's too) in ``[0, 2**32)``.

    Example::

        >>> seed(0)
        0
    """
    if not _is_int(value) or not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be an int in [0, 2**32), got {value!r}.")
    return int(value)


def _real(name: str, value: object, what: str, accept) -> float:
    """The one core of the real-valued checks: ``value`` (a number, or a
    one-element tensor) as a finite ``float`` that ``accept`` takes, else
    ``ValueError("{name} must be {what}, got ...")``. ``bool`` is refused."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or not accept(number):
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return number


def finite_float(name: str, value: object) -> float:
    """``value`` as a finite ``float`` (``bool``, NaN and infinities refused).

    Example::

        >>> finite_float("shift", -2)
        -2.0
    """
    return _real(name, value, "a finite number", lambda v: True)


def positive_float(name: str, value: object) -> float:
    """``value`` as a finite ``float`` > 0 (a learning rate, a scale).

    Example::

        >>> positive_float("lr", 1e-3)
        0.001
    """
    return _real(name, value, "a positive finite number", lambda v: v > 0)


def non_negative_float(name: str, value: object) -> float:
    """``value`` as a finite ``float`` >= 0 (a final learning rate of 0).

    Example::

        >>> non_negative_float("final_lr", 0)
        0.0
    """
    return _real(name, value, "a non-negative finite number", lambda v: v >= 0)


def images(
    value: object, name: str = "images", *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Floating-point images of shape (N, 1, 28, 28), N >= 1, values in [0, 1].

    These are what ``bayesdl.data.load`` returns. The tensor is returned
    unchanged, or converted to ``dtype`` when given (a network's own dtype:
    float64 or float16 images then reach a float32 network as float32).

    Example::

        >>> x = images(torch.rand(5, 1, 28, 28))
        >>> images(x.double(), dtype=torch.float32).dtype
        torch.float32
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():
        raise ValueError(
            f"{name} must be floating point with values in [0, 1], got dtype "
            f"{value.dtype}; for uint8 pixels use {name}.float() / 255."
        )
    if value.ndim != 4 or tuple(value.shape[1:]) != IMAGE_SHAPE or len(value) == 0:
        raise ValueError(
            f"{name} must have shape (N, 1, 28, 28) with N >= 1, got "
            f"{tuple(value.shape)}; add a channel axis with {name}.unsqueeze(1)."
        )
    lo, hi = float(value.min()), float(value.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} values must lie in [0, 1], got the range [{lo:g}, {hi:g}]."
        )
    return value if dtype is None else value.to(dtype)


def widths(name: str, value: object, *, allow_empty: bool = False) -> list[int]:
    """A list of layer widths: a sequence of positive ints, e.g. ``[256, 128]``.

    Example::

        >>> widths("hidden", (256, 128))
        [256, 128]
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(
            f"{name} must be a list of layer widths such as [256, 128], got "
            f"{value!r}; for one layer write [{value!r}]."
        )
    if not value and not allow_empty:
        raise ValueError(f"{name} must list at least one layer width, got [].")
    return [positive_int(f"{name} width", w) for w in value]


def labels(
    value: object,
    n: int | None = None,
    num_classes: int = 10,
    name: str = "labels",
) -> torch.Tensor:
    """Integer class labels, shape (N,), values in ``0..num_classes-1``.

    ``n``, when given, is the required length. Any integer dtype is accepted
    and returned as ``int64`` (``torch.long``), which losses and indexing need.

    Example::

        >>> labels(torch.tensor([0, 3, 9], dtype=torch.int32)).dtype
        torch.int64
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
    if value.dtype.is_floating_point or value.dtype.is_complex or value.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-d integer tensor, got dtype {value.dtype} and "
            f"shape {tuple(value.shape)}."
        )
    if value.dtype == torch.bool:
        raise ValueError(f"{name} must be integer classes, got dtype torch.bool.")
    if n is not None and len(value) != n:
        raise ValueError(f"expected {n} {name} (one per image), got {len(value)}.")
    if len(value) and (int(value.min()) < 0 or int(value.max()) >= num_classes):
        raise ValueError(
            f"{name} must lie in 0..{num_classes - 1}, got the range "
            f"[{int(value.min())}, {int(value.max())}]."
        )
    return value.long()


def probabilities(
    value: object, *, samples: bool = False, name: str = "probs"
) -> torch.Tensor:
    """Class probabilities (N, C) or, with samples, (S, N, C); S, N >= 1, C >= 2.

    Finite, non-negative and summing to one over the last axis (to 1e-3).

    Example::

        >>> p = probabilities(torch.tensor([[0.2, 0.8]]))
    """
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point torch.Tensor of probabilities."
        )
    dims = (3,) if samples else (2, 3)
    shape = "(S, N, C)" if samples else "(N, C) or (S, N, C)"
    if value.ndim not in dims or value.shape[-1] < 2:
        raise ValueError(
            f"{name} must have shape {shape} with C >= 2, got {tuple(value.shape)}."
        )
    if any(s == 0 for s in value.shape[:-1]):
        raise ValueError(
            f"{name} must hold at least one sample and one item, got shape "
            f"{tuple(value.shape)}."
        )
    if not torch.isfinite(value).all() or (value < 0).any():
        raise ValueError(
            f"{name} must be finite and non-negative (probabilities, not logits)."
        )
    if not torch.allclose(value.sum(-1), value.new_ones(()), atol=1e-3):
        raise ValueError(
            f"{name} must sum to 1 over the last axis (class probabilities, not "
            "logits; apply .softmax(-1) first)."
        )
    return value
