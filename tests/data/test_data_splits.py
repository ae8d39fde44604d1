"""Seeded, class-stratified splits: validation hold-out and labelled subsets."""

from __future__ import annotations

import pytest
import torch

from bayesdl.data.splits import labelled_split, stratified_split


def _labels(n_per_class=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    return labels[torch.randperm(len(labels), generator=gen)]


def test_stratified_split_is_disjoint_stratified_sorted_and_seeded():
    labels = _labels()
    train, val = stratified_split(labels, 100, seed=3)
    assert len(val) == 100 and len(train) == 300
    assert not set(train.tolist()) & set(val.tolist())
    assert labels[val].bincount(minlength=10).tolist() == [10] * 10
    assert torch.equal(val, val.sort().values)
    again = stratified_split(labels, 100, seed=3)
    other = stratified_split(labels, 100, seed=4)
    assert torch.equal(again[1], val) and not torch.equal(other[1], val)


def test_stratified_split_can_take_fewer_training_examples():
    labels = _labels()
    train, val = stratified_split(labels, 50, num_train=200, seed=0)
    assert len(train) == 200
    assert labels[train].bincount(minlength=10).tolist() == [20] * 10
    assert not set(train.tolist()) & set(val.tolist())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_val": 400}, "cannot hold out"),
        ({"num_val": 100, "num_train": 301}, "cannot hold out"),
        ({"num_val": 0}, "num_val"),
    ],
)
def test_stratified_split_refuses_impossible_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stratified_split(_labels(), **kwargs)


def test_stratified_split_refuses_float_labels():
    with pytest.raises(ValueError, match="integer classes"):
        stratified_split(torch.rand(10), 2)


def test_every_split_is_exported_by_bayesdl_data():
    import bayesdl

    assert bayesdl.data.labelled_split is labelled_split
    assert bayesdl.data.stratified_split is stratified_split
