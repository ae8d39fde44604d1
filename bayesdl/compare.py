"""One rule for comparing two methods: a difference, its interval, a word.

Every verdict of the book ("higher", "lower", "level"; "wins", "loses") is
read from a :class:`Comparison`, so that the words of all chapters follow
one rule:

* **Pair what is shared.** Two methods scored on the same test images, or
  built from the same networks (a temperature on a network, the network
  itself), are compared through their differences: per seed, and per image
  where the score is a mean over images. The spread that both share (one
  seed's lucky initialisation, one hard test image) cancels in a difference
  and so does not widen its interval.
* **Count both sources of chance.** A difference averaged over seeds moves
  with the seeds (the spread of the per-seed differences) and with the draw
  of the test images (the spread of the per-image differences). The two are
  independent and their variances add.
* **A handful of seeds takes a t-quantile.** Three seeds give a standard
  error with two degrees of freedom; the 95% interval is then 4.3 standard
  errors wide on each side, not 2. The degrees of freedom of the combined
  error come from the Welch-Satterthwaite formula, in which the per-image
  part counts as exact (ten thousand images).

The word is ``higher`` when the whole interval lies above zero, ``lower``
when it lies below, and ``level`` otherwise.

Example::

    >>> c = compare([0.30, 0.50, 0.40], [0.20, 0.41, 0.29])   # paired seeds
    >>> c.word, round(c.difference, 3)
    ('higher', 0.1)
    >>> compare([0.30, 0.50, 0.40], [0.20, 0.41, 0.29], paired=False).word
    'level'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy import stats

__all__ = [
    "CONFIDENCE",
    "Comparison",
    "compare",
    "compare_images",
]

CONFIDENCE = 0.95
"""The confidence of every interval the book's verdicts are read from."""


@dataclass(frozen=True)
class Comparison:
    """The difference ``a - b`` with its standard error and interval.

    ``difference`` is the mean difference over seeds; ``se`` its standard
    error (seeds and test images together); ``dof`` the degrees of freedom
    of the t-quantile that made the interval (``inf``: a normal quantile);
    ``low`` and ``high`` the ends of the ``confidence`` interval;
    ``num_seeds`` how many per-seed values it was computed from.
    """

    difference: float
    se: float
    dof: float
    low: float
    high: float
    confidence: float
    num_seeds: int

    @property
    def word(self) -> str:
        """``higher`` or ``lower`` when the interval excludes 0, else ``level``."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "level"

    def say(
        self, higher: str = "higher", lower: str = "lower", level: str = "level"
    ) -> str:
        """The verdict in the caller's words, e.g. ``say("wins", "loses", "is level")``.

        Example::

            >>> compare([2.0, 3.0, 2.5], 0.0).say("wins", "loses", "ties")
            'wins'
        """
        return {"higher": higher, "lower": lower, "level": level}[self.word]

    @property
    def in_se(self) -> float:
        """The difference in standard errors (``inf`` when the error is 0)."""
        if self.se == 0:
            return math.copysign(math.inf, self.difference) if self.difference else 0.0
        return self.difference / self.se

    @property
    def half_width(self) -> float:
        """Half the width of the interval: the margin a difference must clear."""
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return (
            f"{self.difference:+.4g} ({100 * self.confidence:g}% interval "
            f"{self.low:+.4g} to {self.high:+.4g}): {self.word}"
        )


def _values(x: float | Sequence[float] | torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a 1-d float64 tensor of finite per-seed values."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.as_tensor(x, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"{name} must be a number or a sequence of numbers (one per "
                f"seed); got {x!r}."
            ) from err
    t = t.reshape(-1) if t.dim() == 0 else t
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(
            f"{name} must be a number or a 1-d sequence with one value per "
            f"seed; got shape {tuple(t.shape)}."
        )
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds a NaN or an infinity: {t.tolist()}.")
    return t


def _check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not (
        isinstance(confidence, int | float) and 0 < confidence < 1
    ):
        raise ValueError(
            f"confidence must be a number in (0, 1), such as 0.95; got {confidence!r}."
        )
    return float(confidence)


def _interval(
    difference: float,
    seed_se: float,
    seed_dof: float,
    image_se: float,
    confidence: float,
    num_seeds: int,
) -> Comparison:
    se = math.hypot(seed_se, image_se)
    # Welch-Satterthwaite: the image part has (practically) infinite dof.
    dof = se**4 / (seed_se**4 / seed_dof) if seed_se > 0 else math.inf
    tail = (1 + confidence) / 2
    q = float(stats.norm.ppf(tail) if math.isinf(dof) else stats.t.ppf(tail, dof))
    return Comparison(
        difference=difference,
        se=se,
        dof=dof,
        low=difference - q * se,
        high=difference + q * se,
        confidence=confidence,
        num_seeds=num_seeds,
    )


def compare(
    a: float | Sequence[float] | torch.Tensor,
    b: float | Sequence[float] | torch.Tensor = 0.0,
    *,
    paired: bool = True,
    image_se: float = 0.0,
    run_sd: float | None = None,
    run_dof: float | None = None,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Compare per-seed results ``a`` with ``b``: is ``a - b`` above, below or level with 0?

    ``a`` and ``b`` hold one value per seed (or a single number: a fixed
    reference such as 0, a published result, or one ensemble).

    * ``paired=True`` (the default): ``a[s]`` and ``b[s]`` share something,
      a seed, a network or the test images, so the difference is taken seed
      by seed and its spread gives the standard error, with ``S - 1``
      degrees of freedom. Both must have the same length (or one be a
      single number).
    * ``paired=False``: independent groups (Welch's unequal-variance
      comparison); the lengths may differ. Use it only where nothing is
      shared: it is never narrower than the paired interval on shared data
      of equal spreads, and usually much wider.

    ``image_se`` is the standard error of the mean difference that comes
    from the draw of the test images (from :func:`compare_images` or
    :func:`~bayesdl.image_scores.bootstrap_se`); it is added to the seed part in quadrature.
    With a single value on each side there is no seed spread, so
    ``image_se`` must then be given, or the seed spread measured elsewhere:
    ``run_sd``, the standard deviation of one run's result over seeds, with
    its ``run_dof`` degrees of freedom (``S - 1`` for ``S`` seeds). The
    seed part is then ``run_sd * sqrt(1/len(a) + 1/len(b))``: two single
    runs differ by ``sqrt(2) * run_sd`` from their seeds alone.

    Example::

        >>> c = compare([0.0110, 0.0112, 0.0109], [0.0100, 0.0101, 0.0100])
        >>> c.word, c.dof
        ('higher', 2.0)
    """
    confidence = _check_confidence(confidence)
    image_se = _number(image_se, "image_se")
    x, y = _values(a, "a"), _values(b, "b")
    if run_sd is not None:
        seeds = _from_run_sd(x, y, _number(run_sd, "run_sd"), run_dof)
    else:
        seeds = _paired(x, y) if paired else _welch(x, y)
    difference, seed_se, seed_dof, n = seeds
    if seed_se == 0 and image_se == 0 and (n < 2 or run_sd is not None):
        raise ValueError(
            "one value on each side has no spread to judge the difference by: "
            "pass image_se (from compare_images or bootstrap_se), run_sd, or "
            "the results of more seeds."
        )
    return _interval(difference, seed_se, seed_dof, image_se, confidence, n)


def _number(value: float, name: str) -> float:
    if isinstance(value, bool) or not (
        isinstance(value, int | float) and math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    return float(value)


def _paired(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float, int]:
    """Difference, seed standard error, its dof and the count, seed by seed."""
    if len(x) != len(y) and 1 not in (len(x), len(y)):
        raise ValueError(
            f"a paired comparison needs one value per seed on both sides; "
            f"got {len(x)} and {len(y)}. Pass the same seeds, or "
            f"paired=False for independent groups."
        )
    d = x - y  # broadcasts a single number
    n = len(d)
    se = d.std().item() / math.sqrt(n) if n > 1 else 0.0
    return d.mean().item(), se, float(n - 1), n


def _welch(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float, int]:
    """The same for independent groups (Welch-Satterthwaite dof)."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError(
            f"an unpaired comparison needs at least 2 values on each side "
            f"to estimate their spreads; got {len(x)} and {len(y)}."
        )
    va, vb = x.var().item() / len(x), y.var().item() / len(y)
    denom = va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)
    dof = (va + vb) ** 2 / denom if denom > 0 else math.inf
    difference = x.mean().item() - y.mean().item()
    return difference, math.sqrt(va + vb), dof, max(len(x), len(y))


def _from_run_sd(
    x: torch.Tensor, y: torch.Tensor, run_sd: float, run_dof: float | None
) -> tuple[float, float, float, int]:
    """The same for single runs, from a seed spread measured elsewhere."""
    if isinstance(run_dof, bool) or not (
        isinstance(run_dof, int | float) and run_dof > 0
    ):
        raise ValueError(
            f"run_sd needs run_dof, the degrees of freedom of that spread "
            f"(S - 1 for S seeds), a number > 0; got {run_dof!r}."
        )
    se = run_sd * math.sqrt(1 / len(x) + 1 / len(y))
    difference = x.mean().item() - y.mean().item()
    return difference, se, float(run_dof), max(len(x), len(y))


def compare_images(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Compare two methods by per-image scores on the same test images.

    ``a`` and ``b`` are per-image scores (a log-loss, a 0/1 correctness, a
    Brier score) with shape ``(S, N)``, one row per seed, or ``(N,)`` for
    a single result such as one ensemble, which is then compared with every
    row of the other. The measure is the mean over images; the difference
    is paired twice: seed by seed (its spread over seeds, ``S - 1``
    degrees of freedom) and image by image (the standard error of the mean
    of the per-image differences, averaged over seeds, which is what a
    paired bootstrap over the test images estimates, here without drawing).

    Example::

        >>> a = torch.tensor([[0., 1., 1., 1.], [1., 1., 0., 1.]])
        >>> compare_images(a, torch.zeros(4)).word
        'higher'
    """
    confidence = _check_confidence(confidence)
    x, y = _image_rows(a, "a"), _image_rows(b, "b")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"a and b must score the same test images; got {x.shape[-1]} and "
            f"{y.shape[-1]} images."
        )
    if x.dim() == 2 and y.dim() == 2 and len(x) != len(y):
        raise ValueError(
            f"a and b hold {len(x)} and {len(y)} seeds; a paired comparison "
            f"needs the same seeds (or one side a single (N,) result)."
        )
    d = x - y
    d = d if d.dim() == 2 else d.unsqueeze(0)
    per_image = d.mean(0)
    image_se = per_image.std().item() / math.sqrt(per_image.numel())
    per_seed = d.mean(1)
    if image_se == 0 and len(per_seed) == 1:  # identical up to a constant
        c = per_seed.item()
        return Comparison(c, 0.0, math.inf, c, c, confidence, 1)
    return compare(per_seed, 0.0, image_se=image_se, confidence=confidence)


def _image_rows(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} must be a tensor of per-image scores, shape (S, N) or (N,); "
            f"got {type(x).__name__}."
        )
    x = x.detach().to("cpu", torch.float64)
    if x.dim() not in (1, 2) or x.shape[-1] < 2:
        raise ValueError(
            f"{name} must have shape (S, N) or (N,) with N >= 2 images; got "
            f"{tuple(x.shape)}."
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds a NaN or an infinity.")
    return x
