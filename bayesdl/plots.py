"""Plots used by the chapters. Every function takes ``ax=None`` and returns
the ``matplotlib`` Axes it drew on, so a figure can be composed from several.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from . import checks

__all__ = [
    "gaussian_ellipse",
    "image_grid",
    "latent_map",
    "loss_curve",
    "new_axes",
    "posterior_marginals",
    "predictive_band",
    "probability_map",
    "reliability_diagram",
    "selective_prediction",
    "uncertainty_histograms",
]


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    """Return ``ax`` or, when it is ``None``, the Axes of a new figure.

    Example::

        >>> ax = new_axes()
    """
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _finite(name: str, values: object) -> np.ndarray:
    """``values`` (a tensor, array or sequence of numbers) as a float array.

    ``ValueError`` when it is empty or holds NaN or an infinity, which a plot
    would otherwise leave out without a word.
    """
    try:
        arr = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=float)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must hold real numbers ({err}).") from err
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"{name} must be finite; it holds {bad} NaN or infinite values."
        )
    return arr


def _numpy_1d(name: str, values: object) -> np.ndarray:
    return _finite(name, values).reshape(-1)


def probability_map(
    predict: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    extent: float = 6.0,
    resolution: int = 200,
    ax: Axes | None = None,
) -> Axes:
    """Colour the plane by a classifier's confidence, with the data on top.

    ``predict`` maps points of shape (M, 2) to logits or probabilities of
    shape (M, C); the colour is the largest class probability (logits are
    passed through a softmax when the rows do not already sum to one).

    Example::

        ax = probability_map(net, x, y, extent=8.0)
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (N, 2), got {got}.")
    _finite("x", x)
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
        raise ValueError(f"y must be a tensor of shape ({x.shape[0]},).")
    extent = checks.positive_float("extent", extent)
    if checks.positive_int("resolution", resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}.")
    ax = new_axes(ax, figsize=(5.5, 4.5))
    grid = torch.linspace(-extent, extent, resolution)
    gx, gy = torch.meshgrid(grid, grid, indexing="xy")
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
    with torch.no_grad():
        out = predict(points.to(x.device)).detach().cpu()
    _finite("predict(points)", out)
    if (
        not torch.allclose(out.sum(-1), torch.ones(len(out)), atol=1e-4)
        or (out < 0).any()
    ):
        out = out.softmax(-1)
    conf = out.max(-1).values.reshape(resolution, resolution)
    k = out.shape[-1]
    mesh = ax.pcolormesh(
        gx.numpy(),
        gy.numpy(),
        conf.numpy(),
        cmap="viridis",
        vmin=1.0 / k,
        vmax=1.0,
        shading="auto",
    )
    ax.figure.colorbar(mesh, ax=ax, label="confidence (max. class probability)")
    xs, ys = x.detach().cpu(), y.detach().cpu()
    for c, marker in zip(ys.unique().tolist(), "os^v<>", strict=False):
        sel = ys == c
        ax.scatter(
            xs[sel, 0],
            xs[sel, 1],
            s=10,
            marker=marker,
            edgecolor="black",
            linewidth=0.3,
            label=f"class {c}",
        )
    ax.set(
        xlim=(-extent, extent), ylim=(-extent, extent), xlabel="$x_1$", ylabel="$x_2$"
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def reliability_diagram(
    probs: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_bins: int = 15,
    label: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Accuracy against confidence per confidence bin, with the diagonal.

    ``probs`` are predictive probabilities (N, C) or samples of them
    (S, N, C); the bins are those of
    :func:`bayesdl.metrics.calibration_bins`. Points below the diagonal are
    over-confident. Call it twice on one ``ax`` to compare two models.

    Example::

        ax = reliability_diagram(bnn_probs, labels, label="BNN")
        reliability_diagram(det_probs, labels, label="deterministic", ax=ax)
    """
    from .metrics import calibration_bins, expected_calibration_error

    conf, acc, count = calibration_bins(probs, labels, num_bins)
    ece = expected_calibration_error(probs, labels, num_bins)
    ax = new_axes(ax, figsize=(4.5, 4.5))
    if not ax.lines:
        ax.plot(
            [0, 1],
            [0, 1],
            color="grey",
            linestyle="--",
            linewidth=1,
            label="perfect calibration",
        )
    full = count > 0
    name = f"{label} (ECE {ece:.4f})" if label else f"ECE {ece:.4f}"
    ax.plot(conf[full].numpy(), acc[full].numpy(), marker="o", markersize=4, label=name)
    ax.set(
        xlabel="confidence (largest predictive probability)",
        ylabel="accuracy",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
    )
    ax.legend(loc="upper left", fontsize=8)
    return ax


def uncertainty_histograms(
    values: dict[str, torch.Tensor],
    *,
    xlabel: str = "predictive entropy (nats)",
    bins: int = 40,
    log: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Overlaid histograms of an uncertainty for several data sets.

    ``values`` maps a legend label (e.g. ``"MNIST"``) to a 1-d tensor of
    per-example uncertainties; all share one set of bins. ``log`` puts the
    counts on a log scale, which shows the tails.

    Example::

        ax = uncertainty_histograms({"MNIST": h_in, "Fashion-MNIST": h_out})
    """
    if not values:
        raise ValueError("values must name at least one data set.")
    bins = checks.positive_int("bins", bins)
    arrays = {}
    for name, v in values.items():
        if not isinstance(v, torch.Tensor) or v.ndim != 1 or len(v) == 0:
            raise ValueError(f"values[{name!r}] must be a non-empty 1-d tensor.")
        arrays[name] = _finite(f"values[{name!r}]", v.double())
    hi = max(float(a.max()) for a in arrays.values())
    lo = min(float(a.min()) for a in arrays.values())
    edges = torch.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1).numpy()
    ax = new_axes(ax, figsize=(5.5, 3.5))
    for name, a in arrays.items():
        ax.hist(a, bins=edges, alpha=0.55, label=name, log=log)
    ax.set(xlabel=xlabel, ylabel="number of images")
    ax.legend(fontsize=8)
    return ax


def image_grid(
    images: torch.Tensor,
    captions: list[str] | None = None,
    *,
    ncols: int = 8,
    ax: Axes | None = None,
) -> Axes:
    """Show gray-scale images (N, 1, H, W) or (N, H, W) as one tiled picture.

    ``captions`` (one short string per image) are written above each tile.

    Example::

        ax = image_grid(images[:16], [f"{p:.2f}" for p in conf[:16]])
    """
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        raise ValueError("images must be a tensor of shape (N, 1, H, W) or (N, H, W).")
    if not images.is_floating_point():
        raise ValueError(
            "images must be floating point with values in [0, 1], got dtype "
            f"{images.dtype}; for uint8 pixels use images.float() / 255."
        )
    if images.numel() and not (
        torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    ):
        raise ValueError("images must be finite with values in [0, 1].")
    ncols = checks.positive_int("ncols", ncols)
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images must have one channel, got {images.shape[1]}.")
        images = images[:, 0]
    n, h, w = images.shape
    if n == 0:
        raise ValueError("need at least one image.")
    if captions is not None and len(captions) != n:
        raise ValueError(f"got {len(captions)} captions for {n} images.")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    pad = 2
    top = 10 if captions is not None else pad  # room for a caption above a tile
    canvas = torch.zeros(nrows * (h + top) + pad, ncols * (w + pad) + pad)
    for i, img in enumerate(images.detach().float().cpu()):
        r, c = divmod(i, ncols)
        y0, x0 = top + r * (h + top), pad + c * (w + pad)
        canvas[y0 : y0 + h, x0 : x0 + w] = img
    ax = new_axes(ax, figsize=(1.2 * ncols, 1.45 * nrows + 0.2))
    ax.imshow(canvas.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    for i, text in enumerate(captions or []):
        r, c = divmod(i, ncols)
        ax.text(
            pad + c * (w + pad) + w / 2,
            top + r * (h + top) - 1,
            text,
            ha="center",
            va="bottom",
            fontsize=7,
        )
    for r in range(nrows):  # thin frames so that white digits edges show
        for c in range(min(ncols, n - r * ncols)):
            ax.add_patch(
                plt.Rectangle(
                    (pad + c * (w + pad) - 0.5, top + r * (h + top) - 0.5),
                    w,
                    h,
                    fill=False,
                    linewidth=0.4,
                    edgecolor="0.7",
                )
            )
    ax.set_axis_off()
    return ax


def selective_prediction(
    rejected: torch.Tensor,
    accuracies: dict[str, torch.Tensor],
    *,
    ax: Axes | None = None,
) -> Axes:
    """Accuracy on the kept examples against the share refused, one line each.

    ``accuracies`` maps a label to the output of
    :func:`bayesdl.metrics.selective_accuracy` for the shares ``rejected``.

    Example::

        shares = torch.linspace(0, 0.5, 51)
        acc = selective_accuracy(probs, labels, entropy(probs), shares)
        ax = selective_prediction(shares, {"BNN, entropy": acc})
    """
    rejected = _finite("rejected", rejected)
    curves = {}
    for name, acc in accuracies.items():
        curves[name] = _finite(f"accuracies[{name!r}]", acc)
        if curves[name].shape != rejected.shape:
            raise ValueError(
                f"accuracies[{name!r}] has shape {curves[name].shape}, "
                f"rejected has {rejected.shape}."
            )
    ax = new_axes(ax, figsize=(5.0, 3.5))
    for name, acc in curves.items():
        ax.plot(100 * rejected, 100 * acc, label=name)
    ax.set(
        xlabel="images refused, most uncertain first (%)",
        ylabel="accuracy on the rest (%)",
    )
    ax.legend(fontsize=8)
    return ax


def loss_curve(
    losses: Sequence[float] | torch.Tensor,
    *,
    label: str | None = None,
    window: int | None = None,
    start: int = 0,
    yscale: str = "linear",
    ax: Axes | None = None,
) -> Axes:
    """Plot a loss history: every step faintly, a running mean on top.

    ``window`` is the running mean's width in steps (default: a fiftieth of
    the run, at least one); ``start`` drops the first steps, whose large
    losses would otherwise squash the rest; ``yscale`` is any matplotlib
    scale (``"symlog"`` suits losses that span orders of magnitude).

    Example::

        fit = fit_svi(model, guide, x, y, num_steps=2000)
        ax = loss_curve(fit.losses, label="AutoNormal", start=100)
    """
    values = _numpy_1d("losses", losses)
    if checks.non_negative_int("start", start) >= values.size:
        raise ValueError(f"start must be in [0, {values.size}), got {start!r}.")
    if window is None:
        window = max(1, values.size // 50)
    window = checks.positive_int("window", window)
    ax = new_axes(ax, figsize=(6.0, 3.5))
    steps = np.arange(values.size)
    line = ax.plot(steps[start:], values[start:], lw=0.5, alpha=0.35)[0]
    if window > 1 and values.size >= window:
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        x_smooth = steps[window - 1 :]
        keep = x_smooth >= start
        ax.plot(
            x_smooth[keep], smooth[keep], color=line.get_color(), lw=1.5, label=label
        )
    else:
        line.set_label(label)
    ax.set(xlabel="step", ylabel="loss (negative ELBO)", yscale=yscale)
    if label is not None:
        ax.legend()
    return ax


def posterior_marginals(
    samples: Mapping[str, torch.Tensor] | None = None,
    *,
    normals: Mapping[str, tuple[float, float]] | None = None,
    bins: int = 40,
    xlabel: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Compare marginal posteriors of one scalar: histograms and normal curves.

    ``samples`` maps a label to draws of the scalar (any shape, flattened);
    ``normals`` maps a label to the ``(mean, sd)`` of a normal density (an
    exact posterior, a Gaussian guide's marginal). Each entry is drawn in
    its own colour and labelled.

    Example::

        ax = posterior_marginals(
            {"NUTS": nuts.flat("weight")},
            normals={"exact": (0.84, 0.05)},
            xlabel="slope",
        )
    """
    samples, normals = dict(samples or {}), dict(normals or {})
    if not samples and not normals:
        raise ValueError("give at least one entry in samples or normals.")
    bins = checks.positive_int("bins", bins)
    drawn = {k: _numpy_1d(f"samples[{k!r}]", v) for k, v in samples.items()}
    normals = {
        k: (
            checks.finite_float(f"the mean of normals[{k!r}]", mu),
            checks.positive_float(f"the sd of normals[{k!r}]", sd),
        )
        for k, (mu, sd) in normals.items()
    }
    lows = [np.quantile(v, 0.001) for v in drawn.values()]
    highs = [np.quantile(v, 0.999) for v in drawn.values()]
    lows += [mu - 4 * sd for mu, sd in normals.values()]
    highs += [mu + 4 * sd for mu, sd in normals.values()]
    lo, hi = min(lows), max(highs)
    ax = new_axes(ax)
    edges = np.linspace(lo, hi, bins + 1)
    for k, v in drawn.items():
        ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.35, label=k)
    grid = np.linspace(lo, hi, 400)
    for k, (mu, sd) in normals.items():
        dens = np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        ax.plot(grid, dens, lw=1.8, label=k)
    ax.set(xlabel=xlabel, ylabel="density")
    ax.legend(fontsize=8)
    return ax


def predictive_band(
    x: torch.Tensor,
    samples: torch.Tensor,
    *,
    level: float = 0.9,
    x_obs: torch.Tensor | None = None,
    y_obs: torch.Tensor | None = None,
    label: str = "predictive mean",
    ax: Axes | None = None,
) -> Axes:
    """Draw a predictive mean and its central ``level`` band over inputs ``x``.

    ``x`` has shape (M,) and ``samples`` shape (S, M): S draws of the
    prediction at each input (e.g. ``Predictive(...)(x)["obs"]``). Observed
    points ``x_obs``, ``y_obs`` are drawn on top when given.

    Example::

        draws = Predictive(model, guide=guide, num_samples=500)(x_grid)
        ax = predictive_band(x_grid, draws["obs"], x_obs=x, y_obs=y)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    xs = _numpy_1d("x", x)
    draws = _finite("samples", samples)
    if draws.ndim < 2 or draws.shape[-1] != xs.size:
        raise ValueError(
            f"samples must have shape (S, {xs.size}) to match x, got "
            f"{tuple(draws.shape)}."
        )
    draws = draws.reshape(-1, xs.size)
    if (x_obs is None) != (y_obs is None):
        raise ValueError("give both x_obs and y_obs, or neither.")
    order = np.argsort(xs)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    ax = new_axes(ax, figsize=(6.0, 4.0))
    band = f"{100 * level:g}% predictive interval"
    ax.fill_between(xs[order], lo[order], hi[order], alpha=0.3, label=band)
    ax.plot(xs[order], draws.mean(0)[order], lw=2, label=label)
    if x_obs is not None:
        xo, yo = _numpy_1d("x_obs", x_obs), _numpy_1d("y_obs", y_obs)
        ax.scatter(xo, yo, s=10, color="black", label="data", zorder=3)
    ax.set(xlabel="$x$", ylabel="$y$")
    ax.legend(fontsize=8)
    return ax


def gaussian_ellipse(
    mean: torch.Tensor,
    cov: torch.Tensor,
    *,
    level: float = 0.9,
    label: str | None = None,
    ax: Axes | None = None,
    **style,
) -> Axes:
    """Draw the contour of a 2-D Gaussian that holds ``level`` of its mass.

    The contour is :math:`\\{z : (z-m)^\\top C^{-1} (z-m) = r^2\\}` with
    :math:`r^2 = -2 \\log(1 - \\mathrm{level})`, the ``level`` quantile of a
    chi-square with two degrees of freedom; the mean is marked with a cross.
    ``style`` goes to ``ax.plot``.

    Example::

        post = conjugate_posterior(x, y, prior_scale=10.0, noise_scale=0.5)
        ax = gaussian_ellipse(post.mean, post.covariance_matrix, label="exact")
    """
    mean = torch.as_tensor(mean, dtype=torch.float64).detach().cpu()
    cov = torch.as_tensor(cov, dtype=torch.float64).detach().cpu()
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(
            f"mean must have shape (2,) and cov (2, 2), got {tuple(mean.shape)} "
            f"and {tuple(cov.shape)}."
        )
    _finite("mean", mean)
    _finite("cov", cov)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    chol, info = torch.linalg.cholesky_ex(cov)
    if info.item() != 0 or not torch.allclose(cov, cov.T):
        raise ValueError("cov must be symmetric positive definite.")
    radius = math.sqrt(-2.0 * math.log1p(-level))
    t = torch.linspace(0, 2 * math.pi, 200, dtype=torch.float64)
    curve = mean[:, None] + radius * chol @ torch.stack([t.cos(), t.sin()])
    ax = new_axes(ax)
    (line,) = ax.plot(curve[0].numpy(), curve[1].numpy(), label=label, **style)
    ax.plot([mean[0].item()], [mean[1].item()], "+", ms=8, color=line.get_color())
    if label is not None:
        ax.legend(fontsize=8)
    return ax


def latent_map(
    codes: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str] | None = None,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Scatter 2-D latent codes (N, 2), one colour per class, with a legend.

    ``labels`` are the N integer classes; ``class_names`` (one per class)
    name them in the legend.

    Example::

        loc, _ = vae.encode(test_images)
        ax = latent_map(loc[:, :2], test_labels, ["T-shirt", ...])
    """
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError("codes must be a tensor of shape (N, 2).")
    _finite("codes", codes)
    num_classes = len(class_names) if class_names is not None else 2**62
    labels = checks.labels(labels, len(codes), num_classes=num_classes)
    points = codes.detach().cpu().double().numpy()
    classes = labels.cpu().numpy()
    ax = new_axes(ax, figsize=(6.0, 5.0))
    cmap = plt.get_cmap("tab10")
    for c in np.unique(classes):
        keep = classes == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(
            points[keep, 0],
            points[keep, 1],
            s=2,
            alpha=0.5,
            color=cmap(int(c) % 10),
            label=name,
            rasterized=True,
        )
    ax.set(xlabel="first coordinate", ylabel="second coordinate")
    ax.legend(fontsize=7, markerscale=4, loc="best", framealpha=0.8)
    return ax
