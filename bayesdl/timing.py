"""A stopwatch: the one way the book, its recipes and its benchmarks time code.

Example::

    >>> from bayesdl.timing import Stopwatch
    >>> with Stopwatch() as clock:
    ...     total = sum(range(1000))
    >>> clock.seconds >= 0.0
    True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

__all__ = ["Stopwatch"]


class Stopwatch:
    """Wall-clock seconds of a ``with`` block, with pauses left off the clock.

    ``seconds`` reads the time so far while the block runs and the final
    time after it; time spent inside :meth:`paused` is not counted (the
    training loop scores a model there after each epoch). A stopwatch can
    also be started by hand with :meth:`start` and read without a block.

    Example::

        >>> clock = Stopwatch().start()
        >>> with clock.paused():
        ...     pass                      # not on the clock
        >>> clock.seconds >= 0.0
        True
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None
        self._paused = 0.0

    def start(self) -> Stopwatch:
        """Start (or restart) the clock at zero and return the stopwatch."""
        self._start, self._stop, self._paused = time.perf_counter(), None, 0.0
        return self

    def stop(self) -> float:
        """Stop the clock and return the seconds it counted."""
        if self._start is None:
            raise RuntimeError("the stopwatch was never started; call start() first.")
        self._stop = time.perf_counter()
        return self.seconds

    @property
    def seconds(self) -> float:
        """Seconds counted: so far while running, in all once stopped."""
        if self._start is None:
            raise RuntimeError("the stopwatch was never started; call start() first.")
        end = time.perf_counter() if self._stop is None else self._stop
        return end - self._start - self._paused

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """A block whose time is left off the clock."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - began

    def __enter__(self) -> Stopwatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
