import dataclasses
import shutil

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


_CODE_EDIT = "\n_AN_EDIT_THAT_CHANGES_THE_CODE = 1\n"
_MODELS = {
    "bnn": ["bayesdl.models.bnn", "bayesdl.recipes.mnist_bnn"],
    "vae": ["bayesdl.models.vae", "bayesdl.recipes.fashion_vae"],
    "ssvae": ["bayesdl.models.ssvae", "bayesdl.recipes.mnist_ssvae"],
    "alternatives": [
        "bayesdl.models.bnn",
        "bayesdl.recipes.mnist_bnn",
        "bayesdl.recipes.mnist_alternatives",
    ],
    "ssvae baselines": ["bayesdl.recipes.mnist_ssvae_baselines"],
    "nuts": ["bayesdl.recipes.sine_reference", "bayesdl.infer.numpyro_nuts"],
    "layers only": ["bayesdl.models.layers"],
}
"""The sources of each recipe's models, as its ``train_or_load`` calls pass them."""


def _keys(copy):
    keys = {m: copy.cache.source_digest(s) for m, s in _MODELS.items()}
    keys["chapters"] = copy.config.build_key()
    return keys


def _edit(path, text):
    assert path.is_file(), f"{path} is not a module of the package any more"
    with open(path, "a") as fh:
        fh.write(text)


def test_key_covers_the_model_its_imports_and_the_loop_but_not_plots(
    tmp_path, monkeypatch
):
    """Editing the plots keeps the zoo; editing the model, its layers or the loop
    retrains (a code edit, not a comment)."""
    copy, src = _copy_of_package(tmp_path, monkeypatch)

    def key():
        return copy.cache.entry_key(
            "bnn_mnist",
            {"n": 1},
            0,
            sources=["bayesdl.models.bnn", "bayesdl.recipes.mnist_bnn"],
        )

    before = key()
    for harmless in (
        "plots/images.py",
        "plots/classification.py",
        "__main__.py",
        "data/_fetch/__init__.py",
        "data/_fetch/sources.py",
        "data/_fetch/archives.py",
        "data/_fetch/install.py",
        "cache.py",
        "models/vae.py",
        "zoo.py",
        "recipes/fashion_vae.py",
        "recipes/mnist_ssvae.py",
        "infer/nuts.py",
    ):
        _edit(src / harmless, _CODE_EDIT)
        assert key() == before, harmless
    for relevant in (
        "models/bnn.py",
        "models/layers.py",  # imported by models/bnn.py: the probe's stale BNN
        "recipes/mnist_bnn.py",
        "metrics.py",  # the record's per-epoch validation NLL is computed by it
        "recipes/_runner.py",
        "infer/loop.py",
        "infer/svi.py",
        "infer/feeding.py",
        "infer/schedules.py",
        "timing.py",
        "checks.py",
        "config.py",
        "data/catalog.py",  # the checksums stand for the fetchers
        "data/store.py",
        "data/idx.py",  # the parser of what the fetchers deliver
    ):
        _edit(src / relevant, _CODE_EDIT)
        after = key()
        assert after != before, relevant
        before = after


def test_the_probes_kl_edit_to_layers_changes_the_bnn_key(tmp_path, monkeypatch):
    """Doubling the KL term in models/layers.py must retrain the Bayesian LeNet."""
    copy, src = _copy_of_package(tmp_path, monkeypatch)
    before = _keys(copy)
    layers = src / "models" / "layers.py"
    text = layers.read_text()
    edited = text.replace(
        "total = total + (torch.log", "total = total + 2 * (torch.log"
    )
    assert edited != text, "the KL line of layers.py moved: update this test"
    layers.write_text(edited)
    after = _keys(copy)
    for model in ("bnn", "layers only", "chapters"):
        assert after[model] != before[model], model
    for model in ("vae", "ssvae"):  # recipes not built from layers.py
        assert after[model] == before[model], model


@pytest.mark.parametrize(
    ("edited", "changed"),
    [
        # the alternatives build on the MNIST chapter's networks and split
        ("recipes/mnist_bnn.py", {"bnn", "alternatives"}),
        ("recipes/mnist_alternatives.py", {"alternatives"}),
        ("recipes/fashion_vae.py", {"vae"}),
        # the baselines read the SS-VAE's settings, data and labelled split
        ("recipes/mnist_ssvae.py", {"ssvae", "ssvae baselines"}),
        ("recipes/mnist_ssvae_baselines.py", {"ssvae baselines"}),
        ("recipes/sine_reference.py", {"nuts"}),
        (
            "recipes/_runner.py",
            {"bnn", "vae", "ssvae", "alternatives", "ssvae baselines", "nuts"},
        ),
        ("infer/loop.py", set(_MODELS)),  # the training loop: every key
        ("zoo.py", set()),
        # the search's table reaches a key only through the settings it chooses
        ("recipes/mnist_schedules.py", set()),
    ],
)
def test_an_edit_to_one_recipe_retrains_that_recipe_alone(
    edited, changed, tmp_path, monkeypatch
):
    copy, src = _copy_of_package(tmp_path, monkeypatch)
    before = _keys(copy)
    _edit(src / edited, _CODE_EDIT)
    after = _keys(copy)
    assert {m for m in _MODELS if after[m] != before[m]} == changed


def _edit_docs(path):
    """Change the module docstring (when there is one) and add comments."""
    import ast

    text = path.read_text()
    if ast.get_docstring(ast.parse(text)) is not None:
        text = text.replace('"""', '"""An edited docstring.\n', 1)
    lines = text.splitlines(keepends=True)
    text = "# a new comment\n" + "".join(
        line + "    # a comment\n" if line.rstrip().endswith(":") else line
        for line in lines
    )
    text += "\n\n# a comment at the end\n"
    path.write_text(text)
    compile(text, str(path), "exec")  # the edit keeps the file valid Python


def test_docstring_and_comment_edits_change_no_key(tmp_path, monkeypatch):
    copy, src = _copy_of_package(tmp_path, monkeypatch)
    before = _keys(copy)
    files = sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) > 20
    for path in files:
        _edit_docs(path)
        assert _keys(copy) == before, path.relative_to(src)


def test_every_module_edit_changes_the_chapters_key_but_plumbing(tmp_path, monkeypatch):
    copy, src = _copy_of_package(tmp_path, monkeypatch)
    plumbing = copy.config.BUILD_PLUMBING
    for path in sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts):
        rel = path.relative_to(src)
        before = copy.config.build_key()
        _edit(path, _CODE_EDIT)
        changed = copy.config.build_key() != before
        is_plumbing = rel.as_posix() in plumbing or rel.parts[0] in plumbing
        assert changed != is_plumbing, rel


def test_benchmarks_and_the_book_build_tools_stay_out_of_the_chapters_key(
    tmp_path, monkeypatch
):
    """They live beside the package in the checkout, not in it."""
    checkout = config.package_dir().parent
    copy, src = _copy_of_package(tmp_path, monkeypatch)
    for folder in ("benchmarks", "book/_ext"):
        shutil.copytree(
            checkout / folder,
            src.parent / folder,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    beside = sorted((src.parent / "benchmarks").rglob("*.py"))
    beside += sorted((src.parent / "book" / "_ext").rglob("*.py"))
    assert any(p.name == "sphinxext.py" for p in beside)
    assert any(p.name == "bnn.py" for p in beside)
    before = copy.config.build_key()
    for path in beside:
        _edit(path, _CODE_EDIT)
        assert copy.config.build_key() == before, path.relative_to(src.parent)
    _edit(src / "plots" / "images.py", _CODE_EDIT)  # the package's own code does count
    assert copy.config.build_key() != before


def test_the_readers_package_holds_no_build_plumbing():
    """Benchmarks and Sphinx extensions left the package (issue 16)."""
    src = config.package_dir()
    for moved in ("bench", "sphinxext.py", "bibstyle.py", "pdf.py", "nbexport.py"):
        assert not (src / moved).exists(), moved
    assert config.BUILD_PLUMBING == ("__main__.py",)


def test_key_covers_the_torch_and_pyro_versions(monkeypatch):
    import pyro

    before = cache.source_digest([])
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert cache.source_digest([]) != before
    monkeypatch.undo()
    monkeypatch.setattr(pyro, "__version__", "0.0.1")
    assert cache.source_digest([]) != before


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


_REAL_SAVE = torch.save


def _full_disk(obj, fh):
    """What torch.save does on a full disk: a RuntimeError chained from ENOSPC.

    Writes to memory (the cache's loadability check) still work."""
    import errno
    import io

    if isinstance(fh, io.BytesIO):
        return _REAL_SAVE(obj, fh)
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError as err:
        raise RuntimeError(
            "[enforce fail at inline_container.cc] unexpected pos"
        ) from err


def test_a_full_disk_keeps_the_trained_artifact(monkeypatch, tmp_path):
    """The probe's M1: warn and use the artifact, as for a read-only cache."""
    monkeypatch.setattr(torch, "save", _full_disk)
    train = Counter()
    with pytest.warns(RuntimeWarning, match="could not write cache entry"):
        artifact = cache.train_or_load("demo", train, seed=0)
    assert train.calls == 1 and artifact["seconds"] == 1.25
    assert not [p for p in (tmp_path / "artifacts").iterdir()]  # no half file


def test_stale_temporaries_of_killed_writers_are_swept(tmp_path):
    """The probe's L2: leftovers of any entry go on the next call, fresh ones stay."""
    import os
    import time

    folder = tmp_path / "artifacts"
    cache.train_or_load("demo", Counter(), seed=0)
    old, fresh = folder / ".other-1234.pt.0123456789ab", folder / ".x.pt.ba9876543210"
    keep = folder / ".not-a-temporary"
    for path in (old, fresh, keep):
        path.write_bytes(b"half an artifact")
    hours_ago = time.time() - 3 * 3600
    for path in (old, keep):
        os.utime(path, (hours_ago, hours_ago))
    cache.train_or_load("demo", Counter(), seed=0)  # a load, not a write
    assert not old.exists() and fresh.exists() and keep.exists()
    assert cache.remove_stale_temporaries(folder, older_than_s=0) == 1


def test_settings_must_be_a_mapping():
    with pytest.raises(ValueError, match="settings must be a dict"):
        cache.entry_key("a", [1, 2], 0)
    with pytest.raises(ValueError, match="sources must be a list"):
        cache.entry_key("a", {}, 0, sources="bayesdl.models.bnn")


def test_a_new_schedule_search_retrains_only_when_its_choice_changes(monkeypatch):
    """The recorded search is hashed through the training it chooses: rows that
    leave the choice alone change no key; a new best changes the MNIST keys."""
    from bayesdl.recipes import mnist_bnn, mnist_schedules

    def key():
        return cache.entry_key(
            "lenet_mnist",
            dataclasses.asdict(mnist_bnn.MnistSettings()),
            0,
            ["bayesdl.models.bnn", "bayesdl.recipes.mnist_bnn"],
        )

    before = key()
    rows = list(mnist_schedules.SEARCH)
    worse = {**rows[1], "lr": 0.5, "val_nll": [9.0] * len(rows[1]["val_nll"])}
    monkeypatch.setattr(mnist_schedules, "SEARCH", [*rows, worse])
    assert key() == before
    better = {**worse, "val_nll": [0.0] * len(worse["val_nll"])}
    monkeypatch.setattr(mnist_schedules, "SEARCH", [*rows, better])
    assert key() != before
    assert mnist_bnn.MnistSettings().lenet.lr == 0.5
