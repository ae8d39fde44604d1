"""Approximate posteriors built from ordinary networks: ensembles, MC dropout, Laplace.

Three ways to get a spread of predictions without a guide, each around one
or more networks trained by (penalised) maximum likelihood. They share one
surface with the book's other models: ``predict(x, num_samples=S)`` returns
``S`` predictions stacked along a new leading dimension, run without
gradients, on the input's device:

- a classifier's predictions are probabilities, ``(S, N, C)``;
- a regression network's are function values ``f(x)``, ``(S, N)`` for a
  network with one output (the trailing output dimension of size 1 is
  dropped); the observation noise is a separate, fitted scale ``sigma``,
  so the predictive density is the mixture ``(1/S) sum_s N(y; f_s(x),
  sigma^2)`` whatever the method.

The third, the Laplace approximation, is
:class:`~bayesdl.models.laplace.LaplaceGLM` in :mod:`bayesdl.models.laplace`.

Example::

    >>> nets = [torch.nn.Linear(3, 2) for _ in range(5)]
    >>> Ensemble(nets, output="probs").predict(torch.randn(7, 3)).shape
    torch.Size([5, 7, 2])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import checks
from ._outputs import OUTPUTS, _check_output, _transform

__all__ = [
    "OUTPUTS",
    "Ensemble",
    "MCDropout",
    "check_dropout_rate",
    "check_ensemble_size",
]


def check_ensemble_size(size: object) -> int:
    """An ensemble's number of members: an int >= 2 (one network is no ensemble).

    Example::

        >>> check_ensemble_size(5)
        5
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(
            f"an ensemble needs an int of at least 2 members, got {size!r}."
        )
    return size


def check_dropout_rate(rate: object) -> float:
    """A dropout probability in ``[0, 1)`` (1 would drop every unit).

    Example::

        >>> check_dropout_rate(0.1)
        0.1
    """
    ok = isinstance(rate, int | float) and not isinstance(rate, bool)
    if not ok or not 0 <= float(rate) < 1:
        raise ValueError(f"the dropout rate must be a number in [0, 1), got {rate!r}.")
    return float(rate)


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


class Ensemble(nn.Module):
    """A deep ensemble: networks trained apart, predicting together.

    ``members`` are any modules mapping ``x`` to logits (``output="probs"``)
    or to function values (``output="regression"``); ``sigma``, for a
    regression ensemble, is the noise scale of the predictive (for example
    the mean of the members' fitted scales). ``predict(x, num_samples=S)``
    returns the first ``S`` members' predictions, all of them by default.

    Example::

        >>> ens = Ensemble([torch.nn.Linear(1, 1) for _ in range(5)],
        ...                output="regression", sigma=0.1)
        >>> ens.predict(torch.randn(4, 1)).shape
        torch.Size([5, 4])
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        *,
        output: str = "probs",
        sigma: float | None = None,
    ):
        super().__init__()
        members = list(members)
        check_ensemble_size(len(members))
        if not all(isinstance(m, nn.Module) for m in members):
            raise ValueError("every member of an ensemble must be a torch.nn.Module.")
        self.members = nn.ModuleList(members)
        self.output = _check_output(output)
        self.sigma = None if sigma is None else checks.positive_float("sigma", sigma)

    def __len__(self) -> int:
        return len(self.members)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """The members' predictions stacked: ``(S, N, ...)``, S <= the members."""
        size = len(self.members)
        if num_samples is None:
            num_samples = size
        num_samples = checks.positive_int("num_samples", num_samples)
        if num_samples > size:
            raise ValueError(
                f"num_samples={num_samples} asks for more predictions than the "
                f"ensemble's {size} members."
            )
        device = x.device
        outs = []
        for member in self.members[:num_samples]:
            was_training = member.training
            member.eval()
            out = member(x.to(_device_of(member)))
            member.train(was_training)
            outs.append(_transform(out, self.output).to(device))
        return torch.stack(outs)


class MCDropout(nn.Module):
    """Monte Carlo dropout: the network's dropout layers stay on at prediction.

    ``net`` is a module with ``nn.Dropout`` layers, trained with them as
    usual; ``predict(x, num_samples=S)`` runs it ``S`` times with every
    dropout layer in training mode and every other layer in evaluation mode
    (batch norm keeps its running statistics), so each pass drops a fresh
    random set of units (Gal and Ghahramani, 2016). A network with a
    ``dropout_split()`` method (:meth:`bayesdl.models.bnn.LeNet.dropout_split`)
    runs its deterministic part once and only the rest ``S`` times, with the
    same draws.

    Example::

        >>> net = torch.nn.Sequential(torch.nn.Linear(1, 50), torch.nn.ReLU(),
        ...                           torch.nn.Dropout(0.1), torch.nn.Linear(50, 1))
        >>> MCDropout(net, output="regression", sigma=0.1).predict(
        ...     torch.randn(4, 1), num_samples=20).shape
        torch.Size([20, 4])
    """

    def __init__(self, net: nn.Module, *, output: str = "probs", sigma=None):
        super().__init__()
        drops = [
            m for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd)
        ]
        if not drops:
            raise ValueError("MC dropout needs a network with at least one nn.Dropout.")
        for m in drops:
            check_dropout_rate(m.p)
        self.net = net
        self.output = _check_output(output)
        self.sigma = None if sigma is None else checks.positive_float("sigma", sigma)

    @torch.no_grad()
    def predict(
        self,
        x: torch.Tensor,
        num_samples: int = 100,
        *,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """``S`` stochastic passes stacked: ``(S, N, ...)``, ``batch_size``
        inputs at a time (all at once by default)."""
        num_samples = checks.positive_int("num_samples", num_samples)
        if batch_size is not None:
            batch_size = checks.positive_int("batch_size", batch_size)
            parts = [
                self.predict(x[i : i + batch_size], num_samples)
                for i in range(0, len(x), batch_size)
            ]
            return torch.cat(parts, dim=1)
        was_training = self.net.training
        self.net.eval()
        for m in self.net.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
        try:
            xd = x.to(_device_of(self.net))
            split = getattr(self.net, "dropout_split", None)
            if split is None:
                outs = [
                    _transform(self.net(xd), self.output) for _ in range(num_samples)
                ]
            else:  # the deterministic trunk once, the head once per pass
                trunk, head = split()
                hidden = trunk(xd)
                outs = [
                    _transform(head(hidden), self.output) for _ in range(num_samples)
                ]
        finally:
            self.net.train(was_training)
        return torch.stack(outs).to(x.device)
