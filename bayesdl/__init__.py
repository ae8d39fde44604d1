"""bayesdl: the tested package behind *Bayesian Deep Learning with Pyro*.

Typical use at the top of a notebook::

    import bayesdl
    bayesdl.setup(seed=0)
    images, labels = bayesdl.data.load("mnist", "train")
"""

from __future__ import annotations

import random
import warnings

# Pyro imports ``tqdm.auto``, which warns inside a Jupyter kernel when
# ipywidgets is missing. The book shows no progress bars (see
# ``bayesdl.infer.progress_enabled``), so the warning would only litter the
# first cell of every chapter.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

import numpy as np  # noqa: E402
import pyro  # noqa: E402
import torch  # noqa: E402

from . import cache, checks, config, data, infer, metrics, models, plots, zoo  # noqa: E402
from .config import choose, device, profile  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "cache",
    "choose",
    "config",
    "data",
    "device",
    "infer",
    "metrics",
    "models",
    "plots",
    "profile",
    "setup",
    "zoo",
]


def setup(seed: int = 0) -> torch.device:
    """Make a fresh, reproducible start and return the device to use.

    Seeds Python's ``random``, NumPy, torch and Pyro; clears Pyro's global
    parameter store; turns on Pyro's argument validation; and makes
    ``PyroModule`` parameters local to their module
    (``pyro.settings.set(module_local_params=True)``), so that two models
    never share parameters through the global store by accident.

    Example::

        >>> dev = setup(seed=0)
        >>> dev.type in ("cpu", "cuda")
        True
    """
    seed = checks.seed(seed)  # the one rule of every entry point: [0, 2**32)
    config.profile()  # fail early on a misspelled BAYESDL_PROFILE
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator readers use
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.settings.set(module_local_params=True)
    return config.device()
