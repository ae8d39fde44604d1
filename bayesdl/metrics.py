"""Metrics for classifiers that predict with samples of class probabilities,
and, at the end, for regressions that predict with samples of a function.

The functions take either predictive probabilities of shape (N, C) or
posterior samples of them, shape (S, N, C); samples are averaged over the
first axis into the posterior predictive ``p(y | x) = mean_s p(y | x, w_s)``
first, except by :func:`expected_entropy` and :func:`mutual_information`,
which need the samples. Every function returns a plain Python ``float`` or a
tensor of per-example values, in nats where it is an entropy.

Example::

    probs = net.predict(images, num_samples=20)     # (S, N, C)
    accuracy(probs, labels), expected_calibration_error(probs, labels)
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch

from . import checks

__all__ = [
    "accuracy",
    "auroc",
    "brier_score",
    "calibration_bins",
    "entropy",
    "expected_calibration_error",
    "expected_entropy",
    "mutual_information",
    "negative_log_likelihood",
    "gaussian_w2",
    "log_predictive_density",
    "predictive",
    "predictive_moments",
    "selective_accuracy",
]


def predictive(probs: torch.Tensor) -> torch.Tensor:
    """The posterior predictive (N, C): the mean over samples of (S, N, C) input.

    (N, C) input is returned unchanged.

    Example::

        >>> predictive(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
        tensor([[0.5000, 0.5000]])
    """
    probs = checks.probabilities(probs)
    return probs.mean(0) if probs.ndim == 3 else probs


def _pred_and_labels(probs, labels):
    p = predictive(probs)
    y = checks.labels(labels, n=p.shape[0], num_classes=p.shape[1])
    return p, y.to(p.device)


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of examples whose most probable class is the label.

    Example::

        >>> accuracy(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]))
        0.5
    """
    p, y = _pred_and_labels(probs, labels)
    return float((p.argmax(-1) == y).double().mean())


def negative_log_likelihood(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean ``-log p(y | x)`` of the labels under the predictive, in nats.

    Probabilities are clamped at 1e-12, so a confident mistake costs at most
    about 27.6 nats instead of infinity.

    Example::

        >>> round(negative_log_likelihood(torch.tensor([[0.5, 0.5]]),
        ...                               torch.tensor([1])), 4)
        0.6931
    """
    p, y = _pred_and_labels(probs, labels)
    picked = p.gather(1, y[:, None]).squeeze(1).double()
    return float(-picked.clamp_min(1e-12).log().mean())


def brier_score(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over examples of ``sum_c (p_c - 1[y = c])**2`` (0 best, 2 worst).

    Example::

        >>> brier_score(torch.tensor([[0.5, 0.5]]), torch.tensor([0]))
        0.5
    """
    p, y = _pred_and_labels(probs, labels)
    onehot = torch.nn.functional.one_hot(y, p.shape[1]).to(torch.float64)
    return float(((p.double() - onehot) ** 2).sum(-1).mean())


def calibration_bins(
    probs: torch.Tensor, labels: torch.Tensor, num_bins: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Confidence, accuracy and count per equal-width confidence bin.

    The confidence of an example is its largest predictive probability; bin
    ``b`` holds the confidences in ``(b/B, (b+1)/B]``. Empty bins have
    confidence and accuracy NaN. Returns three tensors of length ``num_bins``.

    Example::

        conf, acc, count = calibration_bins(probs, labels, num_bins=10)
    """
    num_bins = checks.positive_int("num_bins", num_bins)
    p, y = _pred_and_labels(probs, labels)
    conf, pred = p.double().max(-1)
    correct = (pred == y).double()
    # Bin b holds (b/B, (b+1)/B]; a confidence of exactly 0 cannot occur.
    idx = (torch.ceil(conf * num_bins).long() - 1).clamp(0, num_bins - 1)
    count = torch.bincount(idx, minlength=num_bins).double()
    conf_sum = torch.bincount(idx, weights=conf, minlength=num_bins)
    acc_sum = torch.bincount(idx, weights=correct, minlength=num_bins)
    return conf_sum / count, acc_sum / count, count.long()


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, num_bins: int = 15
) -> float:
    """ECE: ``sum_b (n_b / N) |acc_b - conf_b|`` over equal-width confidence bins.

    The standard definition of Guo et al. (2017), with 15 bins by default.

    Example::

        expected_calibration_error(torch.tensor([[0.8, 0.2]] * 5),
                                   torch.tensor([0, 0, 0, 0, 1]))
        # 0.0...
    """
    conf, acc, count = calibration_bins(probs, labels, num_bins)
    full = count > 0
    n = count.sum().double()
    return float((count[full] / n * (acc[full] - conf[full]).abs()).sum())


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Per-example entropy (nats) of the predictive: ``-sum_c p_c log p_c``.

    Returns a tensor of shape (N,).

    Example::

        entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
        # tensor([0.6931, 0.0000])
    """
    p = predictive(probs)
    return _entropy(p)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(-1)


def expected_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Per-example mean entropy of the sampled predictions, (S, N, C) -> (N,).

    The *aleatoric* part of the predictive entropy: what each single network
    is unsure about, on average over the posterior.

    Example::

        >>> expected_entropy(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
        tensor([0.])
    """
    probs = checks.probabilities(probs, samples=True)
    return _entropy(probs).mean(0)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """Per-example mutual information between label and weights, (S, N, C) -> (N,).

    ``MI = H[mean_s p_s] - mean_s H[p_s]``, the *epistemic* part of the
    predictive entropy: how much the sampled networks disagree. It is zero
    when all samples agree and at most ``log C``.

    Example::

        >>> mutual_information(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
        tensor([0.6931])
    """
    probs = checks.probabilities(probs, samples=True)
    mi = _entropy(probs.mean(0)) - _entropy(probs).mean(0)
    return mi.clamp_min(0.0)  # rounding can make it a hair negative


def auroc(scores_negative: torch.Tensor, scores_positive: torch.Tensor) -> float:
    """Area under the ROC curve for telling positives from negatives by a score.

    The probability that a random positive scores higher than a random
    negative, ties counting one half (the Mann-Whitney U statistic). Here the
    positives are usually out-of-distribution inputs and the score an
    uncertainty: 1 is perfect separation, 0.5 is chance.

    Example::

        >>> auroc(torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.15]))
        0.75
    """
    for name, s in (
        ("scores_negative", scores_negative),
        ("scores_positive", scores_positive),
    ):
        if not isinstance(s, torch.Tensor) or s.ndim != 1 or len(s) == 0:
            raise ValueError(f"{name} must be a non-empty 1-d tensor.")
        if not torch.isfinite(s).all():
            raise ValueError(f"{name} must be finite.")
    neg = scores_negative.detach().double().cpu()
    pos = scores_positive.detach().double().cpu()
    both = torch.cat([neg, pos])
    # Mid-ranks (average rank of ties), 1-based.
    sorted_vals, order = torch.sort(both)
    ranks = torch.empty_like(both)
    ranks[order] = torch.arange(1, len(both) + 1, dtype=torch.float64)
    uniq, inverse, counts = torch.unique_consecutive(
        sorted_vals, return_inverse=True, return_counts=True
    )
    first = torch.cumsum(counts, 0) - counts + 1
    mid = first.double() + (counts.double() - 1) / 2
    ranks[order] = mid[inverse]
    n_pos, n_neg = len(pos), len(neg)
    u = ranks[n_neg:].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def selective_accuracy(
    probs: torch.Tensor,
    labels: torch.Tensor,
    uncertainty: torch.Tensor,
    rejected: torch.Tensor | None = None,
) -> torch.Tensor:
    """Accuracy on the examples kept after refusing the most uncertain ones.

    ``rejected`` holds the refused shares (default 0, 0.01, ..., 0.99);
    for a share ``r`` the ``floor(r * N)`` examples with the largest
    ``uncertainty`` are refused (ties broken by position). ``uncertainty``
    must be finite: a NaN has no place in the order. Returns one accuracy
    per share.

    Example::

        shares = torch.tensor([0.0, 0.5])
        selective_accuracy(probs, labels, entropy(probs), shares)
    """
    p, y = _pred_and_labels(probs, labels)
    n = len(y)
    if (
        not isinstance(uncertainty, torch.Tensor)
        or uncertainty.shape != (n,)
        or uncertainty.is_complex()
    ):
        raise ValueError(f"uncertainty must be a real tensor of shape ({n},).")
    if not torch.isfinite(uncertainty).all():
        raise ValueError("uncertainty must be finite (no NaN or infinity).")
    if rejected is None:
        rejected = torch.arange(100, dtype=torch.float64) / 100
    rejected = torch.as_tensor(rejected, dtype=torch.float64)
    if rejected.ndim != 1 or not ((rejected >= 0) & (rejected < 1)).all():
        raise ValueError("rejected must be a 1-d tensor of shares in [0, 1).")
    order = torch.argsort(uncertainty.detach().cpu(), stable=True)  # most certain first
    correct = (p.argmax(-1) == y).double().cpu()[order]
    cum = torch.cumsum(correct, 0)
    kept = (n - torch.floor(rejected * n + 1e-9).long()).clamp_min(1)
    return cum[kept - 1] / kept.double()


# Regression: S draws f (S, N) of the function, and a noise scale sigma.


def predictive_moments(
    f: torch.Tensor, sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and sd of ``y*`` under the mixture ``(1/S) sum_s N(f_s, sigma^2)``.

    Example::

        >>> mean, sd = predictive_moments(torch.zeros(10, 3), 0.1)
        >>> sd
        tensor([0.1000, 0.1000, 0.1000])
    """
    return f.mean(0), (f.var(0, correction=0) + sigma**2).sqrt()


def gaussian_w2(
    mean_a: torch.Tensor, sd_a: torch.Tensor, mean_b: torch.Tensor, sd_b: torch.Tensor
) -> torch.Tensor:
    """The 2-Wasserstein distance between ``N(mean_a, sd_a^2)`` and ``N(mean_b, sd_b^2)``.

    Example::

        >>> gaussian_w2(torch.tensor(0.), torch.tensor(1.), torch.tensor(3.), torch.tensor(5.))
        tensor(5.)
    """
    return ((mean_a - mean_b) ** 2 + (sd_a - sd_b) ** 2).sqrt()


def log_predictive_density(f: torch.Tensor, sigma: float, y: torch.Tensor) -> float:
    """Mean over points of ``log (1/S) sum_s N(y_n; f_s(x_n), sigma^2)``; ``f`` is ``(S, N)``.

    Example::

        >>> log_predictive_density(torch.zeros(5, 2), 1.0, torch.zeros(2))  # log N(0; 0, 1)
        -0.918...
    """
    log_p = dist.Normal(f, sigma).log_prob(y)
    return float((log_p.logsumexp(0) - math.log(len(f))).mean())
