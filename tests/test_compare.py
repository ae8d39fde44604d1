"""The book's one comparison rule: bayesdl.compare."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from bayesdl import metrics
from bayesdl.compare import Comparison, compare, compare_images
from bayesdl.image_scores import bootstrap_se, per_image


def test_paired_sees_what_the_unpaired_rule_calls_level():
    # Three seeds whose luck is shared by both methods (the same networks,
    # or the same test images): the seed-to-seed swing (0.02) is far larger
    # than the gap (0.001), which is the same on every seed.
    base = torch.tensor([0.020, 0.040, 0.030])
    a, b = base + 0.001 + torch.tensor([0.0, 1e-4, -1e-4]), base
    unpaired = compare(a, b, paired=False)
    paired = compare(a, b)
    assert unpaired.word == "level"
    assert paired.word == "higher"
    assert paired.difference == pytest.approx(unpaired.difference)
    assert paired.half_width < unpaired.half_width / 10


def test_three_seeds_take_the_t_quantile_with_two_degrees_of_freedom():
    d = torch.tensor([1.0, 2.0, 4.0])
    c = compare(d)
    se, mean = d.std().item() / math.sqrt(3), d.mean().item()
    assert c.dof == 2
    assert c.se == pytest.approx(se)
    q = stats.t.ppf(0.975, 2)
    assert q == pytest.approx(4.303, abs=1e-3)  # not 2
    assert (c.low, c.high) == pytest.approx((mean - q * se, mean + q * se))
    # 2 standard errors would have called it higher; the t-quantile does not.
    assert mean - 2 * se > 0 and c.word == "level"


def test_words_follow_the_interval_and_the_callers_vocabulary():
    assert compare([2.0, 3.0, 2.5]).word == "higher"
    assert compare([-2.0, -3.0, -2.5]).word == "lower"
    assert compare([-1.0, 1.0, 0.2]).word == "level"
    assert compare([-2.0, -3.0, -2.5]).say("wins", "loses", "ties") == "loses"
    assert "interval" in str(compare([2.0, 3.0, 2.5]))


def test_the_confidence_moves_the_interval():
    d = [0.5, 1.5, 1.0, 1.2]
    narrow, wide = compare(d, confidence=0.5), compare(d, confidence=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_image_error_adds_in_quadrature_and_raises_the_degrees_of_freedom():
    d = [1.0, 2.0, 1.5]
    seeds_only = compare(d)
    both = compare(d, image_se=seeds_only.se)
    assert both.se == pytest.approx(math.sqrt(2) * seeds_only.se)
    # Welch-Satterthwaite with an exact image part: (2 v)^2 / (v^2 / 2) = 8.
    assert both.dof == pytest.approx(8.0)
    only_images = compare(1.0, 0.0, image_se=0.1)
    assert math.isinf(only_images.dof)
    assert only_images.high - only_images.low == pytest.approx(2 * 1.959964 * 0.1)


def test_welch_matches_scipy():
    a, b = [1.0, 2.0, 3.5, 2.2], [0.1, 0.9, 0.4]
    c = compare(a, b, paired=False)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert c.difference / c.se == pytest.approx(ref.statistic)
    assert c.dof == pytest.approx(ref.df)


def test_per_image_comparison_is_paired_by_image_and_by_seed():
    gen = torch.Generator().manual_seed(0)
    hard = torch.rand(5000, generator=gen)  # how hard each image is
    a = hard + 0.01 + 0.005 * torch.randn(3, 5000, generator=gen)
    b = hard + 0.005 * torch.randn(3, 5000, generator=gen)
    c = compare_images(a, b)
    assert c.word == "higher"
    assert c.difference == pytest.approx((a - b).mean().item())
    # Unpaired, the images' own spread (0.29) would swamp the gap.
    image_se_unpaired = math.hypot(a.mean(0).std(), b.mean(0).std()) / math.sqrt(5000)
    assert c.se < image_se_unpaired / 10
    # A single result (one ensemble) against each seed's row.
    one = compare_images(a[0], b)
    assert one.num_seeds == 3 and one.word == "higher"


def test_a_method_compared_with_itself_is_level():
    a = torch.rand(2, 100)
    assert compare_images(a[0], a[0]).word == "level"
    assert compare_images(a[0] + 0.5, a[0]).word == "higher"  # no spread at all


def test_the_bootstrap_agrees_with_the_formula_for_a_mean():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(2000, generator=gen)
    b = a + 0.1 * torch.randn(2000, generator=gen)
    se = bootstrap_se(lambda i: (a[i] - b[i]).mean().item(), [2000], reps=400)
    exact = compare_images(a, b).se
    assert se == pytest.approx(exact, rel=0.15)


def test_two_single_runs_are_judged_by_a_seed_spread_measured_elsewhere():
    c = compare(0.031, 0.030, run_sd=0.0004, run_dof=2)
    assert c.se == pytest.approx(math.sqrt(2) * 0.0004)
    assert c.dof == 2
    assert c.word == "level"  # 0.001 < 4.30 * 0.00057
    assert compare(0.035, 0.030, run_sd=0.0004, run_dof=2).word == "higher"


@pytest.mark.parametrize("measure", ["accuracy", "nll", "brier"])
def test_per_image_terms_average_to_the_metric(measure):
    gen = torch.Generator().manual_seed(2)
    probs = torch.softmax(torch.randn(4, 50, 10, generator=gen), -1)
    labels = torch.randint(10, (50,), generator=gen)
    whole = {
        "accuracy": metrics.accuracy,
        "nll": metrics.negative_log_likelihood,
        "brier": metrics.brier_score,
    }[measure](probs, labels)
    terms = per_image(probs, labels, measure)
    assert terms.shape == (50,)
    assert terms.mean().item() == pytest.approx(whole)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: compare([1.0, 2.0], [1.0, 2.0, 3.0]), "same seeds"),
        (lambda: compare([1.0, float("nan")]), "NaN"),
        (lambda: compare(1.0, 0.5), "image_se"),
        (lambda: compare([1.0, 2.0], confidence=95), "confidence"),
        (lambda: compare([1.0, 2.0], image_se=-1.0), "image_se"),
        (lambda: compare([1.0], [2.0, 3.0], paired=False), "at least 2"),
        (lambda: compare("abc"), "number"),
        (
            lambda: compare_images(torch.zeros(2, 5), torch.zeros(2, 6)),
            "same test images",
        ),
        (lambda: compare_images(torch.zeros(2, 5), torch.zeros(3, 5)), "same seeds"),
        (lambda: compare_images([0.0, 1.0], torch.zeros(2)), "tensor"),
        (lambda: bootstrap_se(lambda i: 0.0, [10], reps=1), "reps"),
        (lambda: bootstrap_se(lambda i: 0.0, [0]), "sizes"),
        (lambda: compare(1.0, 0.5, run_sd=0.1), "run_dof"),
        (lambda: compare(1.0, 0.5, run_sd=-0.1, run_dof=2), "run_sd"),
        (
            lambda: per_image(torch.ones(2, 2) / 2, torch.tensor([0, 1]), "ece"),
            "bootstrap_se",
        ),
    ],
)
def test_bad_input_says_what_was_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_comparison_is_a_plain_record():
    c = compare([1.0, 2.0, 3.0])
    assert isinstance(c, Comparison)
    assert c.in_se == pytest.approx(c.difference / c.se)
    with pytest.raises(AttributeError):
        c.difference = 0.0  # frozen
