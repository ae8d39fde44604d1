"""The shared argument checks: one message per mistake, the same everywhere."""

from __future__ import annotations

import math

import pytest
import torch

from bayesdl import checks


@pytest.mark.parametrize(
    ("check", "good", "bad", "words"),
    [
        (
            checks.finite_float,
            [-2, 0, 1.5, torch.tensor(3.0)],
            [math.nan, math.inf],
            "a finite number",
        ),
        (
            checks.positive_float,
            [1e-3, 2, torch.tensor([0.5])],
            [0, -1.0, math.inf],
            "a positive finite number",
        ),
        (
            checks.non_negative_float,
            [0, 0.0, 7],
            [-1e-9, math.nan],
            "a non-negative finite number",
        ),
    ],
)
def test_real_valued_checks_accept_numbers_and_name_the_mistake(
    check, good, bad, words
):
    for value in good:
        out = check("lr", value)
        assert isinstance(out, float) and out == float(value)
    for value in [*bad, True, "0.1", None, torch.ones(2)]:
        with pytest.raises(ValueError, match=f"^lr must be {words}, got "):
            check("lr", value)


def test_int_checks_refuse_bools_and_floats():
    assert checks.positive_int("n", 3) == 3
    assert checks.non_negative_int("n", 0) == 0
    for value in (True, 2.0, 0, -1):
        with pytest.raises(ValueError, match="n must be a positive int"):
            checks.positive_int("n", value)
