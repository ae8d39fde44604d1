import pytest
import torch

import bayesdl
from bayesdl import config


def test_profile_default_is_full(monkeypatch):
    monkeypatch.delenv("BAYESDL_PROFILE", raising=False)
    assert config.profile() == "full"
    assert config.choose(full=1, smoke=2) == 1


def test_profile_smoke(monkeypatch):
    monkeypatch.setenv("BAYESDL_PROFILE", " Smoke ")
    assert config.profile() == "smoke"
    assert config.choose(full=1, smoke=2) == 2


def test_unknown_profile_names_the_allowed_ones(monkeypatch):
    monkeypatch.setenv("BAYESDL_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast'.*full, smoke"):
        config.profile()
    with pytest.raises(ValueError, match="full, smoke"):
        bayesdl.setup(seed=0)


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("BAYESDL_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.device().type == expected
    monkeypatch.setenv("BAYESDL_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")


def test_device_bad_values(monkeypatch):
    monkeypatch.setenv("BAYESDL_DEVICE", "quantum")
    with pytest.raises(ValueError, match="not a torch device"):
        config.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("BAYESDL_DEVICE", "cuda")
        with pytest.raises(ValueError, match="no GPU"):
            config.device()
    for other in ("meta", "mps", "xpu"):
        monkeypatch.setenv("BAYESDL_DEVICE", other)
        with pytest.raises(ValueError, match="does not support"):
            config.device()


def test_device_cuda_index_beyond_the_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("BAYESDL_DEVICE", "cuda:3")
    with pytest.raises(ValueError, match="names GPU 3.*1 GPU"):
        config.device()
    monkeypatch.setenv("BAYESDL_DEVICE", "cuda:0")
    assert config.device() == torch.device("cuda:0")


def test_paths_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESDL_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path / "c"))
    assert config.data_dir() == tmp_path / "d"
    assert config.cache_dir() == tmp_path / "c"


def test_source_hash_tracks_content(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    first = config.source_hash(pkg)
    assert first == config.source_hash(pkg)
    (pkg / "a.py").write_text("x = 2\n")
    assert config.source_hash(pkg) != first
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("")
    assert config.source_hash(pkg) != first


def test_build_key_has_profile(monkeypatch):
    monkeypatch.setenv("BAYESDL_PROFILE", "smoke")
    smoke = config.build_key()
    monkeypatch.setenv("BAYESDL_PROFILE", "full")
    full = config.build_key()
    assert smoke.startswith("smoke-") and full.startswith("full-")
    assert smoke.split("-")[1] == full.split("-")[1]


def test_setup_seeds_everything():
    import numpy as np
    import pyro
    import pyro.distributions as dist

    def draw():
        bayesdl.setup(seed=3)
        return (
            torch.randn(3),
            np.random.rand(3),  # noqa: NPY002
            pyro.sample("z", dist.Normal(0.0, 1.0).expand([3])),
        )

    a, b = draw(), draw()
    for u, v in zip(a, b, strict=True):
        assert np.allclose(np.asarray(u), np.asarray(v))
    bayesdl.setup(seed=4)
    assert not torch.equal(torch.randn(3), a[0])


def test_setup_clears_param_store_and_sets_flags():
    import pyro

    pyro.param("leftover", torch.tensor(1.0))
    bayesdl.setup(seed=0)
    assert "leftover" not in pyro.get_param_store()
    assert pyro.settings.get("module_local_params") is True
    from pyro.infer.util import is_validation_enabled

    assert is_validation_enabled()


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, 2**32, 2**63 - 1])
def test_setup_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*32\)"):
        bayesdl.setup(seed=seed)


def test_setup_and_the_checks_share_one_seed_rule():
    """L16: what checks.seed accepts, setup accepts (NumPy ints too)."""
    import numpy as np

    from bayesdl import checks

    for seed in (0, np.int64(3), 2**32 - 1):
        assert checks.seed(seed) == int(seed)
        bayesdl.setup(seed=seed)
    with pytest.raises(ValueError, match="seed"):
        checks.seed(2**32)
