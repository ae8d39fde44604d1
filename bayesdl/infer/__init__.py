"""Inference: the package's training loops and NUTS.

:func:`fit_svi` fits any Pyro model and guide by SVI, full batch or in
mini-batches, with a loss history, a clock and a guard against divergence;
:func:`fit_classifier` trains an ordinary classifier the same way by
maximum likelihood. Both draw their mini-batches from :func:`batches`
(``loop.py``). :func:`run_nuts` samples a small model's posterior with NUTS
(``nuts.py``); :func:`run_numpyro_nuts` runs NumPyro's vectorised NUTS
for a network's reference posterior (``numpyro_nuts.py``).
"""

from .loop import (
    DivergenceError,
    FitResult,
    batches,
    fit_classifier,
    fit_deterministic,
    fit_svi,
    progress_enabled,
)
from .numpyro_nuts import run_numpyro_nuts
from .nuts import NutsResult, run_nuts

__all__ = [
    "DivergenceError",
    "FitResult",
    "NutsResult",
    "batches",
    "fit_classifier",
    "fit_deterministic",
    "fit_svi",
    "progress_enabled",
    "run_numpyro_nuts",
    "run_nuts",
]
