"""Tests of bayesdl.data._fetch.archives: tar and Debian extraction refuse escapes."""

from __future__ import annotations

import io
import lzma
import tarfile
from pathlib import Path

import pytest

from bayesdl.data._fetch import archives


def _tar_bytes(members, mode="w") -> bytes:
    """A tar archive of ``(name, payload or None for a link, link target)``."""
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


def test_tar_extraction_keeps_the_prefix_only(tmp_path):
    archive = tmp_path / "ok.tgz"
    archive.write_bytes(
        _tar_bytes(
            [
                ("package/data/a", b"first", None),
                ("./package/data/b", b"second", None),
                ("package/README", b"skip me", None),
            ],
            mode="w:gz",
        )
    )
    dest = tmp_path / "dest"
    with tarfile.open(archive) as tar:
        paths = archives.safe_extract(tar, dest, "package/data")
    assert sorted(p.read_bytes() for p in paths) == [b"first", b"second"]
    assert not (dest / "package" / "README").exists()


@pytest.mark.parametrize(
    "member",
    [
        ("package/data/../../evil.txt", b"x", None),
        ("../evil.txt", b"x", None),
        ("/tmp/evil.txt", b"x", None),
        ("package/data/link", None, "../../../../etc/passwd"),
        ("package/data/inner", None, "ok"),  # a link, even one that stays inside
    ],
)
def test_path_escaping_archive_member_is_refused(tmp_path, member):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(
        _tar_bytes([("package/data/ok", b"fine", None), member], mode="w:gz")
    )
    dest = tmp_path / "deep" / "dest"
    dest.mkdir(parents=True)
    with tarfile.open(archive) as tar, pytest.raises(archives.UnsafeArchiveError):
        archives.safe_extract(tar, dest, "package/data")
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
    paths = archives.extract_deb(deb, work, prefix)
    assert [p.read_bytes() for p in paths] == [b"abc"]
    assert not (work / "tree" / "usr" / "share" / "doc").exists()
    assert not (work / "data.tar").exists()  # the inner archive is removed


def test_deb_with_escaping_member_is_refused(tmp_path):
    deb = _deb(tmp_path, [("./../../evil.txt", b"x", None)])
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    with pytest.raises(archives.UnsafeArchiveError):
        archives.extract_deb(deb, work, "usr/share/datasets/fashion-mnist")
    assert not list(tmp_path.rglob("evil.txt"))


@pytest.mark.parametrize(
    "content, match",
    [
        (b"!<arch>\n" + b"x" * 70, "ar header"),
        (b"not an archive at all", "not an ar archive"),
        (_ar_bytes([("debian-binary", b"2.0\n")]), "no data.tar member"),
    ],
)
def test_damaged_deb_is_rejected(tmp_path, content, match):
    deb = tmp_path / "bad.deb"
    deb.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        archives.extract_deb(deb, tmp_path, "usr")


def test_truncated_ar_member_is_rejected(tmp_path):
    deb = tmp_path / "short.deb"
    deb.write_bytes(_ar_bytes([("data.tar.xz", b"x" * 100)])[:-40])
    with pytest.raises(ValueError, match="truncated"):
        list(archives.ar_members(deb))


def test_a_member_larger_than_any_expected_file_is_refused(tmp_path):
    """L14: a tampered archive cannot fill the disk before the MD5 check."""
    from bayesdl.data import catalog

    small = _tar_bytes([("package/data/train-images-idx3-ubyte", b"x" * 100, None)])
    with tarfile.open(fileobj=io.BytesIO(small)) as tar:
        with pytest.raises(archives.UnsafeArchiveError, match="more than the 50"):
            archives.safe_extract(tar, tmp_path / "a", "package/data", max_bytes=50)
    assert not (tmp_path / "a" / "package").exists()
    assert catalog.MAX_FILE_BYTES == 47_040_016  # MNIST's training images
    assert catalog.SIZES["t10k-labels-idx1-ubyte"] == 10_008
