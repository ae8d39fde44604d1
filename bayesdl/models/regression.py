r"""Bayesian linear regression: the model as a ``PyroModule``, and, for a known
noise scale, its exact posterior, log evidence and ELBO in closed form.

The model, for inputs :math:`x_n \in \mathbb{R}^D` and targets
:math:`y_n \in \mathbb{R}`, is

.. math::

    b \sim \mathcal{N}(0, s_0^2), \quad
    w \sim \mathcal{N}(0, s_0^2 I_D), \quad
    \sigma \sim \mathrm{HalfNormal}(s_\sigma) \text{ (or known)}, \quad
    y_n \mid b, w, \sigma \sim \mathcal{N}(b + w^\top x_n, \sigma^2).

With :math:`\sigma` known, :math:`\theta = (b, w)` has a Gaussian prior and a
linear-Gaussian likelihood, so its posterior and the evidence are Gaussian in
closed form (Bishop 2006, section 3.3). Every closed-form function here orders
:math:`\theta` as ``[bias, weight_1, ..., weight_D]``, the order in which the
model samples its sites (and hence the order of an
``AutoMultivariateNormal``'s latent vector), and computes in float64. The
docstrings of the functions write their formulas in plain text, because the
book's chapters show these functions' source.
"""

from __future__ import annotations

import functools
import inspect
import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroSample
from torch.distributions import MultivariateNormal, kl_divergence

from .. import checks

__all__ = [
    "BayesianLinearRegression",
    "analytic_elbo",
    "conjugate_posterior",
    "conjugate_predictive",
    "design_matrix",
    "expected_log_likelihood",
    "log_evidence",
]


def _valid_data(
    x: torch.Tensor, y: torch.Tensor | None, in_features: int | None = None
):
    """Validate ``x`` (N,) or (N, D), N >= 1, and ``y`` (N,); return ``x`` as (N, D)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N,) or (N, D), got {tuple(x.shape)}.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"x must hold at least one row and one feature, got shape {tuple(x.shape)}."
        )
    if in_features is not None and x.shape[1] != in_features:
        raise ValueError(
            f"x has {x.shape[1]} features per row but the model expects {in_features}."
        )
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values; clean the data first.")
    if y is not None:
        if not isinstance(y, torch.Tensor):
            raise ValueError(f"y must be a torch.Tensor, got {type(y).__name__}.")
        if y.ndim != 1:
            raise ValueError(f"y must have shape (N,), got {tuple(y.shape)}.")
        if y.shape[0] != x.shape[0]:
            raise ValueError(
                f"y has {y.shape[0]} entries but x has {x.shape[0]} rows; "
                "inputs and targets must have the same length."
            )
        if not torch.isfinite(y).all():
            raise ValueError("y contains NaN or infinite values; clean the data first.")
    return x


def _validated(fn):
    """Check a public function's data and scales once, at its entry.

    ``x`` (with ``y`` when given) must be valid data and comes in as (N, D);
    ``x_new`` must have as many features as ``x``; ``prior_scale`` and
    ``noise_scale`` must be positive finite numbers.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        given = bound.arguments
        for name in ("prior_scale", "noise_scale"):
            if name in given:
                checks.positive_float(name, given[name])
        if "x" in given:
            given["x"] = _valid_data(given["x"], given.get("y"))
        if "x_new" in given:
            x_new = _valid_data(given["x_new"], None)
            if x_new.shape[1] != given["x"].shape[1]:
                raise ValueError(
                    f"x_new has {x_new.shape[1]} features per row but x has "
                    f"{given['x'].shape[1]}."
                )
            given["x_new"] = x_new
        return fn(*bound.args, **bound.kwargs)

    return wrapper


def _validate_first_call(model, args: tuple, kwargs: dict) -> None:
    """A forward pre-hook: check the first data the model is run on, once."""
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    _valid_data(bound.arguments["x"], bound.arguments.get("y"), model.in_features)
    model._first_call.remove()


class BayesianLinearRegression(PyroModule):
    """Bayesian linear regression with Gaussian priors on the bias and weights.

    Priors: bias and weights N(0, prior_scale^2); the noise scale sigma is
    HalfNormal(noise_prior_scale), or fixed when noise_scale is given. The
    priors are built from buffers, so the model follows .to(device).
    forward(x, y=None), also called as model(x, y), takes x of shape (N,) or
    (N, D), observes y (N,) when given, and returns the mean b + x w (N,).
    Sample sites: bias, weight, sigma (when learned), obs. The first data
    the model runs on are checked (shapes, finite values); the steps of a
    fit after it run without checks.

    Example::

        model = BayesianLinearRegression(prior_scale=10.0)
        guide = pyro.infer.autoguide.AutoMultivariateNormal(model)
        fit = bayesdl.infer.fit_svi(model, guide, x, y, num_steps=2000)
    """

    def __init__(
        self,
        in_features: int = 1,
        *,
        prior_scale: float = 10.0,
        noise_scale: float | None = None,
        noise_prior_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_features = checks.positive_int("in_features", in_features)
        prior_scale = checks.positive_float("prior_scale", prior_scale)
        if noise_scale is not None:
            noise_scale = checks.positive_float("noise_scale", noise_scale)
        noise_prior_scale = checks.positive_float(
            "noise_prior_scale", noise_prior_scale
        )
        self.register_buffer("prior_scale", torch.tensor(float(prior_scale)))
        self.register_buffer(
            "noise_prior_scale", torch.tensor(float(noise_prior_scale))
        )
        known = None if noise_scale is None else torch.tensor(float(noise_scale))
        self.register_buffer("noise_scale", known)
        self.bias = PyroSample(
            lambda self: dist.Normal(
                torch.zeros_like(self.prior_scale), self.prior_scale
            )
        )
        self.weight = PyroSample(
            lambda self: (
                dist.Normal(torch.zeros_like(self.prior_scale), self.prior_scale)
                .expand([self.in_features])
                .to_event(1)
            )
        )
        if noise_scale is None:
            self.sigma = PyroSample(
                lambda self: dist.HalfNormal(self.noise_prior_scale)
            )
        self._first_call = self.register_forward_pre_hook(
            _validate_first_call, with_kwargs=True
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Run the model on inputs x (N,) or (N, D); observe y (N,) if given."""
        x = x.reshape(len(x), -1)  # (N,) becomes (N, 1)
        bias, weight = self.bias, self.weight  # sampled in this order
        sigma = self.sigma if self.noise_scale is None else self.noise_scale
        # Batched draws (vectorised particles, parallel Predictive) give the
        # bias the shape (S, 1) and the weight (S, 1, D), or (S, D) from an
        # AutoContinuous guide: line the weight up with the bias, then
        # broadcast against x of shape (N, D).
        weight = weight.reshape(bias.shape + weight.shape[-1:])
        mean = bias + (weight * x).sum(-1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(mean, sigma), obs=y)
        return mean

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The Pyro model, by its name in the book's vocabulary: ``self(x, y)``."""
        return self(x, y)


@_validated
def design_matrix(x: torch.Tensor) -> torch.Tensor:
    """The matrix X = [1, x] of shape (N, D + 1), in float64.

    Example::

        >>> design_matrix(torch.tensor([1.0, 2.0]))
        tensor([[1., 1.],
                [1., 2.]], dtype=torch.float64)
    """
    x = x.double()
    return torch.cat([torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device), x], -1)


@_validated
def conjugate_posterior(
    x: torch.Tensor, y: torch.Tensor, *, prior_scale: float, noise_scale: float
) -> MultivariateNormal:
    """The exact posterior N(m, S) of theta = (b, w) for a known noise scale.

    With X = [1, x], the prior N(0, s0^2 I) and the noise scale sigma:
    precision S^-1 = I / s0^2 + X^T X / sigma^2, mean m = S X^T y / sigma^2.
    Returns a float64 MultivariateNormal over [bias, weight_1, ..., weight_D].

    Example::

        post = conjugate_posterior(x, y, prior_scale=10.0, noise_scale=0.5)
        post.mean, post.stddev
    """
    X, yd = design_matrix(x), y.double()
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    precision = eye / prior_scale**2 + X.T @ X / noise_scale**2
    chol = torch.linalg.cholesky(precision)
    mean = torch.cholesky_solve(
        (X.T @ yd / noise_scale**2).unsqueeze(-1), chol
    ).squeeze(-1)
    return MultivariateNormal(mean, precision_matrix=precision)


@_validated
def conjugate_predictive(
    x_new: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    prior_scale: float,
    noise_scale: float,
) -> dist.Normal:
    """The exact posterior predictive of targets at x_new, noise scale known.

    With the posterior N(m, S) of conjugate_posterior and x* = [1, x_new],
    each new target is N(x*^T m, sigma^2 + x*^T S x*). Returns a float64
    Normal with batch shape (M,).

    Example::

        pred = conjugate_predictive(x_test, x, y, prior_scale=10.0, noise_scale=0.5)
        lo, hi = pred.icdf(torch.tensor(0.05)), pred.icdf(torch.tensor(0.95))
    """
    post = conjugate_posterior(x, y, prior_scale=prior_scale, noise_scale=noise_scale)
    X_new = design_matrix(x_new)
    mean = X_new @ post.mean
    var = noise_scale**2 + ((X_new @ post.covariance_matrix) * X_new).sum(-1)
    return dist.Normal(mean, var.sqrt())


@_validated
def log_evidence(
    x: torch.Tensor, y: torch.Tensor, *, prior_scale: float, noise_scale: float
) -> torch.Tensor:
    """The log marginal likelihood log p(y | x) for a known noise scale.

    Integrating theta out gives y ~ N(0, sigma^2 I + s0^2 X X^T). This
    evaluates that density through the posterior precision L = S^-1 and
    mean m, with a (D+1)-sized determinant instead of an N-sized one::

        log p(y) = - N/2 log(2 pi) - N log(sigma) - (D+1) log(s0)
                   - 1/2 log det L - 1/2 (y^T y / sigma^2 - m^T L m).

    Returns a 0-dim float64 tensor.

    Example::

        float(log_evidence(x, y, prior_scale=10.0, noise_scale=0.5))
    """
    post = conjugate_posterior(x, y, prior_scale=prior_scale, noise_scale=noise_scale)
    yd = y.double()
    n, k = yd.shape[0], post.mean.shape[0]
    lam, m = post.precision_matrix, post.mean
    logdet = 2.0 * torch.log(torch.diagonal(torch.linalg.cholesky(lam))).sum()
    quad = yd @ yd / noise_scale**2 - m @ lam @ m
    value = (
        -0.5 * n * math.log(2 * math.pi)
        - n * math.log(noise_scale)
        - k * math.log(prior_scale)
        - 0.5 * logdet
        - 0.5 * quad
    )
    return value


def _as_float64(q: MultivariateNormal, k: int) -> MultivariateNormal:
    if not isinstance(q, MultivariateNormal):
        raise ValueError(f"q must be a MultivariateNormal, got {type(q).__name__}.")
    if q.event_shape != (k,) or q.batch_shape != ():
        raise ValueError(
            f"q must be a single MultivariateNormal over {k} values "
            f"([bias, weights]), got batch {tuple(q.batch_shape)} and event "
            f"{tuple(q.event_shape)}."
        )
    return MultivariateNormal(q.mean.double(), scale_tril=q.scale_tril.double())


@_validated
def expected_log_likelihood(
    q: MultivariateNormal, x: torch.Tensor, y: torch.Tensor, *, noise_scale: float
) -> torch.Tensor:
    """E_q[log p(y | theta)] for a Gaussian q = N(mu, S) over [bias, weights].

    In closed form, with X = [1, x]::

        - N/2 log(2 pi sigma^2) - (|y - X mu|^2 + trace(X S X^T)) / (2 sigma^2).

    Returns a 0-dim float64 tensor, differentiable in q's parameters.

    Example::

        expected_log_likelihood(q, x, y, noise_scale=0.5)
    """
    X, yd = design_matrix(x), y.double()
    q = _as_float64(q, X.shape[1])
    resid = yd - X @ q.mean
    trace = ((X @ q.scale_tril) ** 2).sum()
    n = yd.shape[0]
    value = -0.5 * n * math.log(2 * math.pi * noise_scale**2) - (
        resid @ resid + trace
    ) / (2 * noise_scale**2)
    return value


@_validated
def analytic_elbo(
    q: MultivariateNormal,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    prior_scale: float,
    noise_scale: float,
) -> torch.Tensor:
    """The ELBO of a Gaussian q over [bias, weights], in closed form.

    ELBO(q) = E_q[log p(y | theta)] - KL(q || p(theta)), with the prior
    p(theta) = N(0, s0^2 I) and a known noise scale. Returns a 0-dim float64
    tensor, differentiable in q's parameters.

    Example::

        q = guide.get_posterior()  # an AutoMultivariateNormal's q
        analytic_elbo(q, x, y, prior_scale=10.0, noise_scale=0.5)
    """
    X = design_matrix(x)
    k = X.shape[1]
    q = _as_float64(q, k)
    prior = MultivariateNormal(
        torch.zeros(k, dtype=torch.float64, device=X.device),
        scale_tril=prior_scale * torch.eye(k, dtype=torch.float64, device=X.device),
    )
    ell = expected_log_likelihood(q, x, y, noise_scale=noise_scale)
    return ell - kl_divergence(q, prior)
