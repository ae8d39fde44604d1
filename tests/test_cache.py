import pytest
import torch

from bayesdl import cache, config


@pytest.fixture(autouse=True)
def _tmp_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path / "artifacts"))


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"w": torch.randn(4), "history": [1.0, 0.5], "seconds": 1.25}


def test_round_trip_trains_once():
    train = Counter()
    first = cache.train_or_load("demo", train, settings={"n": 4}, seed=0)
    second = cache.train_or_load("demo", train, settings={"n": 4}, seed=0)
    assert train.calls == 1
    assert torch.equal(first["w"], second["w"])
    assert second["history"] == [1.0, 0.5] and second["seconds"] == 1.25


def test_key_changes_with_settings_seed_and_profile(monkeypatch):
    train = Counter()
    cache.train_or_load("demo", train, settings={"n": 4}, seed=0)
    cache.train_or_load("demo", train, settings={"n": 5}, seed=0)
    cache.train_or_load("demo", train, settings={"n": 4}, seed=1)
    monkeypatch.setenv("BAYESDL_PROFILE", "smoke")
    cache.train_or_load("demo", train, settings={"n": 4}, seed=0)
    assert train.calls == 4


def test_key_changes_with_source(monkeypatch):
    train = Counter()
    cache.train_or_load("demo", train, seed=0)
    monkeypatch.setattr(cache, "source_digest", lambda sources=(): "changed")
    cache.train_or_load("demo", train, seed=0)
    assert train.calls == 2


def _copy_of_package(tmp_path, monkeypatch):
    """An importable copy of bayesdl whose files a test may edit."""
    import shutil
    import sys

    root = tmp_path / "pkg"
    shutil.copytree(
        config.package_dir(),
        root / "bayesdl",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "bayesdl" or m.startswith("bayesdl.")]:
        monkeypatch.delitem(sys.modules, name)
    import bayesdl as copy

    assert copy.__file__.startswith(str(root))
    return copy, root / "bayesdl"


def test_key_covers_the_model_and_training_core_but_not_plots(tmp_path, monkeypatch):
    """Editing plots.py keeps the zoo; editing the model or the loop retrains."""
    copy, src = _copy_of_package(tmp_path, monkeypatch)
    from bayesdl.models import bnn

    def key():
        return copy.cache.entry_key("bnn_mnist", {"n": 1}, 0, sources=[bnn])

    before = key()
    for harmless in ("plots.py", "metrics.py", "__main__.py", "bench/bnn.py"):
        with open(src / harmless, "a") as fh:
            fh.write("\n# an edit that changes no training\n")
        assert key() == before, harmless
    for relevant in ("models/bnn.py", "infer/loop.py", "checks.py", "config.py"):
        with open(src / relevant, "a") as fh:
            fh.write("\n# an edit to the code that trains\n")
        after = key()
        assert after != before, relevant
        before = after


def test_sources_must_be_modules():
    with pytest.raises(ValueError, match="sources must hold modules"):
        cache.entry_key("demo", {}, 0, sources=[3])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({1: "a"}, "string keys"),
        ({"a": {2: 3}}, "string keys"),
        ({"lr": float("nan")}, "finite"),
    ],
)
def test_settings_that_json_would_merge_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        cache.entry_key("demo", settings, 0)


@pytest.mark.parametrize("seed", [-1, True, 1.5, "0"])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be an int"):
        cache.train_or_load("demo", Counter(), seed=seed)


def test_validate_rejects_a_loaded_entry_and_retrains():
    train = Counter()
    cache.train_or_load("demo", train, seed=0)

    def needs_five(artifact):
        if artifact["w"].shape != (5,):
            raise ValueError("wrong shape")

    with pytest.warns(RuntimeWarning, match="could not be used.*wrong shape"):
        cache.train_or_load("demo", train, seed=0, validate=needs_five)
    assert train.calls == 2


@pytest.mark.parametrize("damage", [b"", b"not a torch file", None])
def test_corrupt_entry_is_retrained_with_warning(damage):
    train = Counter()
    first = cache.train_or_load("demo", train, seed=0)
    path = cache.entry_path("demo", {}, 0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage is None else damage)
    with pytest.warns(RuntimeWarning, match="could not be used"):
        again = cache.train_or_load("demo", train, seed=0)
    assert train.calls == 2
    assert not torch.equal(first["w"], again["w"])  # freshly trained
    # ... and the repaired entry now loads silently.
    third = cache.train_or_load("demo", train, seed=0)
    assert train.calls == 2 and torch.equal(third["w"], again["w"])


class Opaque:
    pass


def test_artifact_that_weights_only_cannot_load_is_refused():
    with pytest.raises(TypeError, match="weights_only=True"):
        cache.train_or_load("opaque", lambda: {"obj": Opaque()}, seed=0)
    assert not cache.entry_path("opaque", {}, 0).exists()


def test_failed_training_leaves_no_entry():
    def boom():
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        cache.train_or_load("boom", boom, seed=0)
    assert not cache.entry_path("boom", {}, 0).exists()


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.pt"
    cache.save_atomic({"a": torch.ones(2)}, target)

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.save_atomic({"a": torch.zeros(2)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_unwritable_cache_warns_but_returns(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BAYESDL_CACHE", str(blocker / "sub"))
    with pytest.warns(RuntimeWarning, match="BAYESDL_CACHE"):
        art = cache.train_or_load("demo", Counter(), seed=0)
    assert art["w"].shape == (4,)


@pytest.mark.parametrize("name", ["", "a/b", "../x", 3, "x" * 101])
def test_bad_names(name):
    with pytest.raises(ValueError, match="artifact name"):
        cache.train_or_load(name, Counter())


def test_unserialisable_settings():
    with pytest.raises(ValueError, match="numbers, strings"):
        cache.train_or_load("demo", Counter(), settings={"f": object()})


def test_train_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        cache.train_or_load("demo", 3)
