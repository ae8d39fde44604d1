"""The book's trained models, one call away.

Each function trains its model once per profile (and seed, and version of
the code that trains it), caches it with :func:`bayesdl.cache.train_or_load`, and loads
it from the cache on every later call. The chapters call the same
functions, so after a build of the book the calls are instant.

Example::

    >>> import bayesdl
    >>> bnn = bayesdl.zoo.bnn_mnist()
    >>> test_x, test_y = bayesdl.data.load("mnist", "test")
    >>> probs = bnn.predict(test_x, num_samples=20)    # (20, 10000, 10)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from . import cache, checks, config, data, infer
from .models import bnn
from .models.bnn import BayesianLeNet, LeNet

__all__ = [
    "REGISTRY",
    "SSVAE_LABEL_COUNTS",
    "bnn_mnist",
    "lenet_mnist",
    "mnist_settings",
    "register",
    "ssvae_baseline_mnist",
    "ssvae_data",
    "ssvae_m1",
    "ssvae_mnist",
    "ssvae_settings",
    "vae_data",
    "vae_fashion_mnist",
    "vae_fit",
    "vae_settings",
    "vae_untrained",
]

REGISTRY: dict[str, tuple[Callable[[], Any], str]] = {}
"""The zoo's models by name: (a function that trains or loads them, what it is).

``python -m bayesdl train`` trains everything listed here.
"""


def register(name: str, description: str) -> Callable:
    """Add a zoo function (keyword arguments only, all defaulted) to :data:`REGISTRY`.

    Example::

        >>> @register("my_model", "a model of mine")
        ... def my_model(*, seed=0): ...
    """

    def decorate(fn: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"a zoo model named {name!r} is already registered.")
        REGISTRY[name] = (fn, description)
        return fn

    return decorate


def mnist_settings() -> dict[str, Any]:
    """The architecture and training settings of the MNIST networks.

    Shared by :func:`bnn_mnist` and :func:`lenet_mnist` (same layout, data,
    batch size, epochs and learning rates); the profile picks the sizes.

    Example::

        >>> mnist_settings()["batch_size"]
        128
    """
    return {
        "num_train": config.choose(full=60_000, smoke=3_000),
        "num_epochs": config.choose(full=3, smoke=2),
        "batch_size": 128,
        "lr": 2e-3,
        "final_lr": 2e-4,
        "channels": [16, 32],
        "hidden": 128,
        "prior_scale": 1.0,
        "init_std": 0.01,
    }


def _train_data(settings: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = data.load("mnist", "train")
    if settings["num_train"] < len(images):
        images, labels = data.subset(images, labels, settings["num_train"], seed=0)
    return images, labels


def _artifact(net: torch.nn.Module, result) -> dict[str, Any]:
    return {
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "losses": torch.tensor(result.losses, dtype=torch.float64),
        "seconds": float(result.seconds),
    }


def _validator(make: Callable[[], torch.nn.Module]) -> Callable[[Any], None]:
    """A check that an artifact fits a fresh ``make()`` network exactly.

    It refuses an artifact whose structure, keys or shapes differ from the
    network's, or whose weights or history hold NaN or infinities, so that
    :func:`bayesdl.cache.train_or_load` retrains instead of serving it.
    """

    def validate(artifact: Any) -> None:
        if not isinstance(artifact, dict) or not {
            "state_dict",
            "losses",
            "seconds",
        } <= set(artifact):
            raise ValueError(
                "the artifact is not a dict with state_dict, losses, seconds."
            )
        expected = make().state_dict()
        state = artifact["state_dict"]
        if not isinstance(state, dict) or set(state) != set(expected):
            raise ValueError(
                "the artifact's state_dict has other keys than the network."
            )
        for key, value in state.items():
            if (
                not isinstance(value, torch.Tensor)
                or value.shape != expected[key].shape
            ):
                raise ValueError(f"the artifact's {key!r} has the wrong shape.")
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise ValueError(
                    f"the artifact's {key!r} holds NaN or infinite values."
                )
        losses = artifact["losses"]
        if not isinstance(losses, torch.Tensor) or not torch.isfinite(losses).all():
            raise ValueError("the artifact's loss history is not a finite tensor.")
        if not isinstance(artifact["seconds"], float) or not math.isfinite(
            artifact["seconds"]
        ):
            raise ValueError("the artifact's training time is not a finite float.")

    return validate


def _with_history(net, artifact: dict[str, Any]):
    net.load_state_dict(artifact["state_dict"])
    net.losses = artifact["losses"]
    net.train_seconds = float(artifact["seconds"])
    net.eval()
    return net.to(config.device())


def _check_seed(seed: object) -> int:
    return checks.seed(seed)


def _bnn(settings: dict[str, Any]) -> BayesianLeNet:
    return BayesianLeNet(
        settings["num_train"], settings["channels"], settings["hidden"],
        prior_scale=settings["prior_scale"], init_std=settings["init_std"],
    )  # fmt: skip


@register("bnn_mnist", "the Bayesian LeNet of the MNIST chapter")
def bnn_mnist(*, seed: int = 0) -> BayesianLeNet:
    """The chapter's Bayesian LeNet, trained on MNIST by mini-batch SVI.

    Returns a :class:`~bayesdl.models.bnn.BayesianLeNet` in evaluation mode
    with two extra attributes: ``losses`` (the ELBO loss of every step) and
    ``train_seconds`` (the wall time of the training that made it).
    ``predict(images, num_samples=S)`` gives class probabilities (S, N, 10).

    Example::

        >>> bnn = bnn_mnist()
        >>> probs = bnn.predict(images, num_samples=20).mean(0)
    """
    seed = _check_seed(seed)
    settings = mnist_settings()

    def train() -> dict[str, Any]:
        images, labels = _train_data(settings)
        dev = config.device()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _bnn(settings).to(dev)
            net.train()
            result = infer.fit_svi(
                net, net.guide, data=(images.to(dev), labels.to(dev)),
                num_epochs=settings["num_epochs"], batch_size=settings["batch_size"],
                lr=settings["lr"], final_lr=settings["final_lr"],
            )  # fmt: skip
        return _artifact(net, result)

    artifact = cache.train_or_load(
        "bnn_mnist", train, settings=settings, seed=seed, sources=[bnn, __name__],
        validate=_validator(lambda: _bnn(settings)),
    )  # fmt: skip
    return _with_history(_bnn(settings), artifact)


@register("lenet_mnist", "the ordinary LeNet of the same layout, trained the same way")
def lenet_mnist(*, seed: int = 0) -> LeNet:
    """The ordinary LeNet of the same layout, trained the same way on MNIST.

    Maximum likelihood with the optimiser, learning rates, batch size and
    epochs of :func:`bnn_mnist`. Returns a :class:`~bayesdl.models.bnn.LeNet`
    with ``losses`` and ``train_seconds`` attributes.

    Example::

        >>> net = lenet_mnist()
        >>> probs = net.predict(images)       # (1, N, 10)
    """
    seed = _check_seed(seed)
    settings = mnist_settings()

    def make() -> LeNet:
        return LeNet(settings["channels"], settings["hidden"])

    def train() -> dict[str, Any]:
        images, labels = _train_data(settings)
        dev = config.device()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = make().to(dev)
            result = infer.fit_deterministic(
                net, images.to(dev), labels.to(dev),
                num_epochs=settings["num_epochs"], batch_size=settings["batch_size"],
                lr=settings["lr"], final_lr=settings["final_lr"],
            )  # fmt: skip
        return _artifact(net, result)

    artifact = cache.train_or_load(
        "lenet_mnist", train, settings=settings, seed=seed, sources=[bnn, __name__],
        validate=_validator(make),
    )  # fmt: skip
    return _with_history(make(), artifact)


def vae_settings() -> dict[str, Any]:
    """The architecture and training settings of the Fashion-MNIST VAE.

    ``num_val`` images of the training set are held out for validation
    (seeded split), the VAE trains on ``num_train`` of the rest; the profile
    picks the sizes.

    Example::

        >>> vae_settings()["latent_dim"]
        32
    """
    return {
        "num_train": config.choose(full=55_000, smoke=2_000),
        "num_val": config.choose(full=5_000, smoke=500),
        "num_epochs": config.choose(full=12, smoke=2),
        "batch_size": 256,
        "lr": 8e-3,
        "final_lr": 0.0,
        "schedule": "cosine",
        "warmup_steps": config.choose(full=200, smoke=4),
        "latent_dim": 32,
        "hidden": [256, 128],
        "activation": "elu",
    }


def vae_data(
    settings: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and validation images of :func:`vae_fashion_mnist`.

    A seeded permutation of Fashion-MNIST's 60,000 training images: the
    first ``num_val`` are the validation set, the next ``num_train`` the
    training set. The test set is never touched.

    Example::

        >>> train_x, val_x = vae_data()
    """
    settings = vae_settings() if settings is None else settings
    images, _ = data.load("fashion_mnist", "train")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    num_val, num_train = settings["num_val"], settings["num_train"]
    val = images[order[:num_val]]
    train = images[order[num_val : num_val + num_train]]
    return train, val


def vae_untrained(settings: dict[str, Any] | None = None) -> torch.nn.Module:
    """A freshly initialised VAE of :func:`vae_fashion_mnist`'s architecture.

    Example::

        >>> _ = torch.manual_seed(0)
        >>> vae = vae_untrained()
    """
    from .models.vae import VAE

    settings = vae_settings() if settings is None else settings
    return VAE(
        settings["num_train"], settings["latent_dim"], settings["hidden"],
        activation=settings["activation"],
    )  # fmt: skip


def vae_fit(
    vae: torch.nn.Module,
    train_x: torch.Tensor,
    settings: dict[str, Any] | None = None,
    *,
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
    progress: bool | None = None,
) -> infer.FitResult:
    """Train ``vae`` on ``train_x`` as :func:`vae_fashion_mnist` does.

    One call of :func:`bayesdl.infer.fit_svi` in mini-batch mode with
    ``TraceMeanField_ELBO``, Adam and the learning-rate schedule of
    ``settings`` (default :func:`vae_settings`); ``seed`` seeds the order
    of the batches. ``python -m bayesdl bench vae`` trains through it too.

    Example::

        >>> train_x, _ = vae_data()
        >>> result = vae_fit(vae_untrained(), train_x)
    """
    import pyro

    settings = vae_settings() if settings is None else settings
    return infer.fit_svi(
        vae.model, vae.guide, data=(train_x,),
        batch_size=settings["batch_size"], num_epochs=settings["num_epochs"],
        lr=settings["lr"], final_lr=settings["final_lr"],
        schedule=settings["schedule"], warmup_steps=settings["warmup_steps"],
        optimizer_args={"fused": True}, loss=pyro.infer.TraceMeanField_ELBO(),
        callback=callback, progress=progress,
        generator=torch.Generator(device="cpu").manual_seed(seed),
    )  # fmt: skip


@register("vae_fashion_mnist", "the VAE of the Fashion-MNIST chapter")
def vae_fashion_mnist(*, seed: int = 0) -> torch.nn.Module:
    """The chapter's VAE, trained on Fashion-MNIST (see :func:`vae_settings`).

    Trained once per profile by mini-batch SVI with ``TraceMeanField_ELBO``
    through :func:`bayesdl.infer.fit_svi`, then loaded from the cache.
    Returns a :class:`~bayesdl.models.vae.VAE` in evaluation mode with
    ``losses`` (the loss of every step), ``train_seconds``, and per epoch
    ``train_elbo`` (mean training ELBO per image over the epoch's steps) and
    ``val_elbo`` (ELBO per image of the validation set after the epoch).

    Example::

        >>> vae = vae_fashion_mnist()
        >>> images = vae.sample(16)
    """
    import time

    from .models import vae as vae_module
    from .models.vae import elbo

    seed = _check_seed(seed)
    settings = vae_settings()

    def make() -> torch.nn.Module:
        return vae_untrained(settings)

    def train() -> dict[str, Any]:
        train_x, val_x = vae_data(settings)
        dev = config.device()
        train_x, val_x = train_x.to(dev), val_x.to(dev)
        per_epoch = -(-len(train_x) // settings["batch_size"])
        val_elbo: list[float] = []
        pause = [0.0]

        def validate(step: int, loss: float) -> None:
            if (step + 1) % per_epoch == 0:
                start = time.perf_counter()
                with torch.no_grad():
                    val_elbo.append(float(elbo(vae, val_x).mean()))
                pause[0] += time.perf_counter() - start

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            vae = make().to(dev)
            result = vae_fit(vae, train_x, settings, seed=seed, callback=validate)
        result.seconds -= pause[0]
        artifact = _artifact(vae, result)
        per_image = -torch.tensor(result.losses, dtype=torch.float64) / len(train_x)
        artifact["train_elbo"] = per_image.view(-1, per_epoch).mean(1)
        artifact["val_elbo"] = torch.tensor(val_elbo, dtype=torch.float64)
        return artifact

    artifact = cache.train_or_load(
        "vae_fashion_mnist", train, settings=settings, seed=seed,
        sources=[vae_module, __name__], validate=_validator(make),
    )  # fmt: skip
    vae = _with_history(make(), artifact)
    vae.train_elbo = artifact["train_elbo"]
    vae.val_elbo = artifact["val_elbo"]
    return vae


# -- the semi-supervised VAE of the MNIST chapter ---------------------------

SSVAE_LABEL_COUNTS = (100, 600, 1000, 3000)
"""The numbers of labelled MNIST images that :func:`ssvae_mnist` supports."""


def ssvae_settings() -> dict[str, Any]:
    """The sizes and training settings of the semi-supervised VAE (M1+M2).

    ``m1``: the VAE trained on all training images, whose code is M2's
    input; ``m2``: the semi-supervised model; ``baseline``: the
    supervised-only classifier of the same shape; ``split_seed`` draws the
    labelled images. The profile picks the sizes.

    Example::

        >>> ssvae_settings()["m2"]["batch_size"]
        200
    """
    return {
        "num_train": config.choose(full=60_000, smoke=3_500),
        "split_seed": 0,
        "m1": {
            "z_dim": 50,
            "hidden": 500,
            "num_epochs": config.choose(full=10, smoke=2),
            "batch_size": 250,
            "lr": config.choose(full=1e-3, smoke=3e-3),
            "final_lr": 2e-4,
        },
        "m2": {
            "z_dim": 32,
            "hidden": 500,
            "classifier_hidden": [500],
            "alpha": 3000.0,
            "batch_size": 200,
            "labelled_per_batch": 32,
            "num_epochs": config.choose(full=8, smoke=2),
            "lr": 3e-3,
            "final_lr": 3e-4,
        },
        "baseline": {
            "num_steps": config.choose(full=1_000, smoke=40),
            "batch_size": 100,
            "lr": 1e-3,
        },
    }


def ssvae_data(
    settings: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST training images and labels of the semi-supervised models.

    All 60,000 in the full profile, a class-stratified seeded subset in the
    smoke profile. Which of them keep their label is decided by
    :func:`bayesdl.models.ssvae.labelled_split`.

    Example::

        >>> images, labels = ssvae_data()
    """
    settings = ssvae_settings() if settings is None else settings
    images, labels = data.load("mnist", "train")
    if settings["num_train"] < len(images):
        images, labels = data.subset(images, labels, settings["num_train"], seed=0)
    return images, labels


def _check_num_labels(num_labels: object) -> int:
    if isinstance(num_labels, bool) or num_labels not in SSVAE_LABEL_COUNTS:
        raise ValueError(
            f"num_labels must be one of {', '.join(map(str, SSVAE_LABEL_COUNTS))} "
            f"(the chapter's label counts), got {num_labels!r}."
        )
    return int(num_labels)


@register("ssvae_m1", "the M1 VAE whose code the semi-supervised VAE reads (MNIST)")
def ssvae_m1(*, seed: int = 0):
    """M1: the VAE trained on every MNIST training image, no labels used.

    Its code is the input of the stacked model :func:`ssvae_mnist`. Returns
    a :class:`~bayesdl.models.ssvae.M1` with ``losses`` and ``train_seconds``.

    Example::

        >>> m1 = ssvae_m1()
        >>> loc, scale = m1.encode(images)
    """
    import pyro

    from .models import ssvae as ssvae_module
    from .models.ssvae import M1

    seed = _check_seed(seed)
    settings = ssvae_settings()
    cfg = settings["m1"]

    def make() -> M1:
        return M1(settings["num_train"], z_dim=cfg["z_dim"], hidden=cfg["hidden"])

    def train() -> dict[str, Any]:
        images, _ = ssvae_data(settings)
        dev = config.device()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            m1 = make().to(dev)
            result = infer.fit_svi(
                m1.model, m1.guide, data=(images.to(dev),),
                batch_size=cfg["batch_size"], num_epochs=cfg["num_epochs"],
                lr=cfg["lr"], final_lr=cfg["final_lr"], loss=pyro.infer.Trace_ELBO(),
                generator=torch.Generator(device="cpu").manual_seed(seed),
            )  # fmt: skip
        return _artifact(m1, result)

    artifact = cache.train_or_load(
        "ssvae_m1", train, settings=settings["m1"] | {"n": settings["num_train"]},
        seed=seed, sources=[ssvae_module, __name__], validate=_validator(make),
    )  # fmt: skip
    return _with_history(make(), artifact)


def _ssvae(settings: dict[str, Any], num_labels: int, enumerate_labels: bool = True):
    from .models.ssvae import M1, SSVAE

    m1, m2 = settings["m1"], settings["m2"]
    features = M1(settings["num_train"], z_dim=m1["z_dim"], hidden=m1["hidden"])
    return SSVAE(
        num_labels, settings["num_train"] - num_labels, features=features,
        z_dim=m2["z_dim"], hidden=m2["hidden"],
        classifier_hidden=m2["classifier_hidden"], alpha=m2["alpha"],
        enumerate_labels=enumerate_labels,
    )  # fmt: skip


@register("ssvae_mnist", "the semi-supervised VAE (M1+M2) of the MNIST chapter")
def ssvae_mnist(*, num_labels: int = 100, seed: int = 0, enumerate_labels: bool = True):
    """The chapter's semi-supervised VAE, trained with ``num_labels`` labels.

    ``num_labels`` is 100, 600, 1000 or 3000: that many MNIST training
    images keep their label (balanced per class, drawn with the settings'
    ``split_seed``), the others are unlabelled. M2 runs on the code of the
    M1 of :func:`ssvae_m1` (trained first, on all images) with mixed
    mini-batches, summing out the missing labels by enumeration (or, with
    ``enumerate_labels=False``, sampling them). Returns a
    :class:`~bayesdl.models.ssvae.SSVAE` in evaluation mode with ``losses``,
    ``train_seconds`` (M2's training; M1's is ``features.train_seconds``)
    and ``test_accuracy`` (of q(y|x) on the MNIST test set after each epoch).

    Example::

        >>> ss = ssvae_mnist(num_labels=100)
        >>> probs = ss.classify(test_images)        # (N, 10)
        >>> sevens = ss.generate(torch.full((8,), 7))
    """
    import time

    from pyro.infer import TraceEnum_ELBO

    from .models import ssvae as ssvae_module
    from .models.ssvae import MixedBatches, labelled_split

    num_labels = _check_num_labels(num_labels)
    seed = _check_seed(seed)
    if not isinstance(enumerate_labels, bool):
        raise ValueError(
            f"enumerate_labels must be True or False, got {enumerate_labels!r}."
        )
    settings = ssvae_settings()
    cfg = settings["m2"]

    def train() -> dict[str, Any]:
        images, labels = ssvae_data(settings)
        test_x, test_y = data.load("mnist", "test")
        labelled, _ = labelled_split(labels, num_labels, seed=settings["split_seed"])
        m1 = ssvae_m1(seed=seed)
        dev = config.device()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ss = _ssvae(settings, num_labels, enumerate_labels).to(dev)
        ss.features.load_state_dict(m1.state_dict())
        start = time.perf_counter()
        codes = ss.code(images)  # M1's code, once for the whole training set
        code_seconds = time.perf_counter() - start
        sampler = MixedBatches(
            codes, labels.to(dev), labelled,
            batch_size=cfg["batch_size"], labelled_per_batch=cfg["labelled_per_batch"],
            seed=seed,
        )  # fmt: skip
        accuracy: list[float] = []
        pause = [0.0]

        def evaluate(step: int, loss: float) -> None:
            if (step + 1) % len(sampler) == 0:
                start = time.perf_counter()
                probs = ss.classify(test_x)
                accuracy.append(float((probs.argmax(-1) == test_y).double().mean()))
                pause[0] += time.perf_counter() - start

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            result = infer.fit_svi(
                ss.model, ss.guide, data=sampler, num_epochs=cfg["num_epochs"],
                lr=cfg["lr"], final_lr=cfg["final_lr"],
                loss=TraceEnum_ELBO(
                    max_plate_nesting=1, strict_enumeration_warning=enumerate_labels
                ),
                callback=evaluate,
            )  # fmt: skip
        result.seconds += code_seconds - pause[0]
        artifact = _artifact(ss, result)
        artifact["test_accuracy"] = torch.tensor(accuracy, dtype=torch.float64)
        return artifact

    def make():
        return _ssvae(settings, num_labels, enumerate_labels)

    artifact = cache.train_or_load(
        f"ssvae_mnist_{num_labels}" + ("" if enumerate_labels else "_sampled"),
        train, settings={k: v for k, v in settings.items() if k != "baseline"},
        seed=seed, sources=[ssvae_module, __name__],
        validate=_validator(make),
    )  # fmt: skip
    ss = _with_history(make(), artifact)
    ss.test_accuracy = artifact["test_accuracy"]
    ss.features.train_seconds = ssvae_m1(seed=seed).train_seconds
    return ss


@register(
    "ssvae_baseline_mnist",
    "a supervised-only classifier shaped like the SSVAE's q(y|x)",
)
def ssvae_baseline_mnist(*, num_labels: int = 100, seed: int = 0) -> torch.nn.Module:
    """The supervised-only peer of :func:`ssvae_mnist`: same shape, labels only.

    :func:`~bayesdl.models.ssvae.baseline_classifier` trained from scratch
    by :func:`bayesdl.infer.fit_deterministic` on the same ``num_labels``
    labelled images (the unlabelled ones are not used). Returns the network
    (images -> logits) in evaluation mode with ``losses`` and
    ``train_seconds``.

    Example::

        >>> net = ssvae_baseline_mnist(num_labels=100)
        >>> probs = net(test_images).softmax(-1)
    """
    from .models import ssvae as ssvae_module
    from .models.ssvae import baseline_classifier, labelled_split

    num_labels = _check_num_labels(num_labels)
    seed = _check_seed(seed)
    settings = ssvae_settings()
    cfg = settings["baseline"]

    def make() -> torch.nn.Module:
        return baseline_classifier(
            settings["m1"]["hidden"], settings["m1"]["z_dim"],
            settings["m2"]["classifier_hidden"],
        )  # fmt: skip

    def train() -> dict[str, Any]:
        images, labels = ssvae_data(settings)
        labelled, _ = labelled_split(labels, num_labels, seed=settings["split_seed"])
        dev = config.device()
        per_epoch = math.ceil(num_labels / cfg["batch_size"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = make().to(dev)
            result = infer.fit_deterministic(
                net, images[labelled].to(dev), labels[labelled].to(dev),
                num_epochs=max(1, cfg["num_steps"] // per_epoch),
                batch_size=cfg["batch_size"], lr=cfg["lr"],
                generator=torch.Generator(device="cpu").manual_seed(seed),
            )  # fmt: skip
        return _artifact(net, result)

    artifact = cache.train_or_load(
        f"ssvae_baseline_mnist_{num_labels}", train, seed=seed,
        settings={
            "num_train": settings["num_train"], "split_seed": settings["split_seed"],
            "baseline": cfg, "m1_hidden": settings["m1"]["hidden"],
            "m1_z_dim": settings["m1"]["z_dim"],
            "classifier_hidden": settings["m2"]["classifier_hidden"],
        },
        sources=[ssvae_module, __name__], validate=_validator(make),
    )  # fmt: skip
    return _with_history(make(), artifact)


from .recipes import sine_reference as _sine  # noqa: E402 - needs register above

nuts_sine = register("nuts_sine", "NUTS reference of the sine net")(_sine.nuts_sine)
