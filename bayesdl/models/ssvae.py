"""The semi-supervised variational autoencoder M2 of Kingma et al. (2014).

A digit image ``x`` is generated from its label ``y`` and a continuous
"style" ``z``:

    p(z) = Normal(0, I),   p(y) = Categorical(1/10),
    p(x | y, z) = Bernoulli(decoder(y, z)).

For a labelled image ``y`` is observed; for an unlabelled one it is a latent
variable, inferred by the classifier ``q(y | x)`` of the guide and summed
out exactly by Pyro's enumeration. The guide's ``q(z | x, y)`` encodes the
style. The model adds the supervised term ``alpha * log q(y | x)`` on the
labelled images (a ``pyro.factor``), which teaches the classifier from the
labels directly.

Example::

    ss = SSVAE(num_labelled=100, num_unlabelled=59_900)
    sampler = MixedBatches(images, labels, labelled_index, seed=0)
    bayesdl.infer.fit_svi(ss.model, ss.guide, data=sampler, num_epochs=10,
                          loss=TraceEnum_ELBO(max_plate_nesting=1))
    ss.classify(test_images)            # (N, 10) probabilities of q(y|x)
    ss.generate(torch.arange(10))       # (10, 1, 28, 28) Bernoulli means
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from .. import checks
from ..data.splits import labelled_split
from ..infer.feeding import MixedBatches
from .m1 import M1, NUM_PIXELS, _bernoulli, _mlp, _normal

__all__ = [
    "M1",
    "MixedBatches",
    "SSVAE",
    "labelled_split",
]

NUM_CLASSES = 10


def _plate(name: str, size: int, batch: torch.Tensor) -> pyro.plate:
    # A plate of the whole set's size over the batch: its log-densities are
    # scaled by size / len(batch). The batch's rows are given as the
    # subsample (the plate only needs their number), which spares Pyro a
    # random permutation of the whole set at every step.
    index = torch.arange(len(batch), device=batch.device)
    return pyro.plate(name, size, subsample=index)


class SSVAE(PyroModule):
    """Kingma et al.'s M2: a VAE whose label is observed for some images only.

    ``num_labelled`` and ``num_unlabelled`` are the sizes of the two training
    sets: the model's plates scale each mini-batch to them, so that a step's
    loss estimates minus the ELBO of the whole data set (plus the supervised
    term). ``alpha`` weighs the supervised term ``log q(y|x)`` of each labelled
    image; Kingma et al.'s weight ``0.1 N`` on the mean over the labelled
    set is ``0.1 N / num_labelled`` per image. With the term, the objective
    is no longer a bound on the data's likelihood.
    With ``enumerate_labels=False`` the guide samples the missing labels
    instead of summing over them (the score-function route, for comparison).

    Without ``features`` the model observes the pixels (Bernoulli). With a
    trained, frozen :class:`M1` as ``features`` it is the stacked M1+M2: each
    image enters as the mean of M1's code q(z1|x), which M2 models with a
    Normal p(z1|y,z), so the bound is on the density of that code, not of
    the image; images are generated through M1's decoder.

    The networks: the classifier q(y|x) is an MLP with ``classifier_hidden``
    layers; q(z|x,y) and p(x|y,z) have one hidden layer of ``hidden`` units.
    Their first layers are split into a label part and the rest, so that the
    image's part of q(z|x,y) is computed once for all ten labels.

    Example::

        >>> ss = SSVAE(num_labelled=100, num_unlabelled=59_900, z_dim=32)
        >>> ss.generate(torch.tensor([3, 7])).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        num_labelled: int = 1,
        num_unlabelled: int = 1,
        *,
        features: M1 | None = None,
        z_dim: int = 32,
        hidden: int = 500,
        classifier_hidden: Sequence[int] = (500,),
        alpha: float = 3000.0,
        enumerate_labels: bool = True,
    ) -> None:
        super().__init__()
        self.num_labelled = checks.positive_int("num_labelled", num_labelled)
        self.num_unlabelled = checks.positive_int("num_unlabelled", num_unlabelled)
        self.z_dim = checks.positive_int("z_dim", z_dim)
        hidden = checks.positive_int("hidden", hidden)
        widths = checks.widths("classifier_hidden", classifier_hidden, allow_empty=True)
        self.alpha = 0.0 if alpha == 0 else checks.positive_float("alpha", alpha)
        if not isinstance(enumerate_labels, bool):
            raise ValueError(
                f"enumerate_labels must be True or False, got {enumerate_labels!r}."
            )
        self.enumerate_labels = enumerate_labels
        if features is not None and not isinstance(features, M1):
            raise ValueError(
                f"features must be an M1 or None, got {type(features).__name__}."
            )
        self.features = features
        if features is not None:
            features.requires_grad_(False)
        n_in = NUM_PIXELS if features is None else features.z_dim
        n_out = NUM_PIXELS if features is None else 2 * features.z_dim
        act = nn.ReLU
        self.classifier = _mlp([n_in, *widths, NUM_CLASSES], act)
        self.encoder_x = nn.Linear(n_in, hidden)
        self.encoder_y = nn.Embedding(NUM_CLASSES, hidden)
        self.encoder_out = nn.Sequential(act(), nn.Linear(hidden, 2 * self.z_dim))
        self.decoder_z = nn.Linear(self.z_dim, hidden)
        self.decoder_y = nn.Embedding(NUM_CLASSES, hidden)
        self.decoder_out = nn.Sequential(act(), nn.Linear(hidden, n_out))
        for emb in (self.encoder_y, self.decoder_y):
            nn.init.normal_(emb.weight, std=0.1)

    # -- the networks ---------------------------------------------------------

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What M2 observes: the pixels, or (stacked) the mean of M1's code."""
        flat = x.reshape(len(x), NUM_PIXELS)
        if self.features is None:
            return flat
        with torch.no_grad():
            return self.features._encode(flat)[0]

    def _is_code(self, x: object) -> bool:
        if self.features is None or not isinstance(x, torch.Tensor) or x.ndim != 2:
            return False
        if x.shape[1] != self.features.z_dim or not x.is_floating_point():
            return False
        if not torch.isfinite(x).all():
            raise ValueError("the codes x must be finite.")
        return True

    def code(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """M1's code (N, z1) of images x: what the stacked model reads.

        ``model`` and ``guide`` accept it in place of the images; computing
        it once for a whole training set spares M1's encoder at every step.

        Example::

            codes = ss.code(train_x)
            batches = MixedBatches(codes, train_y, labelled_index)
        """
        if self.features is None:
            raise ValueError("only a stacked model (features=M1) has a code.")
        x = checks.images(x, "x", dtype=self._dtype())
        batch_size = checks.positive_int("batch_size", batch_size)
        dev = self._device()
        return torch.cat(
            [
                self._inputs(x[i : i + batch_size].to(dev))
                for i in range(0, len(x), batch_size)
            ]
        )

    def classifier_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (..., 10) of the classifier q(y|x) for M2's inputs ``h``.

        ``h`` is what M2 reads: flat pixels (N, 784), or the stacked model's
        code of M1 (N, z1). Gradients flow (it is a piece of the guide).
        """
        return self.classifier(h)

    def style_posterior(self, h: torch.Tensor, y: torch.Tensor):
        """``(loc, scale)`` of q(z|x,y) for M2's inputs ``h`` and labels ``y``.

        ``y`` of shape (10, 1) gives all ten labels at once, (10, N, z_dim).
        """
        # W [h; onehot(y)] = W_h h + W_y[y]: the image part is shared by all
        # labels; y of shape (10, 1) (enumerated) broadcasts to (10, N, H).
        out = self.encoder_out(self.encoder_x(h) + self.encoder_y(y))
        loc, raw = out.split(self.z_dim, dim=-1)
        return loc, F.softplus(raw) + 1e-4

    def _decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.decoder_out(self.decoder_z(z) + self.decoder_y(y))

    def likelihood(self, z: torch.Tensor, y: torch.Tensor) -> dist.TorchDistribution:
        """p(x|y,z) (pixels) or, stacked, p(z1|y,z): a distribution over M2's inputs."""
        out = self._decode(z, y)
        return _bernoulli(out) if self.features is None else _normal(out)

    # -- Pyro model and guide ------------------------------------------------

    def _split(self, x, labels):
        # The model and the guide of one step get the same batch: check and
        # split it once.
        # The versions of M1's weights are part of the memo's key: an M1
        # changed in place gives a fresh code.
        versions = (
            x._version,
            None if labels is None else labels._version,
            *(p._version for p in self._feature_parameters()),
        )
        memo = self.__dict__.get("_split_memo")
        if (
            memo is not None
            and memo[0] is x
            and memo[1] is labels
            and memo[2] == versions
        ):
            return memo[3]
        out = self._split_new(x, labels)
        self.__dict__["_split_memo"] = (x, labels, versions, out)
        return out

    def _feature_parameters(self) -> list[torch.Tensor]:
        return [] if self.features is None else list(self.features.parameters())

    def _split_new(self, x, labels):
        if self._is_code(x):
            h = x  # M1's code of the images, computed beforehand
        else:
            h = self._inputs(checks.images(x, "x", dtype=self._dtype()))
        if labels is None:
            return h[:0], None, h
        if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
            raise ValueError("labels must be a 1-d integer tensor (-1 for missing).")
        if len(labels) != len(x):
            raise ValueError(
                f"expected {len(x)} labels (one per image), got {len(labels)}."
            )
        if bool((labels < -1).any()):
            raise ValueError(
                "labels must be 0-9, or -1 for a missing label; got "
                f"{int(labels.min())}."
            )
        seen = labels >= 0
        checks.labels(labels[seen], num_classes=NUM_CLASSES)
        if bool(seen.all()):
            return h, labels.long(), h[:0]
        return h[seen], labels[seen].long(), h[~seen]

    def model(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """p(x, y, z) = p(z) p(y) p(x|y,z), plus alpha log q(y|x) where y is seen.

        ``labels`` holds a class for each image of ``x``, or ``-1`` where the
        label is missing; ``None`` means that every label is missing.
        """
        xl, yl, xu = self._split(x, labels)
        flat_prior = dist.Categorical(
            logits=x.new_zeros(NUM_CLASSES), validate_args=False
        )
        if len(xl):
            with _plate("labelled", self.num_labelled, xl):
                prior = dist.Normal(
                    x.new_zeros(self.z_dim), 1.0, validate_args=False
                ).to_event(1)
                z = pyro.sample("z_labelled", prior.expand([len(xl)]))
                pyro.sample("y_labelled", flat_prior, obs=yl)
                pyro.sample("x_labelled", self.likelihood(z, yl), obs=xl)
                if self.alpha:  # the guide's classifier, read on purpose
                    logits = self.classifier_logits(xl)
                    log_q = dist.Categorical(logits=logits).log_prob(yl)
                    pyro.factor("supervised", self.alpha * log_q)
        if len(xu):
            with _plate("unlabelled", self.num_unlabelled, xu):
                prior = dist.Normal(
                    x.new_zeros(self.z_dim), 1.0, validate_args=False
                ).to_event(1)
                z = pyro.sample("z", prior.expand([len(xu)]))
                y = pyro.sample("y", flat_prior)
                pyro.sample("x", self.likelihood(z, y), obs=xu)

    def guide(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """q(z|x,y) where y is seen; q(y|x) q(z|x,y) where it is missing."""
        xl, yl, xu = self._split(x, labels)
        if len(xl):
            with _plate("labelled", self.num_labelled, xl):
                loc, scale = self.style_posterior(xl, yl)
                pyro.sample(
                    "z_labelled",
                    dist.Normal(loc, scale, validate_args=False).to_event(1),
                )
        if len(xu):
            with _plate("unlabelled", self.num_unlabelled, xu):
                infer = {"enumerate": "parallel"} if self.enumerate_labels else {}
                logits = self.classifier_logits(xu)
                q_y = dist.Categorical(logits=logits, validate_args=False)
                y = pyro.sample("y", q_y, infer=infer)
                loc, scale = self.style_posterior(xu, y)
                pyro.sample(
                    "z", dist.Normal(loc, scale, validate_args=False).to_event(1)
                )

    # -- what readers use -----------------------------------------------------

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @torch.no_grad()
    def classify(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Class probabilities (N, 10) of the classifier q(y|x).

        Example::

            probs = ss.classify(test_x)
            accuracy = (probs.argmax(-1) == test_y).float().mean()
        """
        x = checks.images(x, "x", dtype=self._dtype())
        batch_size = checks.positive_int("batch_size", batch_size)
        dev = self._device()
        out = [
            self.classifier_logits(self._inputs(x[i : i + batch_size].to(dev))).softmax(
                -1
            )
            for i in range(0, len(x), batch_size)
        ]
        return torch.cat(out).cpu()

    @torch.no_grad()
    def encode(
        self, x: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc, scale)`` of q(z|x, y), each (N, z_dim): the style of each image.

        Example::

            loc, scale = ss.encode(test_x[:5], test_y[:5])
        """
        x = checks.images(x, "x", dtype=self._dtype())
        labels = checks.labels(labels, n=len(x))
        dev = self._device()
        loc, scale = self.style_posterior(self._inputs(x.to(dev)), labels.to(dev))
        return loc.cpu(), scale.cpu()

    @torch.no_grad()
    def generate(
        self,
        labels: torch.Tensor,
        z: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Bernoulli means (N, 1, 28, 28) of p(x|y,z) for integer ``labels`` (N,).

        ``z`` (N, z_dim) gives the styles; ``None`` draws them from the prior
        (with ``generator`` when given).

        Example::

            digits = ss.generate(torch.arange(10))           # ten digits
            z = ss.encode(x[:1], y[:1])[0].expand(10, -1)    # one style
            same_hand = ss.generate(torch.arange(10), z)
        """
        labels = checks.labels(labels)
        if len(labels) == 0:
            raise ValueError("labels must hold at least one label.")
        if z is None:
            z = torch.randn(len(labels), self.z_dim, generator=generator)
        elif not isinstance(z, torch.Tensor) or tuple(z.shape) != (
            len(labels),
            self.z_dim,
        ):
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(
                f"z must be a tensor of shape ({len(labels)}, {self.z_dim}), got "
                f"{shape}."
            )
        elif not torch.isfinite(z).all():
            raise ValueError("z must be finite.")
        dev = self._device()
        out = self._decode(z.to(dev, torch.get_default_dtype()), labels.to(dev))
        if self.features is not None:
            out = self.features.decoder(out.chunk(2, dim=-1)[0])
        means = torch.sigmoid(out).clamp(1e-6, 1 - 1e-6)
        return means.reshape(-1, 1, 28, 28).cpu()


def baseline_classifier(
    m1_hidden: int = 500, m1_z_dim: int = 50, classifier_hidden: Sequence[int] = (500,)
) -> nn.Sequential:
    """An ordinary classifier with the shape of the stacked model's q(y|x).

    Images (N, 1, 28, 28) -> logits (N, 10) through the layers of M1's
    encoder (its ``loc`` head only) followed by the classifier MLP: the
    network that the semi-supervised model uses to classify, but to be
    trained from scratch on the labelled images alone.

    Example::

        net = baseline_classifier()
        bayesdl.infer.fit_classifier(net, x_labelled, y_labelled,
                                        num_epochs=200, batch_size=100)
    """
    widths = checks.widths("classifier_hidden", classifier_hidden, allow_empty=True)
    m1_hidden = checks.positive_int("m1_hidden", m1_hidden)
    m1_z_dim = checks.positive_int("m1_z_dim", m1_z_dim)
    return nn.Sequential(
        nn.Flatten(),
        _mlp([NUM_PIXELS, m1_hidden, m1_z_dim], nn.ReLU),
        _mlp([m1_z_dim, *widths, NUM_CLASSES], nn.ReLU),
    )


def classifier_gradients(
    ss: SSVAE,
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_draws: int = 20,
    enumerate_labels: bool = True,
) -> torch.Tensor:
    """Independent draws of the ELBO's gradient for the classifier q(y|x).

    Each draw runs ``TraceEnum_ELBO`` once on the batch ``(x, labels)``
    (``-1`` marks a missing label) and returns the gradient of the loss with
    respect to the classifier's weights, flattened: a tensor
    (num_draws, num_weights). With ``enumerate_labels`` the missing labels
    are summed out; otherwise they are sampled (a score-function estimate).
    The model's parameters and setting are left as they were.

    Example::

        g = classifier_gradients(ss, x, labels, enumerate_labels=False)
        g.var(0).sum()        # total variance of the gradient
    """
    from pyro.infer import TraceEnum_ELBO

    num_draws = checks.positive_int("num_draws", num_draws)
    elbo = TraceEnum_ELBO(max_plate_nesting=1, strict_enumeration_warning=False)
    weights = list(ss.classifier.parameters())
    before = ss.enumerate_labels
    ss.enumerate_labels = bool(enumerate_labels)
    draws = []
    try:
        for _ in range(num_draws):
            loss = elbo.differentiable_loss(ss.model, ss.guide, x, labels)
            grads = torch.autograd.grad(loss, weights)
            draws.append(torch.cat([g.flatten() for g in grads]))
    finally:
        ss.enumerate_labels = before
    return torch.stack(draws)
