import math

import pytest
import torch

from bayesdl import words


def test_zero_reads_exactly():
    assert words.agreement(0.0) == "exactly"
    assert words.agreement(torch.tensor(0.0)) == "exactly"


def test_a_small_difference_keeps_its_size():
    assert words.agreement(3.0e-7) == "to within 3.0e-07"
    assert words.agreement(torch.tensor(1.5e-13, dtype=torch.float64), digits=2) == (
        "to within 1.50e-13"
    )


@pytest.mark.parametrize("bad", [-1e-9, math.nan, math.inf])
def test_a_signed_or_missing_difference_is_refused(bad):
    with pytest.raises(ValueError, match="absolute difference"):
        words.agreement(bad)


def test_digits_must_be_a_count():
    with pytest.raises(ValueError, match="digits"):
        words.agreement(1e-3, digits=-1)


def test_a_tensor_in_a_graph_is_read_without_a_warning():
    import warnings

    x = torch.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert words.agreement((x * 0).abs()) == "exactly"
