import time

import pytest

from bayesdl.timing import Stopwatch


def test_a_block_is_timed_and_the_time_stays_fixed_after_it():
    with Stopwatch() as clock:
        time.sleep(0.02)
    first = clock.seconds
    time.sleep(0.02)
    assert 0.015 < first == clock.seconds


def test_paused_time_is_left_off_the_clock():
    with Stopwatch() as clock:
        with clock.paused():
            time.sleep(0.05)
    assert clock.seconds < 0.04


def test_reading_a_stopwatch_never_started_says_how_to_start_it():
    with pytest.raises(RuntimeError, match="start"):
        _ = Stopwatch().seconds
    with pytest.raises(RuntimeError, match="start"):
        Stopwatch().stop()
