"""Words chosen from numbers, for sentences that the chapters glue.

A sentence such as "the two agree to 0.0e+00" reads oddly when the
difference is exactly zero; :func:`agreement` picks the words from the
number, so that the page never says more (or less) than the code measured.

Example::

    >>> agreement(0.0)
    'exactly'
    >>> agreement(2.5e-7)
    'to within 2.5e-07'
"""

from __future__ import annotations

import math

__all__ = ["agreement"]


def agreement(difference: float, *, digits: int = 1) -> str:
    """How closely two computations agree, in words: ``exactly`` or ``to within d``.

    ``difference`` is the absolute difference between the two results (a
    float, or anything with ``float()``, such as a 0-d tensor); ``digits``
    the number of decimals of its scientific notation. A negative or
    non-finite difference is an error: it means the caller did not take
    the absolute value, or one of the two results is NaN.

    Example::

        >>> agreement(1.234e-13, digits=2)
        'to within 1.23e-13'
    """
    if hasattr(difference, "detach"):  # a tensor, perhaps part of a graph
        difference = difference.detach()
    value = float(difference)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"difference must be a finite number >= 0 (an absolute difference); "
            f"got {value!r}. Take abs() of the difference, and check both "
            f"results for NaN."
        )
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be an int >= 0; got {digits!r}.")
    if value == 0.0:
        return "exactly"
    return f"to within {value:.{digits}e}"
