"""Inference: the package's training loop, SVI, and NUTS.

:func:`train_loop` (``loop.py``) is the one training loop, with the
divergence guard :func:`finite_loss`; on it :func:`fit_svi` (``svi.py``)
fits any Pyro model and guide by SVI, full batch or in mini-batches, and
:func:`fit_classifier` trains an ordinary classifier by maximum likelihood.
Their batches come from ``feeding.py`` (:func:`batches`,
:class:`MixedBatches`), their learning-rate schedules from ``schedules.py``
(:class:`Schedule`). :func:`run_nuts` samples a small model's posterior with NUTS
(``nuts.py``); :func:`run_numpyro_nuts` runs NumPyro's vectorised NUTS
for a network's reference posterior (``numpyro_nuts.py``).
"""

from .feeding import MixedBatches, batches
from .loop import (
    DivergenceError,
    FitResult,
    finite_loss,
    fit_classifier,
    fit_deterministic,
    progress_enabled,
    train_loop,
)
from .numpyro_nuts import run_numpyro_nuts
from .nuts import NutsResult, run_nuts
from .schedules import Schedule
from .svi import fit_svi

__all__ = [
    "DivergenceError",
    "FitResult",
    "MixedBatches",
    "NutsResult",
    "Schedule",
    "batches",
    "finite_loss",
    "fit_classifier",
    "fit_deterministic",
    "fit_svi",
    "progress_enabled",
    "run_numpyro_nuts",
    "run_nuts",
    "train_loop",
]
