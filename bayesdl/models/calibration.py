"""Temperature scaling: one scalar that recalibrates a classifier's predictive.

A classifier's predictive ``p`` (the mean of its samples) is sharpened or
flattened as ``softmax(log p / T)``: ``T > 1`` makes it less sure, ``T < 1``
more sure, and the most probable class, so the accuracy, never changes
(Guo et al., 2017). For one network, ``log p`` is its logits up to a
constant, so this is the usual scaling of the logits; for an ensemble or a
Bayesian network it rescales the averaged prediction. ``T`` is fitted on
validation data by minimising the NLL, never on the training data, where a
network is more confident than it will be on new data.

Example::

    t = fit_temperature(net.predict(val_x), val_y)
    TemperatureScaled(net, t).predict(test_x).shape   # (1, N, 10)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import checks

__all__ = ["TemperatureScaled", "fit_temperature", "scale_temperature"]


def _log_predictive(probs: torch.Tensor) -> torch.Tensor:
    probs = checks.probabilities(probs)
    p = probs.mean(0) if probs.ndim == 3 else probs
    return p.double().clamp_min(1e-12).log()


def scale_temperature(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(log p / T)`` of the predictive of ``probs`` ((S, N, C) or (N, C)).

    Returns (N, C) probabilities in the dtype of ``probs``.

    Example::

        >>> scale_temperature(torch.tensor([[0.9, 0.1]]), 2.0)
        tensor([[0.7500, 0.2500]])
    """
    temperature = checks.positive_float("temperature", temperature)
    logp = _log_predictive(probs)
    return (logp / temperature).softmax(-1).to(probs.dtype)


def fit_temperature(
    probs: torch.Tensor, y: torch.Tensor, *, low=0.05, high=20.0
) -> float:
    """The temperature in ``[low, high]`` that minimises the NLL of the labels ``y``.

    The NLL is convex in ``1 / T``; a golden-section search over ``log T``
    finds its minimum to within 1e-6 relative. Fit it on validation data.

    Example::

        fit_temperature(net.predict(val_x), val_y)
    """
    logp = _log_predictive(probs)
    y = checks.labels(y, len(logp), num_classes=logp.shape[1]).to(logp.device)
    low, high = checks.positive_float("low", low), checks.positive_float("high", high)
    if not low < high:
        raise ValueError(f"low must be below high, got {low} and {high}.")

    def nll(log_t: float) -> float:
        scaled = (logp / math.exp(log_t)).log_softmax(-1)
        return float(-scaled.gather(1, y[:, None]).mean())

    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    while b - a > 1e-6:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return math.exp((a + b) / 2)


class TemperatureScaled(nn.Module):
    """A classifier whose predictive is rescaled by a fitted temperature.

    ``net`` is any classifier with ``predict(x, num_samples=S)``;
    ``predict`` averages its ``S`` samples and returns the rescaled
    predictive as one 'sample', shape ``(1, N, C)``, on the input's device.

    Example::

        TemperatureScaled(net, 1.3).predict(test_x).shape
        # torch.Size([1, 10000, 10])
    """

    def __init__(self, net: nn.Module, temperature: float) -> None:
        super().__init__()
        if not hasattr(net, "predict"):
            raise ValueError("the network must have a predict(x, num_samples=S).")
        self.net = net
        self.temperature = checks.positive_float("temperature", temperature)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """The rescaled predictive of ``num_samples`` samples of the network."""
        kwargs = {} if num_samples is None else {"num_samples": num_samples}
        probs = self.net.predict(x, **kwargs)
        return scale_temperature(probs, self.temperature)[None].to(x.device)
