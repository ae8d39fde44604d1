"""Verified raw files: check a stored file, fetch the missing ones, install them.

Private to :mod:`bayesdl.data` (its loading API, :mod:`bayesdl.data.store`,
calls :func:`ensure`). Fetched files land in a scratch folder
``<name>/.fetch-*``, are verified there by the MD5 of their uncompressed bytes
(the catalog's) and only then moved into ``<name>/raw/`` with a rename, so a
half-written file is never taken for a good one and a failed fetch never
removes a verified file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from pathlib import Path

from ... import cache
from .. import idx
from ..catalog import MD5, TITLES
from . import sources

__all__ = ["STALE_S", "DataDirError", "DataUnavailableError", "ensure", "verify"]

STALE_S = 3600.0
"""Seconds after which a scratch folder or temporary file was left by a killed
process and may be removed."""


class DataUnavailableError(RuntimeError):
    """A dataset's files could not be found or fetched from any source."""


class DataDirError(DataUnavailableError):
    """The data folder cannot be created or written to."""


# --------------------------------------------------------------------------
# Folders


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
            if time.time() - scratch.stat().st_mtime > STALE_S:
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
