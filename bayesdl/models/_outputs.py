"""What the approximate posteriors' ``predict`` returns, shared by
:mod:`~bayesdl.models.approx` and :mod:`~bayesdl.models.laplace`."""

from __future__ import annotations

import torch

__all__ = ["OUTPUTS"]

OUTPUTS = ("probs", "regression")
"""What ``predict`` returns: class probabilities (softmax of the logits) or
function values (the network's output, its trailing dimension of 1 dropped)."""


def _check_output(output: object) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}.")
    return output


def _transform(out: torch.Tensor, output: str) -> torch.Tensor:
    if output == "probs":
        return out.softmax(-1)
    return out.squeeze(-1) if out.ndim > 1 and out.shape[-1] == 1 else out
