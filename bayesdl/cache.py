"""Train once, then load: a cache of trained artifacts.

An artifact is whatever a training function returns, as long as
``torch.load(..., weights_only=True)`` can read it back: tensors, state
dicts, and nested lists, tuples and dicts of numbers and strings.

The key of an entry is the artifact's name, its configuration, the profile,
the seed and a hash of the source of the modules that train it (the model's
module, the training loop, the data loader, the checks and the settings), so
that a change of any of them trains anew while an edit to a plot or a
benchmark does not. Entries are written atomically (a temporary file, then a
rename); an entry that cannot be read, or that its ``validate`` function
rejects, is trained again, with a warning.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pyro
import torch

from . import _digest, checks, config

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}$")


CORE = ("bayesdl.infer.loop", "bayesdl.checks", "bayesdl.config")
"""The modules every artifact's key covers, besides the caller's ``sources``:
the training loop, the checks and the settings. The key follows imports
(:func:`bayesdl._digest.closure`), so the modules these import count too;
plots, metrics, benchmarks and the command line are imported by no trainer,
and editing them retrains nothing."""

FORMAT = 2
"""The version of the record an entry holds (see :func:`train_or_load`)."""

_MAX_NAME = 100


def _module_name(module: object) -> str:
    if isinstance(module, types.ModuleType):
        return module.__name__
    if isinstance(module, str) and _digest.module_file(module) is not None:
        return module
    raise ValueError(
        f"sources must hold modules (e.g. bayesdl.models.vae) or their names, "
        f"got {module!r}."
    )


def source_digest(sources: Sequence[object] = ()) -> str:
    """A short digest of the code of :data:`CORE` and ``sources``, imports followed.

    Each module is hashed as its syntax tree without docstrings
    (:func:`bayesdl._digest.code_digest`): comments and docstrings never
    change a key, any change to the code does. Every ``bayesdl`` module that
    they import, at any depth, is hashed too (the data fetchers excepted: the
    catalog's checksums stand for them). The installed torch and Pyro versions
    are part of the digest.

    Example:

    >>> import bayesdl.models.bnn
    >>> len(source_digest([bayesdl.models.bnn]))
    16
    """
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence):
        raise ValueError(
            f"sources must be a list of modules, got {type(sources).__name__}."
        )
    names = [*CORE, *(_module_name(m) for m in sources)]
    versions = f"torch {torch.__version__}; pyro {pyro.__version__}"
    code = _digest.modules_digest(names)
    return hashlib.sha256(f"{code}\0{versions}".encode()).hexdigest()[:16]


def _check_settings(value: Any, where: str = "settings") -> None:
    """Refuse what JSON would silently merge ({1: 'a'} and {'1': 'a'})."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} must have string keys, got {key!r}: JSON would "
                    "turn it into a string and two settings could share a key."
                )
            _check_settings(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_settings(item, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}.")
    elif value is not None and not isinstance(value, bool | int | float | str):
        raise ValueError(
            f"{where} must hold numbers, strings, lists and dicts, got "
            f"{type(value).__name__}."
        )


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > _MAX_NAME:
        raise ValueError(
            f"artifact name {name!r} must be 1 to {_MAX_NAME} letters, digits, "
            "'_', '-' or '.'."
        )
    return name


def entry_key(
    name: str, settings: Mapping[str, Any], seed: int, sources: Sequence[object] = ()
) -> str:
    """The hexadecimal key of an artifact.

    It covers the name, the settings, the profile, the seed, and the source
    of :data:`CORE` and of ``sources`` (the modules that define and train the
    model).

    Example::

        >>> k = entry_key("bnn", {"hidden": 400}, seed=0)
    """
    _check_name(name)
    if not isinstance(settings, Mapping):
        raise ValueError(
            f"settings must be a dict of numbers, strings and lists, got "
            f"{type(settings).__name__}."
        )
    _check_settings(dict(settings))
    payload = {
        "name": name,
        "settings": settings,
        "profile": config.profile(),
        "seed": checks.seed(seed),
        "source": source_digest(sources),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_path(
    name: str, settings: Mapping[str, Any], seed: int, sources: Sequence[object] = ()
) -> Path:
    """Where the artifact's cache entry lives."""
    return config.cache_dir() / f"{name}-{entry_key(name, settings, seed, sources)}.pt"


def save_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` with ``torch.save`` so that ``path`` is never half-written.

    The bytes go to a temporary file in the same folder, which then replaces
    ``path`` in one step: a reader sees the old file or the new one, never a
    part of either. See :func:`write_atomic` for the file's mode and the
    clean-up of temporary files that a killed process left behind.

    Example::

        >>> save_atomic({"w": torch.zeros(3)}, Path("entry.pt"))  # doctest: +SKIP
    """

    def write(fh: Any) -> None:
        try:
            torch.save(obj, fh)
        except RuntimeError as err:
            # torch reports a full disk (ENOSPC) as a RuntimeError from its
            # zip writer: it is a failed write, like any other OSError.
            raise OSError(f"torch.save could not write {path}: {err}") from err

    write_atomic(path, write)


def write_atomic(
    path: Path, write: Callable[[Any], None], *, stale_after_s: float = 3600.0
) -> None:
    """Create or replace ``path`` atomically with what ``write(file)`` writes.

    ``write`` gets a binary file open for writing. Its bytes go to a temporary
    file ``.<name>.<random>`` next to ``path``, are flushed to disk, and the
    file then replaces ``path`` with a rename. The new file gets the mode that
    the umask gives (0644 under the usual umask 022), as ``open`` would. A
    temporary file of the same ``path`` that is older than ``stale_after_s``
    was left by a killed writer and is removed first.

    Example::

        >>> write_atomic(Path("notes.txt"), lambda fh: fh.write(b"hi"))  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f"{prefix}{os.urandom(6).hex()}"
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot create a temporary file for {path}")
    try:
        with os.fdopen(fd, "wb") as fh:
            oldest = os.fstat(fh.fileno()).st_mtime - stale_after_s
            _remove_stale_temporaries(path, keep=tmp, older_than=oldest)
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path, older_than_s: float = 3600.0) -> int:
    """Remove the temporary files of :func:`write_atomic` left in ``folder``.

    A writer that was killed (SIGKILL, a power cut) leaves its temporary file
    ``.<name>.<12 hex digits>`` behind; one not written to for
    ``older_than_s`` seconds is such a leftover, since a live writer writes
    its whole file within seconds. Returns how many were removed; best
    effort (what cannot be listed or removed is left for the next call).

    Example:

    >>> remove_stale_temporaries(Path("no-such-folder"))
    0
    """
    cutoff = time.time() - older_than_s
    removed = 0
    try:
        with os.scandir(folder) as entries:
            stale = [
                e.path
                for e in entries
                if _TEMPORARY.match(e.name)
                and e.is_file(follow_symlinks=False)
                and e.stat(follow_symlinks=False).st_mtime < cutoff
            ]
    except OSError:
        return 0
    for name in stale:
        try:
            os.unlink(name)
            removed += 1
        except OSError:  # removed meanwhile by another process
            pass
    return removed


def _remove_stale_temporaries(path: Path, keep: Path, older_than: float) -> None:
    """Remove ``path``'s temporary files last written before ``older_than``.

    Best effort: what cannot be listed or removed is left for the next write.
    """
    prefix = f".{path.name}."
    try:
        with os.scandir(path.parent) as entries:
            stale = [
                e.path
                for e in entries
                if e.name.startswith(prefix)
                and e.name != keep.name
                and e.is_file(follow_symlinks=False)
                and e.stat(follow_symlinks=False).st_mtime < older_than
            ]
    except OSError:
        return
    for name in stale:
        try:
            os.unlink(name)
        except OSError:  # removed meanwhile by another writer
            pass


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
    sources: Sequence[object] = (),
    validate: Callable[[Any], None] | None = None,
) -> T:
    """Return the cached artifact ``name``, or run ``train()`` and cache it.

    ``train`` takes no arguments and returns the artifact; ``settings`` are
    whatever determines it (sizes, steps, learning rate); ``seed`` is the seed
    it was trained with; ``sources`` the modules (besides :data:`CORE`) whose
    code makes it, typically the model's module. The entry is read with
    ``weights_only=True``, so an artifact holds tensors and plain data, not
    pickled objects. ``validate(artifact)``, when given, runs on a loaded
    entry and raises if it is unusable (wrong keys, shapes, NaN weights): the
    entry is then trained again, with a warning.

    Example::

        >>> def train():
        ...     return {"w": torch.randn(3)}
        >>> art = train_or_load("demo", train, settings={"n": 3}, seed=0)
        >>> art2 = train_or_load("demo", train, settings={"n": 3}, seed=0)
        >>> torch.equal(art["w"], art2["w"])
        True
    """
    _check_name(name)
    if not callable(train):
        raise TypeError(f"train must be a callable with no arguments, got {train!r}.")
    settings = dict(settings or {})
    key = entry_key(name, settings, seed, sources)
    path = config.cache_dir() / f"{name}-{key}.pt"
    remove_stale_temporaries(path.parent)
    if path.exists():
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
            artifact = _unwrap(record, name, key)
            if validate is not None:
                validate(artifact)
            return artifact
        except Exception as err:  # noqa: BLE001 - any unusable entry is retrained
            warnings.warn(
                f"cache entry {path} could not be used ({type(err).__name__}: "
                f"{err}); training {name!r} again.",
                RuntimeWarning,
                stacklevel=2,
            )
    artifact = train()
    _check_loadable(name, artifact)
    record = {
        "format": FORMAT,
        "entry": {"name": name, "key": key},
        "artifact": artifact,
    }
    try:
        save_atomic(record, path)
    except OSError as err:
        warnings.warn(
            f"could not write cache entry {path} ({err}); the artifact is used "
            "but will be trained again next time. Set BAYESDL_CACHE to a "
            "writable folder with free space.",
            RuntimeWarning,
            stacklevel=2,
        )
    return artifact


def _unwrap(record: Any, name: str, key: str) -> Any:
    """The artifact of a cache record, after checking that it is entry ``name``.

    A record names its entry and key, so that a file copied or renamed to
    another entry's path is refused rather than served as that model.
    """
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(
            f"the file is not a cache record of format {FORMAT} (written by "
            "another version of bayesdl, or not by bayesdl)."
        )
    entry = record.get("entry")
    if not isinstance(entry, dict) or (entry.get("name"), entry.get("key")) != (
        name,
        key,
    ):
        raise ValueError(
            f"the file holds the entry {entry!r}, not {name!r} with key {key} "
            "(a copied or renamed file)."
        )
    if "artifact" not in record:
        raise ValueError("the record has no artifact.")
    return record["artifact"]
