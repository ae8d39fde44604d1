"""The approximations of the sine network that the reference posterior judges.

Five methods fitted to the data of :mod:`bayesdl.recipes.sine_reference`:
mean-field and full-rank variational inference on :class:`SineBNN`
(:func:`fit_guide`), and ordinary networks trained to the MAP
(:func:`fit_maps`) for a deep ensemble, the Laplace approximation and MC
dropout. Every fitted object answers ``predict(x, num_samples=S)`` with
``(S, N)`` draws of the function value ``f(x)`` and carries a noise scale
``sigma`` (a float), so one set of measures applies to all of them
(:func:`sd_profile` over the chapter's :func:`region_masks`).

Example::

    from pyro.infer.autoguide import AutoNormal
    x, y = sine_reference.sine_data(100)
    post, fit = fit_guide(AutoNormal, x, y, lr=0.03)
    mean, f_sd, y_sd = sd_profile(post.predict(x), post.sigma)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .. import checks, config, infer
from ..timing import Stopwatch
from .sine_reference import SITES, SineBNN, network_function

__all__ = [
    "ApproxSettings",
    "Column",
    "GuidePosterior",
    "MapFit",
    "approx_settings",
    "fit_guide",
    "fit_map_regression",
    "fit_maps",
    "region_masks",
    "regression_net",
    "sd_profile",
    "validation_split",
]


class GuidePosterior:
    """A fitted autoguide of :class:`SineBNN`, with ``predict``.

    ``sigma`` is the mean of the guide's noise scale over 1000 draws.
    """

    def __init__(self, guide, x: torch.Tensor):
        self.guide = guide
        self._x = x
        self.sigma = float(self._draws(1000)["sigma"].mean())

    @torch.no_grad()
    def _draws(self, num_samples: int) -> dict[str, torch.Tensor]:
        draws = [self.guide(self._x) for _ in range(num_samples)]
        return {k: torch.stack([d[k] for d in draws]) for k in SITES}

    def predict(self, x: torch.Tensor, num_samples: int = 1000) -> torch.Tensor:
        """``(S, N)`` draws of ``f(x)`` under weights drawn from the guide."""
        num_samples = checks.positive_int("num_samples", num_samples)
        return network_function(self._draws(num_samples), x)


class Column(nn.Module):
    """``x`` of shape ``(N,)`` as a column ``(N, 1)``, for ``nn.Linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N,) as ``(N, 1)``."""
        return x.unsqueeze(-1)


def regression_net(hidden: int = 50, dropout: float = 0.0) -> nn.Sequential:
    """The same 1-``hidden``-1 ReLU network as an ordinary module (optional dropout)."""
    from ..models.approx import check_dropout_rate

    hidden = checks.positive_int("hidden", hidden)
    layers = [Column(), nn.Linear(1, hidden), nn.ReLU()]
    if check_dropout_rate(dropout) > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, 1))


def fit_map_regression(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    prior_scale: float = 1.0,
    num_steps: int = 3000,
    lr: float = 0.01,
) -> tuple[float, float]:
    """Train ``net`` to the MAP of the Gaussian regression, the noise learned with it.

    The loss is minus the log joint, ``-sum_n log N(y_n; f(x_n), sigma^2) +
    |w|^2 / (2 prior_scale^2)``, minimised by full-batch Adam over the
    weights and ``log sigma`` (no prior on sigma: its maximum likelihood
    value). Dropout layers, if any, are on during training. Returns
    ``(sigma, seconds)``.

    Example::

        net = regression_net(50)
        sigma, seconds = fit_map_regression(net, x, y, num_steps=2000)
    """
    prior_scale = checks.positive_float("prior_scale", prior_scale)
    num_steps = checks.positive_int("num_steps", num_steps)
    lr = checks.positive_float("lr", lr)
    log_sigma = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([*net.parameters(), log_sigma], lr=lr)
    clock = Stopwatch().start()
    net.train()
    for _ in range(num_steps):
        opt.zero_grad()
        f = net(x).squeeze(-1)
        nll = -dist.Normal(f, log_sigma.exp()).log_prob(y).sum()
        penalty = sum((p**2).sum() for p in net.parameters()) / (2 * prior_scale**2)
        (nll + penalty).backward()
        opt.step()
    net.eval()
    return float(log_sigma.detach().exp()), clock.stop()


@dataclass(frozen=True)
class ApproxSettings:
    """The approximations' settings; the profile picks the lengths.

    ``svi_lrs`` are the variational fits' candidate peak learning rates, one
    chosen per guide on the final ELBO; each run decays its rate
    geometrically to ``lr * svi_final_ratio``. ``dropout_rates`` are MC
    dropout's candidates, one chosen on a validation split of
    ``validation_fraction`` of the training points. ``num_seeds`` runs of
    every method give the spread that the chapter's verdicts are read from.

    Example::

        >>> ApproxSettings().ensemble_size
        5
    """

    svi_steps: int = field(default_factory=lambda: config.choose(full=3000, smoke=30))
    svi_lrs: tuple[float, ...] = (0.01, 0.03)
    svi_final_ratio: float = 0.05
    init_scale: float = 0.01
    map_steps: int = field(default_factory=lambda: config.choose(full=2000, smoke=30))
    map_lr: float = 0.02
    ensemble_size: int = 5
    dropout_rates: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    validation_fraction: float = 0.2
    num_seeds: int = 3
    num_samples: int = field(default_factory=lambda: config.choose(full=1000, smoke=50))


def approx_settings() -> ApproxSettings:
    """The approximations' :class:`ApproxSettings` in the current profile."""
    return ApproxSettings()


def fit_guide(
    guide_class: type,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    seed: int = 0,
    settings: ApproxSettings | None = None,
) -> tuple[GuidePosterior, infer.FitResult]:
    """Fit an autoguide of a fresh :class:`SineBNN` by SVI from seed ``seed``.

    Returns the fitted :class:`GuidePosterior` and the run's record (its
    ``losses`` are minus the ELBO at every step).

    Example::

        from pyro.infer.autoguide import AutoNormal
        post, fit = fit_guide(AutoNormal, x, y, lr=0.01)
        -fit.final_loss                                 # the final ELBO
    """
    settings = settings or approx_settings()
    pyro.set_rng_seed(checks.seed(seed))
    model = SineBNN()
    guide = guide_class(model, init_scale=settings.init_scale)
    fit = infer.fit_svi(
        model,
        guide,
        x,
        y,
        num_steps=settings.svi_steps,
        lr=lr,
        final_lr=lr * settings.svi_final_ratio,
    )
    return GuidePosterior(guide, x), fit


@dataclass
class MapFit:
    """One network trained to the MAP: the module, its noise scale, its time."""

    net: nn.Module
    sigma: float
    seconds: float


def fit_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int = 0,
    dropout: float = 0.0,
    size: int | None = None,
    settings: ApproxSettings | None = None,
) -> list[MapFit]:
    """Train ``size`` networks (default the ensemble size) to the MAP.

    Member ``i`` of seed ``seed`` starts from ``torch.manual_seed(seed *
    size + i)``, so the ensembles of different seeds share no member.

    Example::

        members = fit_maps(x, y, seed=0)            # one deep ensemble
        [m.sigma for m in members]
    """
    settings = settings or approx_settings()
    size = settings.ensemble_size if size is None else checks.positive_int("size", size)
    seed = checks.seed(seed)
    fits = []
    for i in range(size):
        torch.manual_seed(seed * size + i)
        net = regression_net(50, dropout=dropout)
        sigma, seconds = fit_map_regression(
            net, x, y, num_steps=settings.map_steps, lr=settings.map_lr
        )
        fits.append(MapFit(net, sigma, seconds))
    return fits


def validation_split(
    x: torch.Tensor, y: torch.Tensor, *, fraction: float = 0.2, seed: int = 0
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """A random ``(1 - fraction, fraction)`` split of the points: ``(fit, validation)``.

    Example::

        >>> x, y = torch.arange(10.0), torch.arange(10.0)
        >>> (xf, yf), (xv, yv) = validation_split(x, y, fraction=0.2)
        >>> len(xf), len(xv)
        (8, 2)
    """
    fraction = checks.positive_float("fraction", fraction)
    n_val = round(len(x) * fraction)
    if not 0 < n_val < len(x):
        raise ValueError(
            f"fraction={fraction} leaves no point on one side of a split of {len(x)}."
        )
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val, fit = order[:n_val], order[n_val:]
    return (x[fit], y[fit]), (x[val], y[val])


def sd_profile(
    f: torch.Tensor, sigma: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, *function* sd and *predictive* sd at each input, from ``(S, N)`` draws.

    The function sd is the spread of the draws of ``f(x)`` (the epistemic
    part); the predictive sd adds the noise, ``sqrt(var f + sigma^2)``, as
    :func:`bayesdl.metrics.predictive_moments` does.

    Example::

        >>> mean, f_sd, y_sd = sd_profile(torch.tensor([[0.0], [2.0]]), 1.0)
        >>> f_sd.item(), round(y_sd.item(), 4)
        (1.0, 1.4142)
    """
    return f.mean(0), f.std(0, correction=0), (f.var(0, correction=0) + sigma**2).sqrt()


def region_masks(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The chapter's three regions of the grid: over the data (``1 <= |x| <= 3``),
    the middle of the gap (``|x| < 0.5``) and beyond the data (``|x| >= 4``).

    Example::

        >>> {k: int(m.sum()) for k, m in region_masks(torch.linspace(-5, 5, 11)).items()}
        {'data': 6, 'gap': 1, 'beyond': 4}
    """
    a = x.abs()
    return {"data": (a >= 1) & (a <= 3), "gap": a < 0.5, "beyond": a >= 4}
