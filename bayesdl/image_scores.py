"""Per-image scores and their resampling: the evidence :mod:`bayesdl.compare` weighs.

Two methods scored on the same test images are compared image by image
where the measure is a mean over images: :func:`per_image` splits accuracy,
NLL and Brier score into the per-image terms whose mean is the metric of
:mod:`bayesdl.metrics`, for :func:`bayesdl.compare.compare_images`. For a
measure that is not a mean over images (the ECE, an AUROC),
:func:`bootstrap_se` resamples the images instead, the same draw for both
methods, and its result is the ``image_se`` of
:func:`bayesdl.compare.compare`.

Example::

    >>> p, y = torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])
    >>> per_image(p, y, "nll").mean().item() > 0
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from . import checks, metrics
from .compare import CONFIDENCE, Comparison, compare, compare_images

__all__ = [
    "MEASURES",
    "PER_IMAGE",
    "bootstrap_se",
    "compare_runs",
    "per_image",
    "score",
    "summarise",
]

PER_IMAGE = ("accuracy", "nll", "brier")
"""The measures that are means over images, which :func:`per_image` splits."""

MEASURES = (*PER_IMAGE, "ece", "auroc_entropy", "auroc_maxprob")
"""What :func:`score` computes: the four in-distribution measures, and the
AUROC of telling the images of an out-of-distribution set from the test
images by the predictive entropy or by one minus the largest probability."""

_ECE_BINS = 15  # the bins of :func:`bayesdl.metrics.expected_calibration_error`

Run = Mapping[str, torch.Tensor]
"""One trained method's predictives: ``{"test": (N, C), <set>: (M, C), ...}``."""


def bootstrap_se(
    statistic: Callable[..., float],
    sizes: Sequence[int],
    *,
    reps: int = 200,
    seed: int = 0,
) -> float:
    """The bootstrap standard error of ``statistic`` over resampled images.

    For measures that are not means over images (the ECE, an AUROC),
    :func:`compare_images` does not apply; this draws ``reps`` resamples
    with replacement of ``len(sizes)`` image sets (for an AUROC: the
    in-distribution and the out-of-distribution images) and returns the
    standard deviation of ``statistic(*indices)``. To make the comparison
    paired, let ``statistic`` compute the *difference* of the two methods
    on the same indices, averaged over seeds, and pass the result to
    :func:`compare` as ``image_se``.

    Example::

        >>> x = torch.arange(100.0)
        >>> se = bootstrap_se(lambda i: x[i].mean().item(), [100], reps=400)
        >>> abs(se / (x.std().item() / 10) - 1) < 0.2
        True
    """
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 2:
        raise ValueError(f"reps must be an int >= 2; got {reps!r}.")
    sizes = list(sizes)
    if not sizes or any(
        isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes
    ):
        raise ValueError(f"sizes must be a list of image counts >= 1; got {sizes!r}.")
    gen = torch.Generator().manual_seed(seed)
    values = torch.tensor(
        [
            float(statistic(*(torch.randint(n, (n,), generator=gen) for n in sizes)))
            for _ in range(reps)
        ],
        dtype=torch.float64,
    )
    if not torch.isfinite(values).all():
        raise ValueError("statistic returned a NaN or an infinity on a resample.")
    return values.std().item()


def per_image(probs: torch.Tensor, labels: torch.Tensor, measure: str) -> torch.Tensor:
    """The per-image terms whose mean is ``measure`` of :mod:`bayesdl.metrics`.

    ``probs`` is a predictive, ``(N, C)`` or draws ``(S, N, C)`` (averaged
    first, as the metrics do); ``measure`` one of :data:`PER_IMAGE`:
    ``accuracy`` (1 where the top class is the label), ``nll`` (``-log
    p(y | x)``, clamped as :func:`bayesdl.metrics.negative_log_likelihood`
    does) or ``brier``. Returns float64 ``(N,)``; its mean is the metric.

    Example::

        >>> p, y = torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])
        >>> per_image(p, y, "accuracy").tolist()
        [1.0, 0.0]
    """
    if measure not in PER_IMAGE:
        raise ValueError(
            f"measure must be one of {', '.join(PER_IMAGE)} (the means over "
            f"images); got {measure!r}. For the ECE or an AUROC use bootstrap_se."
        )
    p = metrics.predictive(probs)
    y = checks.labels(labels, n=p.shape[0], num_classes=p.shape[1]).to(p.device)
    p = p.double()
    if measure == "accuracy":
        return (p.argmax(-1) == y).double().cpu()
    if measure == "nll":
        picked = p.gather(1, y[:, None]).squeeze(1)
        return -picked.clamp_min(1e-12).log().cpu()
    onehot = torch.nn.functional.one_hot(y, p.shape[1]).double()
    return ((p - onehot) ** 2).sum(-1).cpu()


def _check_measure(measure: str, run: Run, ood: str | None) -> None:
    if measure not in MEASURES:
        raise ValueError(
            f"measure must be one of {', '.join(MEASURES)}; got {measure!r}."
        )
    if not isinstance(run, Mapping) or "test" not in run:
        raise ValueError(
            "a run must be a mapping of image sets to predictives with a 'test' "
            f"entry; got {type(run).__name__}"
            + (f" with keys {sorted(run)}" if isinstance(run, Mapping) else "")
            + "."
        )
    if measure.startswith("auroc") and (ood is None or ood not in run):
        raise ValueError(
            f"{measure} needs ood=, the name of the run's out-of-distribution "
            f"set (one of {sorted(k for k in run if k != 'test')}); got {ood!r}."
        )


def score(
    measure: str,
    run: Run,
    labels: torch.Tensor,
    *,
    ood: str | None = None,
    index: Mapping[str, torch.Tensor] | None = None,
) -> float:
    """One measure of one run, optionally on resampled images.

    ``run["test"]`` is the predictive on the test images whose ``labels``
    are given; the AUROCs also read ``run[ood]``, the predictive on an
    out-of-distribution set. ``index`` maps a set's name to the image
    indices to use (a bootstrap resample); all images otherwise. The values
    are those of :mod:`bayesdl.metrics`.

    Example::

        >>> p, y = torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0])
        >>> score("accuracy", {"test": p}, y)
        0.5
    """
    _check_measure(measure, run, ood)
    index = {} if index is None else index
    p = metrics.predictive(run["test"])
    y = labels
    if "test" in index:
        p, y = p[index["test"]], labels[index["test"]]
    if measure == "accuracy":
        return metrics.accuracy(p, y)
    if measure == "nll":
        return metrics.negative_log_likelihood(p, y)
    if measure == "brier":
        return metrics.brier_score(p, y)
    if measure == "ece":
        return metrics.expected_calibration_error(p, y)
    q = metrics.predictive(run[ood])
    if ood in index:
        q = q[index[ood]]
    if measure == "auroc_entropy":
        return metrics.auroc(metrics.entropy(p), metrics.entropy(q))
    return metrics.auroc(-p.max(-1).values, -q.max(-1).values)


def _check_runs(runs: Sequence[Run], name: str) -> list[Run]:
    if isinstance(runs, Mapping) or not isinstance(runs, Sequence) or not runs:
        raise ValueError(
            f"{name} must be a non-empty list of runs, one per seed (a list of "
            f"one for a single object such as an ensemble); got {type(runs).__name__}."
        )
    return list(runs)


def _sizes(measure: str, run: Run, ood: str | None) -> list[int]:
    """The image counts of the sets that ``measure`` reads."""
    sets = ["test", ood] if measure.startswith("auroc") else ["test"]
    return [metrics.predictive(run[k]).shape[0] for k in sets]


def _resample_weights(sizes: list[int], reps: int, seed: int) -> list[torch.Tensor]:
    """How often each image is drawn in each of ``reps`` bootstrap resamples:
    one ``(reps, n)`` tensor per image set, from the same draws as
    :func:`bootstrap_se` with the same ``seed``."""
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 2:
        raise ValueError(f"reps must be an int >= 2; got {reps!r}.")
    gen = torch.Generator().manual_seed(seed)
    counts: list[list[torch.Tensor]] = [[] for _ in sizes]
    for _ in range(reps):
        for k, n in enumerate(sizes):
            idx = torch.randint(n, (n,), generator=gen)
            counts[k].append(torch.bincount(idx, minlength=n))
    return [torch.stack(c).double() for c in counts]


def _terms(measure: str, run: Run, labels: torch.Tensor, ood: str | None):
    """What a resampled ECE or AUROC needs of one run, computed once."""
    p = metrics.predictive(run["test"])
    if measure == "ece":
        conf, pred = p.double().max(-1)
        correct = (pred == labels.to(p.device)).double()
        bins = (torch.ceil(conf * _ECE_BINS).long() - 1).clamp(0, _ECE_BINS - 1)
        onehot = torch.nn.functional.one_hot(bins, _ECE_BINS).double()
        return (onehot * (correct - conf)[:, None]).cpu()
    q = metrics.predictive(run[ood])
    if measure == "auroc_entropy":
        s_in, s_out = metrics.entropy(p), metrics.entropy(q)
    else:
        s_in, s_out = -p.max(-1).values, -q.max(-1).values
    s_in, s_out = s_in.detach().double().cpu(), s_out.detach().double().cpu()
    ordered, order = torch.sort(s_in)
    below = torch.searchsorted(ordered, s_out, right=False)
    upto = torch.searchsorted(ordered, s_out, right=True)
    return order, below, upto


def _weighted(measure: str, terms, weights: list[torch.Tensor]) -> torch.Tensor:
    """``measure`` on each resample, ``(reps,)``, from :func:`_terms`.

    The ECE of a resample is ``sum_b |sum_i w_i (correct_i - conf_i)| / sum_i
    w_i`` over the bins; its AUROC counts, for every drawn
    out-of-distribution image, the drawn test images that score below it
    (ties one half): the Mann-Whitney U with multiplicities."""
    if measure == "ece":
        w = weights[0]
        return (w @ terms).abs().sum(-1) / w.sum(-1)
    order, below, upto = terms
    w_in, w_out = weights
    cum = torch.zeros(len(w_in), w_in.shape[1] + 1, dtype=torch.float64)
    cum[:, 1:] = w_in[:, order].cumsum(-1)
    lo = cum[:, below]
    hi = cum[:, upto]
    u = (w_out * (lo + 0.5 * (hi - lo))).sum(-1)
    return u / (w_in.sum(-1) * w_out.sum(-1))


def summarise(
    measure: str,
    runs: Sequence[Run],
    labels: torch.Tensor,
    *,
    ood: str | None = None,
    reps: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """The mean of ``measure`` over ``runs`` and its standard error.

    Over seeds where there are several runs (the standard deviation over
    seeds over the square root of their number), and over the test images
    where there is one (a single object such as an ensemble): for a mean
    over images the standard error of that mean, otherwise a bootstrap of
    ``reps`` resamples. The two standard errors measure different
    things, a seed's luck and the test set's draw; :func:`compare_runs`
    combines them where two methods are compared.

    Example::

        >>> p, y = torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1])
        >>> summarise("accuracy", [{"test": p}, {"test": p}], y)
        (1.0, 0.0)
    """
    runs = _check_runs(runs, "runs")
    values = torch.tensor(
        [score(measure, r, labels, ood=ood) for r in runs], dtype=torch.float64
    )
    if len(runs) > 1:
        return values.mean().item(), values.std().item() / math.sqrt(len(runs))
    if measure in PER_IMAGE:
        terms = per_image(runs[0]["test"], labels, measure)
        return values.item(), terms.std().item() / math.sqrt(len(terms))
    weights = _resample_weights(_sizes(measure, runs[0], ood), reps, seed)
    draws = _weighted(measure, _terms(measure, runs[0], labels, ood), weights)
    return values.item(), draws.std().item()


def compare_runs(
    measure: str,
    a: Sequence[Run],
    b: Sequence[Run],
    labels: torch.Tensor,
    *,
    ood: str | None = None,
    reps: int = 100,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """``measure`` of method ``a`` minus that of method ``b``, paired.

    ``a`` and ``b`` hold one run per seed, scored on the same images. Runs
    of equal count are paired seed by seed; a single run (an ensemble) is
    paired with each run of the other side. For a mean over images the
    difference is also paired image by image
    (:func:`~bayesdl.compare.compare_images`); for the ECE and the AUROCs
    the images' share of the error comes from a paired bootstrap, the same
    resampled images for both methods (:func:`bootstrap_se`).

    Example::

        >>> y = torch.tensor([0, 1, 0, 1])
        >>> sure = {"test": torch.tensor([[.9, .1], [.1, .9], [.8, .2], [.3, .7]])}
        >>> vague = {"test": torch.full((4, 2), 0.5)}
        >>> compare_runs("nll", [sure], [vague], y).word
        'lower'
    """
    a, b = _check_runs(a, "a"), _check_runs(b, "b")
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        raise ValueError(
            f"a and b hold {len(a)} and {len(b)} runs; pair the same seeds, or "
            f"pass a single run (an ensemble) on one side."
        )
    if measure in PER_IMAGE:
        rows = [
            torch.stack([per_image(r["test"], labels, measure) for r in runs])
            for runs in (a, b)
        ]
        return compare_images(
            *(r if len(r) > 1 else r[0] for r in rows), confidence=confidence
        )
    pairs = (
        list(zip(a, b, strict=True))
        if len(a) == len(b)
        else [(p, q) for p in a for q in b]
    )
    weights = _resample_weights(_sizes(measure, a[0], ood), reps, seed)
    terms = {id(r): _terms(measure, r, labels, ood) for r in (*a, *b)}
    draws = sum(
        _weighted(measure, terms[id(p)], weights)
        - _weighted(measure, terms[id(q)], weights)
        for p, q in pairs
    ) / len(pairs)

    return compare(
        [score(measure, r, labels, ood=ood) for r in a],
        [score(measure, r, labels, ood=ood) for r in b],
        image_se=draws.std().item(),
        confidence=confidence,
    )
