"""What every recipe of the zoo shares: the registry, the record, its checks.

A recipe (one file of :mod:`bayesdl.recipes` per chapter) trains its models
through :func:`bayesdl.cache.train_or_load`; the helpers here build the
record it caches (:func:`artifact`: weights and history), check a loaded one
(:func:`validator`) and turn it back into a network (:func:`with_history`).
This module imports no recipe, so that a recipe's cache key covers this file
and its own, and no other recipe's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from .. import cache, checks, config, data

__all__ = [
    "EXAMPLES",
    "REGISTRY",
    "training_record",
    "check_seed",
    "checked_settings",
    "register",
    "run",
    "settings_dict",
    "training_set",
    "validator",
    "with_history",
]

REGISTRY: dict[str, tuple[Callable[[], Any], str]] = {}
"""The zoo's models by name: (a function that trains or loads them, what it is).

``python -m bayesdl train`` trains everything listed here.
"""


EXAMPLES: dict[str, Callable[[], torch.Tensor]] = {}
"""A small batch of inputs each registered model takes, by name (four
MNIST-shaped images in [0, 1] unless the recipe says otherwise); the
registry's test asks every model about it in the vocabulary of
:mod:`bayesdl.models`."""


def _images() -> torch.Tensor:
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def register(
    name: str,
    description: str,
    *,
    example: Callable[[], torch.Tensor] = _images,
) -> Callable:
    """Add a zoo function (keyword arguments only, all defaulted) to :data:`REGISTRY`.

    ``example()`` returns a small batch of inputs the model takes (four
    MNIST-shaped images by default); see :data:`EXAMPLES`.

    Example::

        >>> @register("my_model", "a model of mine")
        ... def my_model(*, seed=0): ...
    """

    def decorate(fn: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"a zoo model named {name!r} is already registered.")
        REGISTRY[name] = (fn, description)
        EXAMPLES[name] = example
        return fn

    return decorate


def training_record(
    net: torch.nn.Module, result, **history: torch.Tensor | float
) -> dict[str, Any]:
    """What the cache keeps of a trained network: weights and its history.

    The history is the loss of every step, the training seconds, where it
    was trained (device and torch's thread count, which can move the last
    digits of the weights), and any per-epoch records (tensors) or numbers
    given as ``history``.
    """
    return {
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "losses": torch.tensor(result.losses, dtype=torch.float64),
        "seconds": float(result.seconds),
        "device": str(config.device()),
        "threads": int(torch.get_num_threads()),
        **{
            k: v.to(torch.float64) if isinstance(v, torch.Tensor) else float(v)
            for k, v in history.items()
        },
    }


def run(
    name: str,
    *,
    make: Callable[[], torch.nn.Module],
    fit: Callable[[torch.nn.Module, int], Any],
    settings: Any,
    seed: int,
    sources: list[Any],
    history: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
) -> torch.nn.Module:
    """Train ``make()`` with ``fit`` once, cache the result, and return it loaded.

    What every recipe shares happens here, not in the recipe: the seed is
    checked; the network is built on the device under a forked random state
    seeded with ``seed`` (the caller's random state is left as it was);
    ``fit(net, seed)`` trains it and returns the loop's result, or
    ``(result, extras)`` with the per-epoch records named in ``history`` and
    the numbers named in ``numbers``; the record (:func:`training_record`)
    is cached under ``name`` with :func:`bayesdl.cache.train_or_load`, keyed
    on ``settings`` (a recipe's frozen settings dataclass, or a dict),
    ``seed`` and the code of ``sources``, and checked by
    :func:`validator` when loaded. The network comes back in evaluation mode
    on the device, with ``losses``, ``train_seconds``, ``trained_on`` and an
    attribute for each name of ``history`` and ``numbers``.

    Example::

        net = run("tiny", make=make, fit=fit, settings={"n": 3}, seed=0,
                  sources=[__name__])
    """
    seed = check_seed(seed)

    def train() -> dict[str, Any]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = make().to(config.device())
            out = fit(net, seed)
        result, extras = out if isinstance(out, tuple) else (out, {})
        return training_record(net, result, **extras)

    record = cache.train_or_load(
        name,
        train,
        settings=settings_dict(settings),
        seed=seed,
        sources=sources,
        validate=validator(make, history, numbers),
    )
    net = with_history(make(), record)
    for key in (*history, *numbers):
        setattr(net, key, record[key])
    return net


def _finite_number(artifact: dict[str, Any], key: str) -> None:
    value = artifact[key]
    if isinstance(value, bool) or not isinstance(value, float | int):
        raise ValueError(f"the artifact's {key!r} is not a number.")
    if not math.isfinite(value):
        raise ValueError(f"the artifact's {key!r} is not finite.")


def validator(
    make: Callable[[], torch.nn.Module],
    history: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
) -> Callable[[Any], None]:
    """A check that an artifact is a whole, usable record of a ``make()`` network.

    It refuses an artifact with a missing field, a state dict whose keys,
    shapes or dtypes differ from the network's, weights that hold NaN or
    infinities, or a history (the losses and each per-epoch record named in
    ``history``, each a float tensor; the numbers named in ``numbers``) that
    is not finite, so that :func:`bayesdl.cache.train_or_load` retrains
    instead of serving it.
    """
    required = {"state_dict", "losses", "seconds", "device", "threads"}
    required |= set(history) | set(numbers)

    def validate(artifact: Any) -> None:
        if not isinstance(artifact, dict):
            raise ValueError("the artifact is not a dict.")
        missing = required - set(artifact)
        if missing:
            raise ValueError(f"the artifact lacks {sorted(missing)}.")
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
                or value.dtype != expected[key].dtype
            ):
                raise ValueError(
                    f"the artifact's {key!r} has the wrong shape or dtype."
                )
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise ValueError(
                    f"the artifact's {key!r} holds NaN or infinite values."
                )
        for key in ("losses", *history):
            value = artifact[key]
            if (
                not isinstance(value, torch.Tensor)
                or not value.is_floating_point()
                or value.dim() != 1
                or not torch.isfinite(value).all()
            ):
                raise ValueError(
                    f"the artifact's {key!r} is not a finite 1-d float tensor."
                )
        for key in ("seconds", *numbers):
            _finite_number(artifact, key)
        if not isinstance(artifact["device"], str) or isinstance(
            artifact["threads"], bool
        ):
            raise ValueError("the artifact's device or thread count is malformed.")
        if not isinstance(artifact["threads"], int) or artifact["threads"] < 1:
            raise ValueError("the artifact's thread count is not a positive int.")

    return validate


def with_history(net, artifact: dict[str, Any]):
    net.load_state_dict(artifact["state_dict"])
    net.losses = artifact["losses"]
    net.train_seconds = float(artifact["seconds"])
    net.trained_on = {"device": artifact["device"], "threads": artifact["threads"]}
    net.eval()
    return net.to(config.device())


def settings_dict(settings: Any) -> dict[str, Any]:
    """A recipe's settings as the plain dict that a cache key hashes.

    A frozen dataclass (each recipe's settings type) becomes the dict of its
    fields; a dict is returned as it is.

    Example::

        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True)
        ... class Settings:
        ...     num_epochs: int = 3
        >>> settings_dict(Settings())
        {'num_epochs': 3}
    """
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return dataclasses.asdict(settings)
    if isinstance(settings, dict):
        return settings
    raise ValueError(
        "settings must be a recipe's settings dataclass (or a dict), got "
        f"{type(settings).__name__}."
    )


def checked_settings(given: object, default: Callable[[], Any], name: str) -> Any:
    """``given`` settings checked against ``default()``, or the default.

    For a recipe whose settings are a frozen dataclass, ``given`` must be an
    instance of that class (change a field with :func:`dataclasses.replace`);
    for one whose settings are a dict, a dict with every field of the default.
    """
    expected = default()
    if given is None:
        return expected
    if dataclasses.is_dataclass(expected):
        if not isinstance(given, type(expected)):
            raise ValueError(
                f"settings must be a {type(expected).__name__} like {name}(), got "
                f"{type(given).__name__}; change a field with "
                f"dataclasses.replace({name}(), num_epochs=2)."
            )
        return given
    if not isinstance(given, dict):
        raise ValueError(
            f"settings must be a dict like {name}(), got {type(given).__name__}."
        )
    missing = sorted(set(expected) - set(given))
    if missing:
        raise ValueError(
            f"settings lack {missing}; start from {name}() and change what you "
            "need, e.g. dict(bayesdl.zoo." + name + "(), num_epochs=2)."
        )
    return given


def check_seed(seed: object) -> int:
    return checks.seed(seed)


def training_set(name: str, num_train: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training split of dataset ``name``, or a class-stratified seeded
    subset of ``num_train`` of its images when that is fewer."""
    images, labels = data.load(name, "train")
    if num_train < len(images):
        images, labels = data.subset(images, labels, num_train, seed=0)
    return images, labels
