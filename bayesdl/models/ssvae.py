"""The semi-supervised variational autoencoder M2 of Kingma et al. (2014).

A digit image ``x`` is generated from its label ``y`` and a continuous
"style" ``z``:

    p(z) = Normal(0, I),   p(y) = Categorical(1/10),
    p(x | y, z) = Bernoulli(decoder(y, z)).

For a labelled image ``y`` is observed; for an unlabelled one it is a latent
variable, inferred by the classifier ``q(y | x)`` of the guide and summed
out exactly by Pyro's enumeration. The guide's ``q(z | x, y)`` encodes the
style. The model adds the supervised term ``alpha * log q(y | x)`` on the
labelled images (a ``pyro.factor``). The pieces are public distributions:
:meth:`SSVAE.q_y`, :meth:`SSVAE.q_z` and :meth:`SSVAE.p_x`.

Example::

    ss = SSVAE(num_labelled=100, num_unlabelled=59_900)
    sampler = MixedBatches(images, labels, labelled_index, seed=0)
    bayesdl.infer.fit_svi(ss.model, ss.guide, data=sampler, num_epochs=10,
                          loss=TraceEnum_ELBO(max_plate_nesting=1))
    ss.predict(test_images)            # (1, N, 10) probabilities of q(y|x)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from .. import checks
from .vae import MLP, NUM_PIXELS, VAE

__all__ = ["SSVAE"]

NUM_CLASSES = 10


def _plate(name: str, size: int, batch: torch.Tensor) -> pyro.plate:
    # A plate of the whole set's size over the batch (log-densities scaled
    # by size / len(batch)); the rows as the subsample spare Pyro a random
    # permutation of the whole set at every step.
    index = torch.arange(len(batch), device=batch.device)
    return pyro.plate(name, size, subsample=index)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"SSVAE.{old} is now SSVAE.{new}; the old name goes in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )


class SSVAE(PyroModule):
    """Kingma et al.'s M2: a VAE whose label is observed for some images only.

    ``num_labelled`` and ``num_unlabelled`` are the sizes of the two training
    sets, to which the plates scale each mini-batch. ``alpha`` weighs the
    supervised term ``log q(y|x)`` of each labelled image (Kingma et al.'s
    ``0.1 N`` on the labelled mean is ``0.1 N / num_labelled`` per image);
    with it the objective is no longer a bound on the data's likelihood.
    With ``enumerate_labels=False`` the guide samples the missing labels
    instead of summing over them (the score-function route, for comparison).

    Without ``features`` the model observes the pixels (Bernoulli). With a
    trained, frozen :class:`~bayesdl.models.vae.VAE` (such as
    :class:`~bayesdl.models.m1.M1`) as ``features`` it is the stacked M1+M2:
    each image enters as the mean of M1's code q(z1|x), which M2 models with
    a Normal p(z1|y,z), so the bound is on the density of that code, not of
    the image; images are generated through M1's decoder.

    The networks: the classifier q(y|x) is an MLP with ``classifier_hidden``
    layers; q(z|x,y) and p(x|y,z) have one hidden layer of ``hidden`` units.
    Their first layers are split into a label part and the rest, so that the
    image's part of q(z|x,y) is computed once for all ten labels.
    ``latent_dim`` is the width of the style ``z``.

    Example::

        >>> ss = SSVAE(num_labelled=100, num_unlabelled=59_900, latent_dim=32)
        >>> ss.generate(y=torch.tensor([3, 7])).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        num_labelled: int = 1,
        num_unlabelled: int = 1,
        *,
        features: VAE | None = None,
        latent_dim: int = 32,
        hidden: int = 500,
        classifier_hidden: Sequence[int] = (500,),
        alpha: float = 3000.0,
        enumerate_labels: bool = True,
        z_dim: int | None = None,
    ) -> None:
        super().__init__()
        if z_dim is not None:
            _deprecated("z_dim", "latent_dim")
            latent_dim = z_dim
        self.num_labelled = checks.positive_int("num_labelled", num_labelled)
        self.num_unlabelled = checks.positive_int("num_unlabelled", num_unlabelled)
        self.latent_dim = checks.positive_int("latent_dim", latent_dim)
        hidden = checks.positive_int("hidden", hidden)
        widths = checks.widths("classifier_hidden", classifier_hidden, allow_empty=True)
        self.alpha = 0.0 if alpha == 0 else checks.positive_float("alpha", alpha)
        if not isinstance(enumerate_labels, bool):
            raise ValueError(
                f"enumerate_labels must be True or False, got {enumerate_labels!r}."
            )
        self.enumerate_labels = enumerate_labels
        if features is not None and not isinstance(features, VAE):
            raise ValueError(
                f"features must be an M1 (a VAE) or None, got {type(features).__name__}."
            )
        self.features = features
        if features is not None:
            features.requires_grad_(False)
        n_in = NUM_PIXELS if features is None else features.latent_dim
        n_out = NUM_PIXELS if features is None else 2 * features.latent_dim
        act = nn.ReLU
        self.classifier = MLP([n_in, *widths, NUM_CLASSES], act)
        self.encoder_x = nn.Linear(n_in, hidden)
        self.encoder_y = nn.Embedding(NUM_CLASSES, hidden)
        self.encoder_out = nn.Sequential(act(), nn.Linear(hidden, 2 * self.latent_dim))
        self.decoder_z = nn.Linear(self.latent_dim, hidden)
        self.decoder_y = nn.Embedding(NUM_CLASSES, hidden)
        self.decoder_out = nn.Sequential(act(), nn.Linear(hidden, n_out))
        for emb in (self.encoder_y, self.decoder_y):
            nn.init.normal_(emb.weight, std=0.1)

    # -- the distributions ----------------------------------------------------

    def q_y(self, h: torch.Tensor) -> dist.Categorical:
        """The classifier q(y|x), a Categorical, for M2's inputs ``h``.

        ``h``: flat pixels (N, 784), or the stacked model's code of M1 (N, z1).
        """
        return dist.Categorical(logits=self.classifier(h), validate_args=False)

    def q_z(self, h: torch.Tensor, y: torch.Tensor) -> dist.TorchDistribution:
        """The style's guide q(z|x,y), a diagonal Normal, for inputs ``h``.

        ``y`` of shape (10, 1) gives all ten labels at once: batch (10, N).
        """
        # W [h; onehot(y)] = W_h h + W_y[y]: the image part is shared by all
        # labels; y of shape (10, 1) (enumerated) broadcasts to (10, N, H).
        out = self.encoder_out(self.encoder_x(h) + self.encoder_y(y))
        loc, raw = out.split(self.latent_dim, dim=-1)
        scale = F.softplus(raw) + 1e-4
        return dist.Normal(loc, scale, validate_args=False).to_event(1)

    def p_x(self, z: torch.Tensor, y: torch.Tensor) -> dist.TorchDistribution:
        """p(x|y,z) over pixels or, stacked, p(z1|y,z) over M1's code."""
        out = self.decoder_out(self.decoder_z(z) + self.decoder_y(y))
        if self.features is None:
            # Grey pixels in [0, 1] are scored by the Bernoulli log-density
            # x log p + (1 - x) log(1 - p); the support check is off for that.
            return dist.Bernoulli(logits=out, validate_args=False).to_event(1)
        loc, raw = out.chunk(2, dim=-1)
        scale = F.softplus(raw) + 1e-3
        return dist.Normal(loc, scale, validate_args=False).to_event(1)

    def _p_z(self, h: torch.Tensor) -> dist.TorchDistribution:
        prior = dist.Normal(h.new_zeros(self.latent_dim), 1.0, validate_args=False)
        return prior.to_event(1).expand([len(h)])

    def _p_y(self, h: torch.Tensor) -> dist.Categorical:
        return dist.Categorical(logits=h.new_zeros(NUM_CLASSES), validate_args=False)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What M2 reads: flat pixels or, stacked, the mean of M1's code.

        A 2-d ``x`` is taken as read already (flat pixels, or M1's codes).
        """
        if x.dim() == 2 or self.features is None:
            return x.flatten(1)
        with torch.no_grad():
            return self.features._encode(x)[0]

    # -- Pyro model and guide ------------------------------------------------

    def model(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        x_unlabelled: torch.Tensor | None = None,
    ) -> None:
        """p(x, y, z) = p(z) p(y) p(x|y,z), plus alpha log q(y|x) where y is seen.

        ``x`` are images with labels ``y`` and ``x_unlabelled`` images
        without (a batch of :class:`~bayesdl.infer.feeding.MixedBatches`);
        with ``y=None`` every image of ``x`` is unlabelled.
        """
        if y is None:  # no label seen: every image of x is unlabelled
            x, x_unlabelled = None, x
        if x is not None:
            h = self._inputs(x)
            with _plate("labelled", self.num_labelled, h):
                z = pyro.sample("z_labelled", self._p_z(h))
                pyro.sample("y_labelled", self._p_y(h), obs=y)
                pyro.sample("x_labelled", self.p_x(z, y), obs=h)
                if self.alpha:  # the guide's classifier, read on purpose
                    pyro.factor("supervised", self.alpha * self.q_y(h).log_prob(y))
        if x_unlabelled is not None:
            h = self._inputs(x_unlabelled)
            with _plate("unlabelled", self.num_unlabelled, h):
                z = pyro.sample("z", self._p_z(h))
                y = pyro.sample("y", self._p_y(h))
                pyro.sample("x", self.p_x(z, y), obs=h)

    def guide(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        x_unlabelled: torch.Tensor | None = None,
    ) -> None:
        """q(z|x,y) where y is seen; q(y|x) q(z|x,y) where it is missing."""
        if y is None:  # no label seen: every image of x is unlabelled
            x, x_unlabelled = None, x
        if x is not None:
            h = self._inputs(x)
            with _plate("labelled", self.num_labelled, h):
                pyro.sample("z_labelled", self.q_z(h, y))
        if x_unlabelled is not None:
            h = self._inputs(x_unlabelled)
            with _plate("unlabelled", self.num_unlabelled, h):
                infer = {"enumerate": "parallel"} if self.enumerate_labels else {}
                y = pyro.sample("y", self.q_y(h), infer=infer)
                pyro.sample("z", self.q_z(h, y))

    def validate_batch(
        self, x: object, y: object = None, x_unlabelled: object = None
    ) -> None:
        """Refuse a training batch that :meth:`model` and :meth:`guide` cannot score.

        They take it on trust; run this on the first batch of a fit. Images
        are (N, 1, 28, 28) in [0, 1]; a 2-d ``x`` is M2's input as it is
        (flat pixels, or the stacked model's finite codes of M1); ``y`` holds
        one label in 0..9 per image of ``x``.
        """
        if y is None and x_unlabelled is not None:
            raise ValueError("x_unlabelled needs labels y for the images x.")
        width = NUM_PIXELS if self.features is None else self.features.latent_dim
        for name, h in (("x", x), ("x_unlabelled", x_unlabelled)):
            if not isinstance(h, torch.Tensor) or h.ndim != 2:
                if h is not None:
                    checks.images(h, name)
            elif not h.is_floating_point() or h.shape[1] != width or not len(h):
                raise ValueError(
                    f"2-d {name} must be M2's inputs, floating point of shape "
                    f"(N, {width}) with N >= 1, got {tuple(h.shape)}."
                )
            elif not torch.isfinite(h).all():
                raise ValueError(f"the codes {name} must be finite.")
        if y is not None:
            checks.labels(y, n=len(x), num_classes=NUM_CLASSES)

    # -- what readers use -----------------------------------------------------

    def _device(self) -> torch.device:
        return self.encoder_x.weight.device

    def _dtype(self) -> torch.dtype:
        return self.encoder_x.weight.dtype

    def _batched(self, fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        size, dev = checks.positive_int("batch_size", batch_size), self._device()
        parts = [x[i : i + size].to(dev) for i in range(0, len(x), size)]
        return torch.cat([fn(self._inputs(part)) for part in parts])

    @torch.no_grad()
    def code(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """M1's code (N, z1) of images x: what the stacked model reads.

        ``model`` and ``guide`` accept it in place of the images; computing
        it once spares M1's encoder at every step. Example::

            codes = ss.code(train_x)
            batches = MixedBatches(codes, train_y, labelled_index)
        """
        if self.features is None:
            raise ValueError("only a stacked model (features=M1) has a code.")
        x = checks.images(x, "x", dtype=self._dtype())
        return self._batched(lambda h: h, x, batch_size)

    @torch.no_grad()
    def predict(
        self, x: torch.Tensor, num_samples: int = 1, *, batch_size: int = 2000
    ) -> torch.Tensor:
        """Class probabilities (1, N, 10) of the classifier q(y|x), on x's device.

        q(y|x) is a point estimate: S = 1 whatever ``num_samples``. Example::

            probs = ss.predict(test_x)[0]
            accuracy = (probs.argmax(-1) == test_y).float().mean()
        """
        checks.positive_int("num_samples", num_samples)
        x = checks.images(x, "x", dtype=self._dtype())
        probs = self._batched(lambda h: self.q_y(h).probs, x, batch_size)
        return probs.unsqueeze(0).to(x.device)

    def classify(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Deprecated: ``predict(x)[0]`` on the CPU."""
        _deprecated("classify(x)", "predict(x)[0]")
        return self.predict(x, batch_size=batch_size)[0].cpu()

    @torch.no_grad()
    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, scale)`` of q(z|x, y), each (N, latent_dim), on x's device.

        The style of each image given its label ``y`` (required). Example::

            loc, scale = ss.encode(test_x[:5], test_y[:5])
        """
        if y is None:
            raise ValueError("the style q(z|x, y) needs the labels y of the images.")
        x = checks.images(x, "x", dtype=self._dtype())
        y = checks.labels(y, n=len(x)).to(self._device())
        q = self.q_z(self._inputs(x.to(self._device())), y).base_dist
        return q.loc.to(x.device), q.scale.to(x.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli means (N, 1, 28, 28) of p(x|y,z) for styles z (N, latent_dim).

        Stacked, through M1's decoder. On z's device. Example::

            means = ss.decode(torch.zeros(10, ss.latent_dim), torch.arange(10))
        """
        y = checks.labels(y, name="labels y")
        want = (len(y), self.latent_dim)
        if not isinstance(z, torch.Tensor) or tuple(z.shape) != want or not len(y):
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape {want}, got {shape}.")
        if not torch.isfinite(z).all():
            raise ValueError("z must be finite.")
        dev = self._device()
        out = self.p_x(z.to(dev, self._dtype()), y.to(dev)).base_dist
        logits = out.logits if self.features is None else self.features.decoder(out.loc)
        means = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
        return means.reshape(-1, 1, 28, 28).to(z.device)

    @torch.no_grad()
    def generate(
        self,
        n: int | None = None,
        *,
        y: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Bernoulli means (N, 1, 28, 28) of new digits of labels ``y`` (N,).

        ``z`` (N, latent_dim) gives the styles; ``None`` draws them from the
        prior, and ``y=None`` draws ``n`` labels from the uniform p(y) (with
        ``generator`` when given, on its device). On the device of ``y``.
        Example::

            digits = ss.generate(y=torch.arange(10))         # ten digits
            z = ss.encode(x[:1], y[:1])[0].expand(10, -1)    # one style
            same_hand = ss.generate(y=torch.arange(10), z=z)
        """
        if isinstance(n, torch.Tensor):  # the old generate(labels)
            _deprecated("generate(labels)", "generate(y=labels)")
            n, y = None, n
        dev = self._device() if generator is None else generator.device
        if y is None:
            if n is None and z is None:
                raise ValueError("generate needs n, labels y or styles z.")
            count = checks.positive_int("n", n) if n is not None else len(z)
            y = torch.randint(NUM_CLASSES, (count,), generator=generator, device=dev)
        y = checks.labels(y)
        if len(y) == 0 or (n is not None and n != len(y)):
            raise ValueError(f"labels y must hold n >= 1 labels, got {len(y)}.")
        if z is None:
            z = torch.randn(len(y), self.latent_dim, generator=generator, device=dev)
        return self.decode(z.to(y.device), y)

    @property
    def z_dim(self) -> int:
        """Deprecated name of ``latent_dim``."""
        _deprecated("z_dim", "latent_dim")
        return self.latent_dim
