"""bayesdl.acquisition: the scores that choose which pool images to label."""

import math

import pytest
import torch

from bayesdl import metrics
from bayesdl.acquisition import (
    ACQUISITIONS,
    acquire,
    acquisition_scores,
    balanced_subset,
    labels_to_reach,
)


def _draws(seed=0, s=8, n=50, c=10):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(s, n, c, generator=gen).mul(2).softmax(-1)


def test_bald_is_entropy_minus_expected_entropy_on_a_hand_made_case():
    # image 0: both draws unsure in the same way; image 1: sure but opposed;
    # image 2: both sure of the same class
    probs = torch.tensor(
        [
            [[0.5, 0.5], [1.0, 0.0], [1.0, 0.0]],
            [[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]],
        ]
    )
    bald = acquisition_scores(probs, "bald")
    entropy = acquisition_scores(probs, "entropy")
    assert torch.allclose(entropy, torch.tensor([math.log(2), math.log(2), 0.0]))
    assert torch.allclose(bald, torch.tensor([0.0, math.log(2), 0.0]), atol=1e-7)
    expected = metrics.entropy(probs) - metrics.expected_entropy(probs)
    assert torch.allclose(bald, expected.clamp_min(0))


def test_bald_equals_entropy_minus_expected_entropy_on_random_draws():
    probs = _draws()
    bald = acquisition_scores(probs, "bald")
    h = -(probs.mean(0) * probs.mean(0).log()).sum(-1)
    eh = -(probs * probs.log()).sum(-1).mean(0)
    assert torch.allclose(bald, h - eh, atol=1e-6)
    assert (bald <= acquisition_scores(probs, "entropy") + 1e-6).all()


def test_variation_ratios_count_the_draws_outside_the_modal_class():
    # top classes of 4 draws for 2 images: (0, 0, 1, 2) and (1, 1, 1, 1)
    tops = torch.tensor([[0, 1], [0, 1], [1, 1], [2, 1]])
    probs = torch.nn.functional.one_hot(tops, 3).float() * 0.9 + 0.1 / 3
    assert torch.allclose(
        acquisition_scores(probs, "variation_ratios"), torch.tensor([0.5, 0.0])
    )


def test_random_scores_are_seeded_and_uniform():
    probs = _draws(n=2000)
    a = acquisition_scores(probs, "random", generator=torch.Generator().manual_seed(1))
    b = acquisition_scores(probs, "random", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (2000,)
    assert 0.45 < a.mean().item() < 0.55


@pytest.mark.parametrize("kind", ACQUISITIONS)
def test_acquired_indices_are_new_unique_and_from_the_pool(kind):
    probs = _draws(seed=2, n=300)
    scores = acquisition_scores(probs, kind, generator=torch.Generator().manual_seed(0))
    picked = acquire(scores, 25)
    assert len(picked) == 25 == len(set(picked.tolist()))
    assert picked.min() >= 0 and picked.max() < 300
    # the lowest picked score is at least the highest one left out
    rest = torch.ones(300, dtype=torch.bool)
    rest[picked] = False
    assert scores[picked].min() >= scores[rest].max()


def test_acquire_breaks_ties_by_index_and_checks_its_input():
    assert acquire(torch.tensor([0.2, 0.7, 0.7, 0.1]), 2).tolist() == [1, 2]
    with pytest.raises(ValueError, match="pool of 4"):
        acquire(torch.zeros(4), 5)
    with pytest.raises(ValueError, match="1-d tensor"):
        acquire(torch.zeros(2, 2), 1)
    with pytest.raises(ValueError, match="NaN"):
        acquire(torch.tensor([0.1, float("nan")]), 1)
    with pytest.raises(ValueError, match="kind must be one of"):
        acquisition_scores(_draws(), "margin")


def test_balanced_subset_takes_each_class_equally():
    y = torch.arange(10).repeat(30)
    picked = balanced_subset(y, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.bincount(y[picked], minlength=10), torch.full((10,), 2))
    assert len(set(picked.tolist())) == 20
    with pytest.raises(ValueError, match="fewer than per_class"):
        balanced_subset(torch.tensor([0, 0, 1]), 2, generator=torch.Generator())


def test_labels_to_reach_reads_between_rounds():
    sizes = torch.tensor([20, 40, 60])
    acc = torch.tensor([0.5, 0.92, 0.88])
    # 0.9 lies 0.4 / 0.42 of the way from the round at 20 to the one at 40
    assert labels_to_reach(sizes, acc, 0.9) == pytest.approx(20 + 20 * 0.4 / 0.42)
    assert labels_to_reach(sizes, acc, 0.5) == 20.0
    assert labels_to_reach(sizes, acc, 0.92) == pytest.approx(40.0)
    assert math.isnan(labels_to_reach(sizes, acc, 0.95))
    with pytest.raises(ValueError, match="one length"):
        labels_to_reach(sizes, acc[:2], 0.9)
