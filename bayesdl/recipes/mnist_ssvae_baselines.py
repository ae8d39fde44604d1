"""The semi-supervised chapter's peers of M1+M2, and its gradient experiment.

Two supervised-only classifiers trained on the labelled images alone
(:func:`ssvae_baseline_mnist` from scratch, :func:`ssvae_m1_classifier_mnist`
on M1's frozen code), and :func:`classifier_gradients`, which draws the
classifier's gradient to compare enumeration with sampling. The data,
settings and M1 are those of :mod:`~bayesdl.recipes.mnist_ssvae`.

Example::

    >>> net = baseline_classifier()
    >>> net(torch.rand(3, 1, 28, 28)).shape
    torch.Size([3, 10])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .. import checks, config
from ..data.splits import labelled_split
from ..infer import loop
from ..models.point import PointClassifier
from ..models.ssvae import NUM_CLASSES, SSVAE
from ..models.vae import MLP, NUM_PIXELS
from ._runner import register, run
from .mnist_ssvae import SSVAESettings, _key, check_num_labels, ssvae_data, ssvae_m1

__all__ = [
    "baseline_classifier",
    "classifier_gradients",
    "ssvae_baseline_mnist",
    "ssvae_m1_classifier_mnist",
]


def baseline_classifier(
    m1_hidden: int = 500,
    m1_latent_dim: int = 50,
    classifier_hidden: Sequence[int] = (500,),
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
    m1_latent_dim = checks.positive_int("m1_latent_dim", m1_latent_dim)
    return nn.Sequential(
        nn.Flatten(),
        MLP([NUM_PIXELS, m1_hidden, m1_latent_dim], nn.ReLU),
        MLP([m1_latent_dim, *widths, NUM_CLASSES], nn.ReLU),
    )


def classifier_gradients(
    ss: SSVAE,
    batch: Sequence[torch.Tensor],
    *,
    num_draws: int = 20,
    enumerate_labels: bool = True,
) -> torch.Tensor:
    """Independent draws of the ELBO's gradient for the classifier q(y|x).

    Each draw runs ``TraceEnum_ELBO`` once on ``batch``, the arguments of
    ``ss.model`` (a batch ``(x_labelled, y_labelled, x_unlabelled)`` of
    :class:`~bayesdl.infer.feeding.MixedBatches`), and returns the gradient
    of the loss with respect to the classifier's weights, flattened: a
    tensor (num_draws, num_weights). With ``enumerate_labels`` the missing
    labels are summed out; otherwise they are sampled (a score-function
    estimate). The model's parameters and setting are left as they were.

    Example::

        g = classifier_gradients(ss, next(iter(sampler)), enumerate_labels=False)
        g.var(0).sum()        # total variance of the gradient
    """
    from pyro.infer import TraceEnum_ELBO

    num_draws = checks.positive_int("num_draws", num_draws)
    ss.validate_batch(*batch)
    elbo = TraceEnum_ELBO(max_plate_nesting=1, strict_enumeration_warning=False)
    weights = list(ss.classifier.parameters())
    before = ss.enumerate_labels
    ss.enumerate_labels = bool(enumerate_labels)
    draws = []
    try:
        for _ in range(num_draws):
            loss = elbo.differentiable_loss(ss.model, ss.guide, *batch)
            grads = torch.autograd.grad(loss, weights)
            draws.append(torch.cat([g.flatten() for g in grads]))
    finally:
        ss.enumerate_labels = before
    return torch.stack(draws)


def _fit_labelled(
    net: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, settings, seed: int
) -> loop.FitResult:
    """Train ``net`` on the labelled ``inputs`` for the baseline's steps."""
    cfg = settings.baseline
    dev = config.device()
    per_epoch = math.ceil(len(inputs) / cfg.batch_size)
    return loop.fit_classifier(
        net,
        inputs.to(dev),
        labels.to(dev),
        num_epochs=max(1, cfg.num_steps // per_epoch),
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        generator=torch.Generator(device="cpu").manual_seed(seed),
    )


def _labelled(settings: SSVAESettings, num_labels: int):
    images, labels = ssvae_data(settings)
    labelled, _ = labelled_split(labels, num_labels, seed=settings.split_seed)
    return images[labelled], labels[labelled]


@register(
    "ssvae_baseline_mnist",
    "a supervised-only classifier shaped like the SSVAE's q(y|x)",
)
def ssvae_baseline_mnist(*, num_labels: int = 100, seed: int = 0) -> nn.Module:
    """The supervised-only peer of the SS-VAE: same shape, labels only.

    :func:`baseline_classifier` trained from scratch by
    :func:`bayesdl.infer.fit_classifier` on the same ``num_labels`` labelled
    images as :func:`~bayesdl.recipes.mnist_ssvae.ssvae_mnist` (the
    unlabelled ones are not used, nor is M1). Returns a
    :class:`~bayesdl.models.point.PointClassifier` (images -> logits) in
    evaluation mode with ``losses`` and ``train_seconds``.

    Example::

        net = ssvae_baseline_mnist(num_labels=100)
        probs = net.predict(test_images)          # (1, N, 10)
    """
    num_labels = check_num_labels(num_labels)
    settings = SSVAESettings()
    m1, m2 = settings.m1, settings.m2

    def fit(net: nn.Module, seed: int) -> loop.FitResult:
        return _fit_labelled(net, *_labelled(settings, num_labels), settings, seed)

    return run(
        f"ssvae_baseline_mnist_{num_labels}",
        make=lambda: PointClassifier(
            baseline_classifier(m1.hidden, m1.latent_dim, m2.classifier_hidden)
        ),
        fit=fit,
        seed=seed,
        settings=_key(settings, "baseline")
        | {
            "m1_hidden": m1.hidden,
            "m1_latent_dim": m1.latent_dim,
            "classifier_hidden": m2.classifier_hidden,
        },
        sources=[__name__],
    )


@register(
    "ssvae_m1_classifier_mnist",
    "the SSVAE's classifier trained on frozen M1 codes of the labelled images",
    example=lambda: torch.randn(4, SSVAESettings().m1.latent_dim),
)
def ssvae_m1_classifier_mnist(*, num_labels: int = 100, seed: int = 0) -> nn.Module:
    """What M1's features buy alone: q(y|x)'s layers on M1's frozen code.

    The classifier MLP of the SS-VAE (M1's code -> logits), trained like
    :func:`ssvae_baseline_mnist` on the same ``num_labels`` labelled images,
    reading the mean of the code of
    :func:`~bayesdl.recipes.mnist_ssvae.ssvae_m1` (which saw every training
    image, without labels); no M2 objective. The counterpart of Kingma et
    al.'s "M1+TSVM" row. Returns a
    :class:`~bayesdl.models.point.PointClassifier` (codes -> logits) in
    evaluation mode with ``losses`` and ``train_seconds``.

    Example::

        net = ssvae_m1_classifier_mnist(num_labels=100)
        codes = ssvae_m1().encode(test_images)[0]
        probs = net.predict(codes)                # (1, N, 10)
    """
    num_labels = check_num_labels(num_labels)
    settings = SSVAESettings()
    widths = settings.m2.classifier_hidden

    def fit(net: nn.Module, seed: int) -> loop.FitResult:
        images, labels = _labelled(settings, num_labels)
        codes = ssvae_m1(seed=seed).encode(images.to(config.device()))[0]
        return _fit_labelled(net, codes, labels, settings, seed)

    latent_dim = settings.m1.latent_dim
    return run(
        f"ssvae_m1_classifier_mnist_{num_labels}",
        make=lambda: PointClassifier(MLP([latent_dim, *widths, NUM_CLASSES], nn.ReLU)),
        fit=fit,
        seed=seed,
        settings=_key(settings, "m1", "baseline") | {"classifier_hidden": widths},
        sources=[__name__],
    )
