"""Any network that maps inputs to logits, as a classifier of the vocabulary.

Example::

    >>> import torch
    >>> from torch import nn
    >>> net = PointClassifier(nn.Linear(5, 3))
    >>> net.predict(torch.randn(4, 5)).shape              # (1, N, C)
    torch.Size([1, 4, 3])
"""

from __future__ import annotations

import torch
from torch import nn

from .. import checks

__all__ = ["PointClassifier"]


class PointClassifier(nn.Module):
    """``net`` (inputs -> logits) with ``predict(x, num_samples=1)`` -> (1, N, C).

    A point estimate makes one prediction, so ``num_samples`` must be 1; the
    argument is there for the shared surface of the book's classifiers.
    Calling the module gives the logits, as ``net`` does.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ValueError(
                f"net must be a torch.nn.Module, got {type(net).__name__}."
            )
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of ``x``."""
        return self.net(x)

    @torch.no_grad()
    def predict(
        self, x: torch.Tensor, num_samples: int = 1, *, batch_size: int = 2000
    ) -> torch.Tensor:
        """Class probabilities (1, N, C), without gradients, on ``x``'s device."""
        if checks.positive_int("num_samples", num_samples) != 1:
            raise ValueError(
                "an ordinary network makes one prediction; num_samples must be "
                f"1, got {num_samples}."
            )
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError("x must be a floating-point torch.Tensor.")
        batch_size = checks.positive_int("batch_size", batch_size)
        param = next(self.parameters())
        was_training = self.training
        self.eval()
        try:
            probs = [
                self.net(x[i : i + batch_size].to(param.device, param.dtype))
                .softmax(-1)
                .to(x.device)
                for i in range(0, len(x), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(probs)[None]
