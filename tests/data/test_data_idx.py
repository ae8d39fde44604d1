"""Tests of bayesdl.data.idx: the IDX reader, checked against torchvision's."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

import bayesdl.data as data
from bayesdl import config
from bayesdl.data import idx


@pytest.fixture(scope="module")
def raw_files() -> dict[str, Path]:
    """The stored test-split files of both datasets (``name/file`` -> path)."""
    files = {}
    for name in data.NAMES:
        data.fetch(name, config.data_dir())
        raw = data.raw_dir(name, config.data_dir())
        for filename in data.FILES["test"]:
            plain, packed = raw / filename, raw / f"{filename}.gz"
            files[f"{name}/{filename}"] = plain if plain.is_file() else packed
    return files


def test_reader_agrees_with_torchvision(raw_files, tmp_path):
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    for key, path in raw_files.items():
        plain = tmp_path / key.replace("/", "-")
        with idx.open_maybe_gzip(path) as src, open(plain, "wb") as out:
            shutil.copyfileobj(src, out)  # torchvision reads plain files only
        ours = idx.read_idx(path)
        theirs = read_sn3_pascalvincent_tensor(str(plain))
        assert ours.dtype == theirs.dtype == torch.uint8
        assert torch.equal(ours, theirs), key
        name, filename = key.split("/")
        assert idx.idx_md5(ours) == data.MD5[name][filename]
        assert idx.md5_uncompressed(path) == data.MD5[name][filename]


def _idx(dims: tuple[int, ...], payload: bytes) -> bytes:
    header = bytes([0, 0, 8, len(dims)])
    return header + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def test_reads_plain_and_gzipped_files(tmp_path):
    content = _idx((2, 3), bytes(range(6)))
    (tmp_path / "a").write_bytes(content)
    with gzip.open(tmp_path / "a.gz", "wb") as fh:
        fh.write(content)
    expected = torch.arange(6, dtype=torch.uint8).reshape(2, 3)
    for name in ("a", "a.gz"):
        assert torch.equal(idx.read_idx(tmp_path / name), expected)
        assert idx.md5_uncompressed(tmp_path / name) == hashlib.md5(content).hexdigest()
    assert idx.is_gzipped(tmp_path / "a.gz") and not idx.is_gzipped(tmp_path / "a")
    assert idx.idx_md5(expected) == hashlib.md5(content).hexdigest()


@pytest.mark.parametrize(
    "content, match",
    [
        (b"hello, not an IDX file", "not an IDX file"),
        (_idx((2, 3), bytes(6))[:6], "truncated IDX header"),
        (_idx((2, 3), bytes(5)), "holds 5 data bytes, its header says 6"),
        (_idx((2, 3), bytes(7)), "holds 7 data bytes"),
        (b"\x00\x00\x0d\x01" + (1).to_bytes(4, "big") + bytes(4), "unsigned bytes"),
    ],
)
def test_damaged_files_raise_value_error(tmp_path, content, match):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        idx.read_idx(path)
