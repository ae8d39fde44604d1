"""Metrics against cases computed by hand, and against torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch

from bayesdl import metrics as M

PROBS = torch.tensor(
    [[0.7, 0.2, 0.1], [0.1, 0.65, 0.25], [0.3, 0.32, 0.38], [0.25, 0.5, 0.25]]
)
LABELS = torch.tensor([0, 1, 0, 2])


def test_accuracy():
    assert M.accuracy(PROBS, LABELS) == 0.5  # rows 0 and 1 right


def test_nll():
    expected = -(math.log(0.7) + math.log(0.65) + math.log(0.3) + math.log(0.25)) / 4
    assert M.negative_log_likelihood(PROBS, LABELS) == pytest.approx(expected)


def test_brier():
    rows = [
        0.3**2 + 0.2**2 + 0.1**2,
        0.1**2 + 0.35**2 + 0.25**2,
        0.7**2 + 0.32**2 + 0.38**2,
        0.25**2 + 0.5**2 + 0.75**2,
    ]
    assert M.brier_score(PROBS, LABELS) == pytest.approx(sum(rows) / 4)


def test_ece_by_hand():
    # Confidences 0.7 (right), 0.65 (right), 0.38 (wrong), 0.5 (wrong); five
    # bins of width 0.2 (no confidence sits on a bin edge):
    # (0.6, 0.8]: mean conf 0.675, acc 1 -> 2/4 * 0.325
    # (0.4, 0.6]: conf 0.5, acc 0       -> 1/4 * 0.5
    # (0.2, 0.4]: conf 0.38, acc 0      -> 1/4 * 0.38
    expected = 0.5 * 0.325 + 0.25 * 0.5 + 0.25 * 0.38
    ece = M.expected_calibration_error(PROBS, LABELS, num_bins=5)
    assert ece == pytest.approx(expected, rel=1e-6)
    conf, acc, count = M.calibration_bins(PROBS, LABELS, num_bins=5)
    assert count.tolist() == [0, 1, 1, 2, 0]
    assert torch.isnan(conf[0]) and acc[3] == 1.0 and acc[2] == 0.0


def test_perfectly_calibrated_ece_is_zero():
    probs = torch.tensor([[0.8, 0.2]] * 5)
    labels = torch.tensor([0, 0, 0, 0, 1])
    assert M.expected_calibration_error(probs, labels, num_bins=10) == pytest.approx(
        0.0, abs=1e-6
    )


def test_samples_are_averaged_first():
    samples = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    assert torch.allclose(M.predictive(samples), torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    assert M.negative_log_likelihood(samples, torch.tensor([0, 1])) == pytest.approx(
        math.log(2) / 2
    )


def test_entropy_decomposition():
    # Two confident networks that disagree: all epistemic.
    disagree = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert M.entropy(disagree).item() == pytest.approx(math.log(2))
    assert M.expected_entropy(disagree).item() == pytest.approx(0.0)
    assert M.mutual_information(disagree).item() == pytest.approx(math.log(2))
    # Two networks that agree on a coin flip: all aleatoric.
    agree = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]])
    assert M.expected_entropy(agree).item() == pytest.approx(math.log(2))
    assert M.mutual_information(agree).item() == pytest.approx(0.0)
    # A mixed case: H[mean] = E H + MI for random samples.
    torch.manual_seed(0)
    probs = torch.randn(7, 11, 4).softmax(-1)
    total = M.entropy(probs)
    assert torch.allclose(
        total, M.expected_entropy(probs) + M.mutual_information(probs)
    )


def test_auroc_by_hand():
    # Pairs (pos > neg): 0.3 beats both, 0.15 beats 0.1 only -> 3/4.
    assert M.auroc(torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.15])) == 0.75
    assert M.auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert M.auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    # Ties count one half.
    assert M.auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5
    assert M.auroc(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])) == 0.75


def test_auroc_matches_pairwise_count():
    torch.manual_seed(1)
    neg, pos = (
        torch.randn(50).round(decimals=1),
        torch.randn(40).round(decimals=1) + 0.5,
    )
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()
    assert M.auroc(neg, pos) == pytest.approx(expected)


def test_selective_accuracy():
    unc = torch.tensor([0.1, 0.2, 0.9, 0.5])  # refuse row 2 first, then row 3
    acc = M.selective_accuracy(PROBS, LABELS, unc, torch.tensor([0.0, 0.25, 0.5, 0.75]))
    assert acc.tolist() == pytest.approx([0.5, 2 / 3, 1.0, 1.0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.accuracy(PROBS, torch.tensor([0, 1, 0, 3])), "0..2"),
        (lambda: M.accuracy(PROBS, torch.tensor([0, 1, 0, -1])), "0..2"),
        (lambda: M.accuracy(PROBS, torch.tensor([0.0, 1, 0, 2])), "integer"),
        (lambda: M.accuracy(PROBS, LABELS[:3]), "expected 4 labels"),
        (lambda: M.accuracy(PROBS, LABELS[:, None]), "1-d integer"),
        (lambda: M.accuracy(PROBS, LABELS.bool()), "integer"),
        (lambda: M.accuracy(torch.rand(4, 3), LABELS), "sum to 1"),
        (lambda: M.accuracy(torch.randn(4, 3), LABELS), "non-negative"),
        (lambda: M.accuracy(PROBS[0], LABELS), "shape"),
        (lambda: M.mutual_information(PROBS), r"\(S, N, C\)"),
        (lambda: M.auroc(torch.tensor([]), torch.tensor([1.0])), "non-empty"),
        (lambda: M.expected_calibration_error(PROBS, LABELS, num_bins=0), "num_bins"),
        (lambda: M.calibration_bins(PROBS, LABELS, num_bins=True), "num_bins"),
        (lambda: M.accuracy(PROBS.int(), LABELS), "floating-point"),
        (lambda: M.accuracy(PROBS[:, :1] * 0 + 1, LABELS), "C >= 2"),
        (lambda: M.selective_accuracy(PROBS, LABELS, torch.ones(3)), "uncertainty"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_uncertainty_plots_draw_and_return_axes():
    from bayesdl import plots

    torch.manual_seed(0)
    probs = torch.randn(4, 30, 3).softmax(-1)
    labels = torch.randint(0, 3, (30,))
    ax = plots.reliability_diagram(probs, labels, num_bins=5, label="a")
    assert plots.reliability_diagram(probs[:1], labels, label="b", ax=ax) is ax
    h = M.entropy(probs)
    assert plots.uncertainty_histograms({"in": h, "out": h + 0.1}).patches
    shares = torch.tensor([0.0, 0.5])
    acc = M.selective_accuracy(probs, labels, h, shares)
    assert plots.selective_prediction(shares, {"x": acc}).lines
    ax = plots.image_grid(torch.rand(5, 1, 28, 28), ["a"] * 5, ncols=3)
    assert ax.images
    with pytest.raises(ValueError, match="captions"):
        plots.image_grid(torch.rand(5, 1, 28, 28), ["a"])
    with pytest.raises(ValueError, match="non-empty"):
        plots.uncertainty_histograms({"in": torch.tensor([])})


def test_int32_labels_are_accepted():
    assert M.accuracy(PROBS, LABELS.int()) == 0.5
    assert M.brier_score(PROBS, LABELS.to(torch.uint8)) == M.brier_score(PROBS, LABELS)


ZERO_SAMPLES = torch.empty(0, 4, 3)  # softmax of an empty draw: no predictive


@pytest.mark.parametrize(
    "call",
    [
        lambda: M.accuracy(ZERO_SAMPLES, LABELS),
        lambda: M.negative_log_likelihood(ZERO_SAMPLES, LABELS),
        lambda: M.predictive(ZERO_SAMPLES),
        lambda: M.entropy(ZERO_SAMPLES),
        lambda: M.expected_entropy(ZERO_SAMPLES),
        lambda: M.mutual_information(ZERO_SAMPLES),
        lambda: M.accuracy(torch.empty(0, 3), LABELS[:0]),
    ],
)
def test_zero_samples_raise_instead_of_nan(call):
    # Failure 3 of issue 7: main returned accuracy 0.5 and NaN here.
    with pytest.raises(ValueError, match="at least one sample and one item"):
        call()


@pytest.mark.parametrize(
    "uncertainty, rejected, match",
    [
        (torch.tensor([0.1, float("nan"), 0.3, 0.2]), None, "finite"),
        (torch.tensor([0.1, float("inf"), 0.3, 0.2]), None, "finite"),
        (torch.rand(4), torch.tensor([float("nan")]), r"\[0, 1\)"),
        (torch.rand(4), torch.tensor([1.0]), r"\[0, 1\)"),
        (torch.rand(4), torch.tensor([[0.0]]), "1-d"),
        ([0.1, 0.2, 0.3, 0.4], None, "uncertainty must be a real tensor"),
    ],
)
def test_selective_accuracy_rejects_nan(uncertainty, rejected, match):
    # Failure 14 of issue 7: main ranked NaN silently and returned accuracies.
    with pytest.raises(ValueError, match=match):
        M.selective_accuracy(PROBS, LABELS, uncertainty, rejected)


def test_auroc_agrees_with_torchmetrics():
    """The Mann-Whitney AUROC against torchmetrics' ROC integration, ties
    included (rounded scores tie often)."""
    from torchmetrics.functional.classification import binary_auroc

    gen = torch.Generator().manual_seed(0)
    for rounding in (None, 1):
        neg = torch.randn(300, generator=gen)
        pos = torch.randn(200, generator=gen) + 0.8
        if rounding is not None:
            neg, pos = neg.round(decimals=rounding), pos.round(decimals=rounding)
        ours = M.auroc(neg, pos)
        target = torch.cat([torch.zeros(300), torch.ones(200)]).long()
        theirs = binary_auroc(torch.cat([neg, pos]), target, thresholds=None)
        assert ours == pytest.approx(float(theirs), abs=1e-6)


def test_ece_agrees_with_torchmetrics():
    """Equal-width bins and the L1 gap of Guo et al., as torchmetrics has them
    (its bins are closed on the left, ours on the right: no confidence of a
    continuous softmax falls on an edge)."""
    from torchmetrics.functional.classification import multiclass_calibration_error

    gen = torch.Generator().manual_seed(1)
    for temperature in (0.3, 1.0, 3.0):
        logits = torch.randn(2000, 10, generator=gen, dtype=torch.float64)
        probs = (logits / temperature).softmax(-1)
        labels = torch.randint(0, 10, (2000,), generator=gen)
        for num_bins in (10, 15):
            ours = M.expected_calibration_error(probs, labels, num_bins)
            theirs = multiclass_calibration_error(
                probs, labels, num_classes=10, n_bins=num_bins, norm="l1"
            )
            assert ours == pytest.approx(float(theirs), abs=1e-6)
