"""Read IDX files (the format of MNIST and Fashion-MNIST), plain or gzipped.

An IDX file of unsigned bytes is a 4-byte magic (``00 00 08 ndim``), ``ndim``
big-endian 32-bit sizes, then the bytes. torchvision has a reader of its own
(``torchvision.datasets.mnist.read_sn3_pascalvincent_tensor``); this one is
kept because the store holds Fashion-MNIST gzipped, which torchvision's reader
cannot open (it fails with a bare ``AssertionError``), and because a damaged
file here gets a ``ValueError`` that says what is wrong. The tests check that
both readers agree on the real files.

Example::

    >>> from bayesdl.data import idx
    >>> labels = idx.read_idx(raw / "t10k-labels-idx1-ubyte")  # doctest: +SKIP
    >>> labels.dtype, labels.shape  # doctest: +SKIP
    (torch.uint8, torch.Size([10000]))
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

__all__ = [
    "CHUNK",
    "idx_md5",
    "is_gzipped",
    "md5_uncompressed",
    "open_maybe_gzip",
    "read_idx",
]

CHUNK = 2**20
"""Bytes per read when files are hashed or copied."""

_GZIP_MAGIC = b"\x1f\x8b"


def is_gzipped(path: Path) -> bool:
    """Whether the file at ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_maybe_gzip(path: Path) -> BinaryIO:
    """Open a file for reading its bytes, through gunzip when it is gzipped.

    Example::

        >>> with open_maybe_gzip(path) as fh:  # doctest: +SKIP
        ...     header = fh.read(4)
    """
    return gzip.open(path, "rb") if is_gzipped(path) else open(path, "rb")


def md5_uncompressed(path: Path) -> str:
    """MD5 of a file's bytes, after gunzip when it is gzipped."""
    digest = hashlib.md5(usedforsecurity=False)
    with open_maybe_gzip(path) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file of unsigned bytes (optionally gzipped) as a uint8 tensor.

    Raises ``ValueError`` for a file that is not IDX of unsigned bytes, has a
    truncated header, or holds more or fewer bytes than its header says.
    """
    with open_maybe_gzip(path) as fh:
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


def idx_md5(tensor: torch.Tensor) -> str:
    """MD5 of the IDX file that ``tensor`` (uint8) was read from.

    The store checks its tensor cache with it against the published MD5s.
    """
    header = bytes([0, 0, 8, tensor.dim()]) + struct.pack(
        f">{tensor.dim()}I", *tensor.shape
    )
    digest = hashlib.md5(header, usedforsecurity=False)
    digest.update(tensor.contiguous().numpy())
    return digest.hexdigest()
