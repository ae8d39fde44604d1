"""The profile (``full`` or ``smoke``), the device, and where files live.

Everything that depends on the environment is read here, and only here, so
that the chapters never branch on it:

``BAYESDL_PROFILE``
    ``full`` (the default) produces the published numbers; ``smoke`` shrinks
    data and training so that every chapter executes in seconds.
``BAYESDL_DEVICE``
    A torch device string (``cpu``, ``cuda``, ``cuda:1``). Unset: CUDA when
    available, else the CPU.
``BAYESDL_DATA``
    The folder that holds the datasets (default: ``~/.cache/bayesdl/data``).
``BAYESDL_CACHE``
    The folder that holds trained artifacts (default:
    ``~/.cache/bayesdl/artifacts``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import torch

from . import _digest

PROFILES = ("full", "smoke")
"""The profiles ``BAYESDL_PROFILE`` may name."""

T = TypeVar("T")


def profile() -> str:
    """Return the active profile, ``"full"`` (default) or ``"smoke"``.

    Example::

        >>> import os
        >>> os.environ["BAYESDL_PROFILE"] = "smoke"
        >>> profile()
        'smoke'
    """
    name = os.environ.get("BAYESDL_PROFILE", "full").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(
            f"BAYESDL_PROFILE={name!r} is not a profile; allowed values are "
            f"{', '.join(PROFILES)} (unset means 'full')."
        )
    return name


def choose(*, full: T, smoke: T) -> T:
    """Pick the value for the active profile.

    This is how a chapter says "3000 steps for the published book, 30 for a
    smoke test" without ever branching on the profile itself.

    Example::

        >>> num_steps = choose(full=3000, smoke=30)
    """
    return full if profile() == "full" else smoke


def device() -> torch.device:
    """Return the torch device to compute on.

    ``BAYESDL_DEVICE`` wins when set; otherwise CUDA when a GPU is present,
    else the CPU.

    Example::

        >>> x = torch.zeros(3, device=device())
    """
    name = os.environ.get("BAYESDL_DEVICE", "").strip()
    if name:
        try:
            dev = torch.device(name)
        except RuntimeError as err:
            raise ValueError(
                f"BAYESDL_DEVICE={name!r} is not a torch device; use e.g. "
                "'cpu', 'cuda' or 'cuda:0'."
            ) from err
        if dev.type not in ("cpu", "cuda"):
            raise ValueError(
                f"BAYESDL_DEVICE={name!r} is a {dev.type!r} device, which bayesdl "
                "does not support; use 'cpu', 'cuda' or 'cuda:N'."
            )
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"BAYESDL_DEVICE={name!r} asks for CUDA, but torch sees no GPU; "
                "unset BAYESDL_DEVICE or set it to 'cpu'."
            )
        if dev.type == "cuda" and dev.index is not None:
            count = torch.cuda.device_count()
            if dev.index >= count:
                raise ValueError(
                    f"BAYESDL_DEVICE={name!r} names GPU {dev.index}, but torch sees "
                    f"{count} GPU(s), numbered 0..{count - 1}."
                )
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return Path(base) if base else Path.home() / ".cache"


def data_dir() -> Path:
    """The folder of the datasets: ``BAYESDL_DATA`` or ``~/.cache/bayesdl/data``."""
    env = os.environ.get("BAYESDL_DATA")
    return Path(env).expanduser() if env else _user_cache() / "bayesdl" / "data"


def cache_dir() -> Path:
    """The folder of trained artifacts: ``BAYESDL_CACHE`` or the user cache."""
    env = os.environ.get("BAYESDL_CACHE")
    if env:
        return Path(env).expanduser()
    return _user_cache() / "bayesdl" / "artifacts"


def package_dir() -> Path:
    """The folder of the ``bayesdl`` package's own source."""
    return Path(__file__).resolve().parent


BUILD_PLUMBING = ("__main__.py",)
"""Files of the package that no chapter runs: the command line.
:func:`source_hash` leaves them out, so editing them re-executes no chapter.
The benchmarks (``benchmarks/``) and the Sphinx extensions with the notebook
export and the PDF (``book/_ext/``) live outside the package, so they never
reach the hash."""


def source_hash(root: Path | None = None) -> str:
    """A short digest of the readers' package: every ``.py`` file but the plumbing.

    Each file counts as its syntax tree without docstrings
    (:func:`bayesdl._digest.code_digest`), so a comment or docstring edit
    keeps the hash, and any change to the code changes it. The files of
    :data:`BUILD_PLUMBING` are left out. Anything computed by the package
    (an executed chapter) can be keyed on it.

    Example:

    >>> len(source_hash())
    16
    """
    root = Path(root) if root is not None else package_dir()
    return _digest.tree_digest(root, exclude=BUILD_PLUMBING)


def build_key() -> str:
    """The key that an executed chapter's outputs are valid for.

    Profile plus the readers' package (:func:`source_hash`): a change of
    either re-executes the book.
    """
    return f"{profile()}-{source_hash()}"
