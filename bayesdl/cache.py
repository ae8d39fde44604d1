"""Train once, then load: a cache of trained artifacts.

An artifact is whatever a training function returns, as long as
``torch.load(..., weights_only=True)`` can read it back: tensors, state
dicts, and nested lists, tuples and dicts of numbers and strings.

The key of an entry is the artifact's name, its configuration, the profile,
the seed and a hash of the package's source, so that a change of any of them
trains anew. Entries are written atomically (a temporary file, then a rename)
and an entry that cannot be read is trained again, with a warning.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from . import config

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def entry_key(name: str, settings: Mapping[str, Any], seed: int) -> str:
    """The hexadecimal key of an artifact (name, settings, profile, seed, source).

    Example::

        >>> k = entry_key("bnn", {"hidden": 400}, seed=0)
    """
    payload = {
        "name": name,
        "settings": settings,
        "profile": config.profile(),
        "seed": seed,
        "source": config.source_hash(),
    }
    try:
        text = json.dumps(payload, sort_keys=True)
    except TypeError as err:
        raise ValueError(
            f"settings of artifact {name!r} must be JSON-serialisable "
            f"(numbers, strings, lists, dicts): {err}"
        ) from err
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_path(name: str, settings: Mapping[str, Any], seed: int) -> Path:
    """Where the artifact's cache entry lives."""
    return config.cache_dir() / f"{name}-{entry_key(name, settings, seed)}.pt"


def save_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` with ``torch.save`` so that ``path`` is never half-written.

    The bytes go to a temporary file in the same folder, which then replaces
    ``path`` in one step: a reader sees the old file or the new one, never a
    part of either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_loadable(name: str, artifact: Any) -> None:
    """Refuse an artifact that ``torch.load(weights_only=True)`` cannot read."""
    buffer = io.BytesIO()
    try:
        torch.save(artifact, buffer)
        buffer.seek(0)
        torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - reported with advice below
        raise TypeError(
            f"artifact {name!r} cannot be cached: it must hold only tensors, "
            "state dicts, numbers, strings and lists/tuples/dicts of them, so "
            f"that it loads with weights_only=True ({type(err).__name__}: {err})."
        ) from err


def train_or_load(
    name: str,
    train: Callable[[], T],
    *,
    settings: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> T:
    """Return the cached artifact ``name``, or run ``train()`` and cache it.

    ``train`` takes no arguments and returns the artifact; ``settings`` are
    whatever determines it (sizes, steps, learning rate); ``seed`` is the seed
    it was trained with. The entry is read with ``weights_only=True``, so an
    artifact holds tensors and plain data, not pickled objects.

    Example::

        >>> def train():
        ...     return {"w": torch.randn(3)}
        >>> art = train_or_load("demo", train, settings={"n": 3}, seed=0)
        >>> art2 = train_or_load("demo", train, settings={"n": 3}, seed=0)
        >>> torch.equal(art["w"], art2["w"])
        True
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"artifact name {name!r} must be a non-empty string of letters, "
            "digits, '_', '-' or '.'."
        )
    if not callable(train):
        raise TypeError(f"train must be a callable with no arguments, got {train!r}.")
    settings = dict(settings or {})
    path = entry_path(name, settings, seed)
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable entry is retrained
            warnings.warn(
                f"cache entry {path} could not be read ({type(err).__name__}: "
                f"{err}); training {name!r} again.",
                RuntimeWarning,
                stacklevel=2,
            )
    artifact = train()
    _check_loadable(name, artifact)
    try:
        save_atomic(artifact, path)
    except OSError as err:
        warnings.warn(
            f"could not write cache entry {path} ({err}); the artifact is used "
            "but will be trained again next time. Set BAYESDL_CACHE to a "
            "writable folder.",
            RuntimeWarning,
            stacklevel=2,
        )
    return artifact
