"""The Laplace approximation of a trained network, with the linearised predictive.

:class:`LaplaceGLM` speaks the surface of :mod:`~bayesdl.models.approx`:
``predict(x, num_samples=S)`` returns ``S`` draws, probabilities ``(S, N,
C)`` for a classifier, function values ``(S, N)`` for a regression network.
With the labels it also gives the Laplace estimate of the evidence and the
prior scale that maximises it.

Example::

    la = LaplaceGLM(net, x, y, parameters=["2.weight", "2.bias"])
    la.fit_prior_scale()
    la.predict(x[:4], num_samples=10).shape
    # torch.Size([10, 4, 3])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.func import functional_call, jacrev

from .. import checks
from ._outputs import _check_output, _transform

__all__ = ["LaplaceGLM"]


class LaplaceGLM(nn.Module):
    """The Laplace approximation at a trained network, with the linearised predictive.

    Around the weights ``theta`` of a network trained to the MAP under the
    prior ``N(0, prior_scale^2)`` (weight decay), the posterior is taken as
    ``N(theta, H^-1)`` with ``H`` the generalised Gauss-Newton matrix of
    the negative log joint, ``sum_n J_n^T Lambda_n J_n + I / prior_scale^2``
    (``J_n`` the Jacobian of the network's output at input ``n``,
    ``Lambda_n = 1 / sigma^2`` for a Gaussian likelihood, ``diag(p) - p p^T``
    for a softmax) (MacKay, 1992). The prediction linearises
    the network around ``theta``, ``f(x; w) ~ f(x; theta) + J(x)(w -
    theta)``, so the function values are Gaussian with covariance
    ``J(x) H^-1 J(x)^T``; ``predict`` draws ``S`` of them (and, for a
    classifier, takes the softmax of the drawn logits). ``parameters``
    names the parameters to treat as random (default: all; a last layer's
    names give the last-layer Laplace of a large network); the others stay
    at their trained values. The full ``P x P`` matrix is formed, so ``P``
    must stay in the thousands. For a single ``nn.Linear`` over both its
    weight and bias (the last layer of a larger network, fed its features)
    the Jacobian is ``I_K (x) [x, 1]``, and the GGN and the draws use that
    structure instead of forming Jacobians; the numbers are the same.

    With the labels ``y``, :meth:`log_marginal_likelihood` is the Laplace
    estimate of the evidence ``log p(y | x, prior_scale)``, and
    :meth:`fit_prior_scale` sets the prior scale that maximises it (MacKay's
    evidence framework; Immer et al., 2021), which changes the precision.

    Example::

        >>> net = torch.nn.Sequential(torch.nn.Linear(1, 20), torch.nn.Tanh(),
        ...                           torch.nn.Linear(20, 1))
        >>> x, y = torch.randn(30, 1), torch.randn(30)
        >>> la = LaplaceGLM(net, x, y, output="regression", sigma=0.5,
        ...                 prior_scale=1.0)
        >>> la.predict(x[:4], num_samples=10).shape
        torch.Size([10, 4])
    """

    def __init__(
        self,
        net: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        output: str = "probs",
        sigma: float | None = None,
        prior_scale: float = 1.0,
        parameters: Iterable[str] | None = None,
        batch_size: int = 256,
    ):
        super().__init__()
        self.output = _check_output(output)
        self.prior_scale = checks.positive_float("prior_scale", prior_scale)
        if self.output == "regression":
            if sigma is None:
                raise ValueError("a regression Laplace needs the noise scale sigma.")
            self.sigma = checks.positive_float("sigma", sigma)
        else:
            self.sigma = None
        batch_size = checks.positive_int("batch_size", batch_size)
        self.net = net.eval()
        named = dict(net.named_parameters())
        names = list(named) if parameters is None else list(parameters)
        unknown = [n for n in names if n not in named]
        if not names or unknown:
            raise ValueError(
                f"parameters must name some of the network's parameters "
                f"{sorted(named)}; got {names!r}."
            )
        self.names = names
        self._shapes = [named[n].shape for n in names]
        theta = torch.cat([named[n].detach().reshape(-1) for n in names])
        self.register_buffer("theta", theta)
        ggn = torch.zeros(len(theta), len(theta), device=theta.device)
        loglik = 0.0
        x = x.to(theta.device)
        self._linear = isinstance(net, nn.Linear) and names == ["weight", "bias"]
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size]
            if self._linear:
                out = net(xb).detach()
                ggn += self._linear_ggn(xb, out)
                if y is not None:
                    loglik += self._log_likelihood(out, y[start : start + batch_size])
                continue
            jac, out = self._jacobian(xb)  # (B, K, P), (B, K)
            if self.output == "regression":
                ggn += torch.einsum("bkp,bkq->pq", jac, jac) / self.sigma**2
            else:
                # J^T (diag(p) - p p^T) J, as two products of (B*K, P) blocks.
                p = out.softmax(-1)
                root = (jac * p.sqrt().unsqueeze(-1)).reshape(-1, jac.shape[-1])
                jp = torch.einsum("bkp,bk->bp", jac, p)
                ggn += root.T @ root - jp.T @ jp
            if y is not None:
                loglik += self._log_likelihood(out, y[start : start + batch_size])
        self.register_buffer("data_precision", ggn)
        self.log_likelihood = float(loglik) if y is not None else None
        self._set_prior(self.prior_scale)

    def _linear_order(self) -> torch.Tensor:
        """Where entry (k, i) of ``I_K (x) [x, 1]`` sits in the flat (weight,
        bias) vector: the weight's row k, column i, or bias k for i = D."""
        k_out, d_in = self._shapes[0]
        k = torch.arange(k_out)[:, None]
        i = torch.arange(d_in + 1)[None, :]
        return torch.where(i < d_in, k * d_in + i, k_out * d_in + k).reshape(-1)

    def _linear_ggn(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``sum_n Lambda_n (x) x~_n x~_n^T`` in the flat parameter order."""
        xt = torch.cat([x, torch.ones(len(x), 1, device=x.device)], 1)  # (B, D+1)
        k, d = out.shape[1], xt.shape[1]
        if self.output == "regression":
            lam = torch.eye(k, device=x.device).expand(len(x), k, k) / self.sigma**2
        else:
            p = out.softmax(-1)
            lam = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
        outer = (xt.unsqueeze(2) * xt.unsqueeze(1)).reshape(len(x), d * d)
        blocks = (lam.reshape(len(x), k * k).T @ outer).reshape(k, k, d, d)
        blocks = blocks.permute(0, 2, 1, 3).reshape(k * d, k * d)
        order = self._linear_order().to(x.device)
        ggn = torch.empty_like(blocks)
        ggn[order[:, None], order[None, :]] = blocks
        return ggn

    def _linear_draws(self, x: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """The function values of weight draws ``theta + deltas``: (S, N, K)."""
        k, d = self._shapes[0]
        w = deltas[:, : k * d].reshape(-1, k, d)
        b = deltas[:, k * d :]
        mean = self.net(x)
        return mean + torch.einsum("skd,nd->snk", w, x) + b[:, None, :]

    def _log_likelihood(self, out: torch.Tensor, y: torch.Tensor) -> float:
        y = y.to(out.device)
        if self.output == "regression":
            normal = torch.distributions.Normal(out.reshape(y.shape), self.sigma)
            return float(normal.log_prob(y).double().sum())
        logp = out.log_softmax(-1).gather(-1, y.long().reshape(-1, 1))
        return float(logp.double().sum())

    def _set_prior(self, prior_scale: float) -> None:
        self.prior_scale = float(prior_scale)
        eye = torch.eye(len(self.theta), device=self.theta.device)
        precision = self.data_precision + eye / self.prior_scale**2
        self.register_buffer("precision", precision)
        self.register_buffer("cov_factor", _inverse_cholesky(precision))

    def set_prior_scale(self, prior_scale: float) -> float:
        """Use the prior ``N(0, prior_scale^2 I)``: the precision and the
        predictive change with it, the data's GGN does not. Returns the scale.

        For a prior chosen on something other than the evidence, such as the
        NLL of held-out data.

        Example::

            la.set_prior_scale(0.05)
        """
        self._set_prior(checks.positive_float("prior_scale", prior_scale))
        return self.prior_scale

    def log_marginal_likelihood(self, prior_scale: float | None = None) -> float:
        """The Laplace estimate of ``log p(y | x)`` under ``N(0, prior_scale^2)``.

        ``log p(y | x, theta) - |theta|^2 / 2 s^2 - P log s
        - log det(G + I / s^2) / 2`` with ``G`` the data's GGN (the
        ``2 pi`` factors of prior and posterior cancel); the current prior
        scale by default. Needs the labels ``y`` given at construction.

        Example::

            la.log_marginal_likelihood(prior_scale=0.5)
        """
        if self.log_likelihood is None:
            raise ValueError("the marginal likelihood needs the labels y.")
        s = self.prior_scale if prior_scale is None else prior_scale
        s = checks.positive_float("prior_scale", s)
        evals = torch.linalg.eigvalsh(self.data_precision.double()).clamp_min(0)
        return float(_log_evidence(self, evals, torch.tensor([s]).double())[0])

    def fit_prior_scale(self, low: float = 1e-3, high: float = 1e3) -> float:
        """Set the prior scale in ``[low, high]`` that maximises the evidence.

        A grid of 2001 log-spaced scales, refined once around the best; the
        precision and the predictive change with it. Returns the scale.

        Example::

            la.fit_prior_scale()
        """
        low = checks.positive_float("low", low)
        high = checks.positive_float("high", high)
        if self.log_likelihood is None or not low < high:
            raise ValueError("fit_prior_scale needs the labels y and low < high.")
        evals = torch.linalg.eigvalsh(self.data_precision.double()).clamp_min(0)
        grid = torch.logspace(math.log10(low), math.log10(high), 2001).double()
        for _ in range(2):
            best = int(_log_evidence(self, evals, grid).argmax())
            a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
            grid = torch.linspace(float(a), float(b), 2001).double()
        self._set_prior(float(grid[int(_log_evidence(self, evals, grid).argmax())]))
        return self.prior_scale

    @property
    def num_parameters(self) -> int:
        """The number of weights the Gaussian is over."""
        return len(self.theta)

    def _unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        params, i = {}, 0
        for name, shape in zip(self.names, self._shapes, strict=True):
            n = math.prod(shape)
            params[name] = flat[i : i + n].reshape(shape)
            i += n
        return params

    def _outputs(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.net, self._unflatten(flat), (x,), strict=False)
        return out.reshape(len(x), -1)

    def _jacobian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            jac = jacrev(self._outputs)(self.theta, x)  # (B, K, P)
        return jac.detach(), self._outputs(self.theta, x).detach()

    @torch.no_grad()
    def function_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The linearised predictive's mean ``(N, K)`` and covariance ``(N, K, K)``."""
        jac, mean = self._jacobian(x.to(self.theta.device))
        js = jac @ self.cov_factor  # (N, K, P)
        return mean, js @ js.transpose(-1, -2)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, num_samples: int = 100) -> torch.Tensor:
        """``S`` draws from the linearised predictive: ``(S, N)`` or ``(S, N, C)``."""
        num_samples = checks.positive_int("num_samples", num_samples)
        eps = torch.randn(num_samples, self.num_parameters, device=self.theta.device)
        deltas = eps @ self.cov_factor.T  # (S, P): draws of w - theta
        if self._linear:
            draws = self._linear_draws(x.to(self.theta.device), deltas)
            return _transform(draws, self.output).to(x.device)
        jac, mean = self._jacobian(x.to(self.theta.device))
        draws = mean + torch.einsum("nkp,sp->snk", jac, deltas)
        return _transform(draws, self.output).to(x.device)


def _log_evidence(la: LaplaceGLM, evals: torch.Tensor, scales: torch.Tensor):
    """The Laplace evidence for each prior scale of ``scales``, from the
    eigenvalues ``evals`` of the data's GGN."""
    sq = float(la.theta.double().pow(2).sum())
    delta = scales.pow(-2)[:, None]  # prior precisions
    logdet = torch.log(evals[None, :] + delta).sum(-1)
    p = len(evals)
    return (
        la.log_likelihood
        - 0.5 * delta[:, 0] * sq
        + 0.5 * p * torch.log(delta[:, 0])
        - 0.5 * logdet
    )


def _inverse_cholesky(precision: torch.Tensor) -> torch.Tensor:
    """A factor ``L`` (upper triangular) with ``L L^T = precision^-1``."""
    # precision = U U^T with U lower triangular, so its inverse is
    # U^-T U^-1 = L L^T with L = U^-T.
    chol = torch.linalg.cholesky(precision)
    eye = torch.eye(len(precision), dtype=precision.dtype, device=precision.device)
    return torch.linalg.solve_triangular(chol, eye, upper=False).T
