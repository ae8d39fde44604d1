"""Tests of bayesdl.data.toy: the toy data sets and seeded subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bayesdl.data as data

# --------------------------------------------------------------------------
# Subsets


def test_subset_is_stratified_and_seeded():
    images, labels = data.load("mnist", "test")
    xs, ys = data.subset(images, labels, 1000, seed=0)
    assert xs.shape == (1000, 1, 28, 28) and ys.shape == (1000,)
    full = labels.bincount(minlength=10).double() / len(labels)
    part = ys.bincount(minlength=10).double() / len(ys)
    assert (full - part).abs().max().item() < 0.002
    again = data.subset(images, labels, 1000, seed=0)
    assert torch.equal(again[0], xs) and torch.equal(again[1], ys)
    other = data.subset(images, labels, 1000, seed=1)
    assert not torch.equal(other[0], xs)


def test_subset_random_and_edges():
    x = torch.arange(20.0).unsqueeze(1)
    y = torch.tensor([0] * 15 + [1] * 5)
    xs, ys = data.subset(x, y, 4, seed=3)
    assert ys.tolist() == [0, 0, 0, 1]
    assert torch.equal(xs[:, 0], xs[:, 0].sort().values)  # original order kept
    xr, _ = data.subset(x, y, 5, seed=3, stratify=False)
    assert len(xr.unique()) == 5
    assert torch.equal(data.subset(x, y, 20)[0], x)
    assert torch.equal(data.subset(x, y, np.int64(4), seed=3)[1], ys)
    for bad in (0, 21, 2.5, True, "3"):
        with pytest.raises(ValueError):
            data.subset(x, y, bad)
    with pytest.raises(ValueError, match="as long as images"):
        data.subset(x, y[:-1], 3)
    with pytest.raises(ValueError, match="seed"):
        data.subset(x, y, 3, seed=-1)
    with pytest.raises(ValueError, match="integer class labels"):
        data.subset(x, y.float(), 3)


# --------------------------------------------------------------------------
# Toy data


@pytest.mark.parametrize(
    "make", [data.toy_regression, data.toy_sine, data.toy_classification]
)
def test_toy_data_is_seeded(make):
    x1, y1 = make(50, seed=0)
    x2, y2 = make(50, seed=0)
    x3, _ = make(50, seed=1)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.dtype == torch.float32 and len(x1) == len(y1) == 50


def test_toy_data_is_unchanged_by_the_move():
    # The values drawn before the package split, so the chapters' numbers stay.
    x, y = data.toy_regression(3, seed=0)
    assert x.tolist() == pytest.approx([11.5409966, 9.7065716, 7.8212109], abs=1e-5)
    assert y.tolist() == pytest.approx([13.1711130, 10.6936531, 8.8397913], abs=1e-5)


def test_toy_regression_follows_its_line():
    x, y = data.toy_regression(4000, intercept=-1.0, slope=2.0, noise=0.1)
    assert x.shape == (4000,) and y.dtype == torch.float32
    design = torch.stack([torch.ones_like(x), x], dim=1).double()
    coef = torch.linalg.lstsq(design, y.double().unsqueeze(1)).solution.squeeze()
    assert abs(coef[0].item() + 1.0) < 0.1 and abs(coef[1].item() - 2.0) < 0.01
    assert abs(x.mean().item() - 10.0) < 0.1


def test_toy_sine_has_a_gap():
    x, y = data.toy_sine(200, noise=0.0)
    assert ((x.abs() >= 1) & (x.abs() <= 3)).all()
    assert (x < 0).sum().item() == 100
    assert torch.allclose(y, torch.sin(x))


def test_toy_classification_moons():
    x, y = data.toy_classification(101, noise=0.0)
    assert x.shape == (101, 2) and y.dtype == torch.int64
    assert y.bincount().tolist() == [50, 51]
    upper = x[y == 0]
    assert torch.allclose(upper.norm(dim=1), torch.ones(50), atol=1e-5)
    lower = x[y == 1] - torch.tensor([1.0, 0.5])
    assert torch.allclose(lower.norm(dim=1), torch.ones(51), atol=1e-5)


@pytest.mark.parametrize(
    "make,kwargs,match",
    [
        (data.toy_regression, {"n": 0}, "n must be a positive int"),
        (data.toy_regression, {"noise": -0.1}, "noise must not be negative"),
        (data.toy_regression, {"x_scale": 0.0}, "x_scale must be a positive"),
        (data.toy_regression, {"slope": float("nan")}, "slope must be a finite"),
        (data.toy_regression, {"seed": -1}, "seed must be an int"),
        (data.toy_regression, {"seed": True}, "seed must be an int"),
        (data.toy_regression, {"n": 10.0}, "n must be a positive int"),
        (data.toy_sine, {"n": 1}, "n must be at least 2"),
        (data.toy_sine, {"noise": "0.1"}, "noise must be a finite"),
        (data.toy_classification, {"n": True}, "n must be a positive int"),
        (data.toy_classification, {"noise": float("inf")}, "noise must be a finite"),
    ],
)
def test_toy_data_rejects_bad_arguments(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)
