"""bayesdl.image_scores: one method's measures, their standard errors, and the
paired comparison of two methods' runs."""

import math

import pytest
import torch

from bayesdl import metrics
from bayesdl.compare import compare, compare_images
from bayesdl.image_scores import (
    MEASURES,
    bootstrap_se,
    compare_runs,
    per_image,
    score,
    summarise,
)


def _run(seed, n=400, m=300, sharp=3.0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(10, (n,), generator=torch.Generator().manual_seed(99))
    logits = torch.randn(n, 10, generator=gen)
    logits[torch.arange(n), labels] += sharp
    ood = torch.randn(m, 10, generator=gen)
    return {"test": logits.softmax(-1), "fashion": ood.softmax(-1)}, labels


def test_score_is_the_metric_of_each_measure():
    run, y = _run(0)
    p, q = run["test"], run["fashion"]
    expected = {
        "accuracy": metrics.accuracy(p, y),
        "nll": metrics.negative_log_likelihood(p, y),
        "brier": metrics.brier_score(p, y),
        "ece": metrics.expected_calibration_error(p, y),
        "auroc_entropy": metrics.auroc(metrics.entropy(p), metrics.entropy(q)),
        "auroc_maxprob": metrics.auroc(-p.max(-1).values, -q.max(-1).values),
    }
    assert set(expected) == set(MEASURES)
    for k, v in expected.items():
        assert score(k, run, y, ood="fashion") == pytest.approx(v, abs=1e-12)


def test_score_on_an_index_is_the_score_of_that_subset():
    run, y = _run(1)
    i, j = torch.arange(0, 400, 3), torch.arange(0, 300, 2)
    sub = {"test": run["test"][i], "fashion": run["fashion"][j]}
    for k in MEASURES:
        got = score(k, run, y, ood="fashion", index={"test": i, "fashion": j})
        assert got == pytest.approx(score(k, sub, y[i], ood="fashion"), abs=1e-12)


def test_score_averages_draws_first():
    run, y = _run(2)
    draws = {"test": torch.stack([run["test"], run["test"]])}
    assert score("nll", draws, y) == pytest.approx(score("nll", run, y))


def test_summarise_over_seeds_is_the_mean_and_its_standard_error():
    runs, y = zip(*[_run(s) for s in range(3)], strict=True)
    mean, se = summarise("nll", list(runs), y[0])
    values = torch.tensor([score("nll", r, y[0]) for r in runs])
    assert mean == pytest.approx(values.mean().item())
    assert se == pytest.approx(values.std().item() / math.sqrt(3))


def test_summarise_of_one_run_takes_the_images_spread():
    run, y = _run(3)
    mean, se = summarise("nll", [run], y)
    terms = per_image(run["test"], y, "nll")
    assert mean == pytest.approx(terms.mean().item())
    assert se == pytest.approx(terms.std().item() / math.sqrt(len(terms)))
    ece, ece_se = summarise("ece", [run], y, reps=50)
    assert ece == score("ece", run, y)
    expected = bootstrap_se(
        lambda i: score("ece", run, y, index={"test": i}), [400], reps=50
    )
    assert ece_se == pytest.approx(expected)
    assert ece_se > 0


def test_compare_runs_pairs_seed_by_seed_and_image_by_image():
    runs, y = zip(*[_run(s) for s in range(3)], strict=True)
    sharper = [{k: (v.log() * 1.3).softmax(-1) for k, v in r.items()} for r in runs]
    c = compare_runs("nll", list(sharper), list(runs), y[0])
    rows = [
        torch.stack([per_image(r["test"], y[0], "nll") for r in R])
        for R in (sharper, runs)
    ]
    assert c == compare_images(*rows)


def test_compare_runs_bootstraps_the_ece_and_aurocs_paired():
    runs, y = zip(*[_run(s) for s in range(3)], strict=True)
    flat = [{k: (v.log() * 0.5).softmax(-1) for k, v in r.items()} for r in runs]
    c = compare_runs("ece", list(flat), list(runs), y[0], reps=20)
    values = [[score("ece", r, y[0]) for r in R] for R in (flat, runs)]
    assert c.difference == pytest.approx(compare(*values).difference)
    assert c.se > compare(*values).se  # the images' share is added
    same = compare_runs(
        "auroc_entropy", list(runs), list(runs), y[0], ood="fashion", reps=20
    )
    assert same.difference == 0 and same.word == "level"


def test_compare_runs_pairs_one_ensemble_with_every_seed():
    runs, y = zip(*[_run(s) for s in range(3)], strict=True)
    ensemble = {k: torch.stack([r[k] for r in runs]).mean(0) for k in runs[0]}
    c = compare_runs(
        "auroc_maxprob", [ensemble], list(runs), y[0], ood="fashion", reps=20
    )
    values = [score("auroc_maxprob", r, y[0], ood="fashion") for r in runs]
    expected = score("auroc_maxprob", ensemble, y[0], ood="fashion") - sum(values) / 3
    assert c.difference == pytest.approx(expected)
    assert c.num_seeds == 3


def test_bad_input_is_refused_with_a_reason():
    run, y = _run(4)
    with pytest.raises(ValueError, match="measure must be one of"):
        score("f1", run, y)
    with pytest.raises(ValueError, match="needs ood="):
        score("auroc_entropy", run, y)
    with pytest.raises(ValueError, match="'test' entry"):
        score("nll", {"val": run["test"]}, y)
    with pytest.raises(ValueError, match="non-empty list of runs"):
        summarise("nll", run, y)
    with pytest.raises(ValueError, match="hold 2 and 3 runs"):
        compare_runs("nll", [run, run], [run, run, run], y)


@pytest.mark.parametrize("measure", ["ece", "auroc_entropy", "auroc_maxprob"])
def test_the_weighted_bootstrap_is_the_bootstrap_over_indices(measure):
    """The resampled ECE and AUROCs are computed from draw counts; each must
    equal the measure on the drawn images, ties included."""
    from bayesdl.image_scores import _resample_weights, _terms, _weighted

    run, y = _run(5)
    # ties: many images certain of one class, in and out of distribution
    run["test"][:100] = torch.nn.functional.one_hot(y[:100], 10).float()
    run["fashion"][:50] = torch.nn.functional.one_hot(y[:50], 10).float()
    ood = "fashion" if measure.startswith("auroc") else None
    sizes = [400, 300] if ood else [400]
    weights = _resample_weights(sizes, 5, 3)
    got = _weighted(measure, _terms(measure, run, y, ood), weights)
    gen = torch.Generator().manual_seed(3)
    for r in range(5):
        idx = [torch.randint(n, (n,), generator=gen) for n in sizes]
        index = dict(zip(["test", "fashion"], idx, strict=False))
        assert got[r].item() == pytest.approx(
            score(measure, run, y, ood=ood, index=index), abs=1e-9
        )


def test_compare_runs_image_se_is_the_paired_bootstrap():
    runs, y = zip(*[_run(s) for s in range(3)], strict=True)
    flat = [{k: (v.log() * 0.7).softmax(-1) for k, v in r.items()} for r in runs]
    c = compare_runs(
        "auroc_entropy", list(flat), list(runs), y[0], ood="fashion", reps=30
    )

    def gap(i, j):
        index = {"test": i, "fashion": j}
        return (
            sum(
                score("auroc_entropy", p, y[0], ood="fashion", index=index)
                - score("auroc_entropy", q, y[0], ood="fashion", index=index)
                for p, q in zip(flat, runs, strict=True)
            )
            / 3
        )

    image_se = bootstrap_se(gap, [400, 300], reps=30)
    values = [
        [score("auroc_entropy", r, y[0], ood="fashion") for r in R]
        for R in (flat, runs)
    ]
    expected = compare(*values, image_se=image_se)
    assert c.difference == pytest.approx(expected.difference)
    assert c.se == pytest.approx(expected.se, rel=1e-9)
