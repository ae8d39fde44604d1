"""bayesdl.parallel: independent runs in one-thread processes, results in order."""

from __future__ import annotations

import math
import operator
from functools import partial

import pytest
import torch

from bayesdl import parallel


def test_results_come_back_in_the_order_of_the_items():
    items = [5, 1, 4, 2, 3]
    got = parallel.map_processes(math.factorial, items, workers=2, first=lambda n: n)
    assert got == [math.factorial(n) for n in items]


def test_a_partial_of_a_module_function_runs_in_the_processes():
    got = parallel.map_processes(partial(operator.mul, 3), [1, 2, 3], workers=2)
    assert got == [3, 6, 9]


def test_each_process_has_one_thread_and_the_package_set_up():
    got = parallel.map_processes(_threads, [0, 1], workers=2)
    assert got == [(1, True), (1, True)]


def _threads(_):
    import pyro

    return torch.get_num_threads(), pyro.settings.get("module_local_params")


def test_an_error_in_a_process_is_raised_here():
    with pytest.raises(ValueError, match="math domain error"):
        parallel.map_processes(math.sqrt, [4.0, -1.0], workers=2)


def test_one_worker_runs_here_in_order():
    calls = []
    got = parallel.map_processes(lambda n: calls.append(n) or n * 2, [3, 1], workers=1)
    assert got == [6, 2] and calls == [3, 1]
    with pytest.raises(ValueError, match="workers"):
        parallel.map_processes(abs, [1], workers=0)
    assert parallel.default_workers() >= 1
