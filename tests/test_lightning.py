"""bayesdl.lightning: a Pyro model and guide trained by Lightning's Trainer."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Predictive
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample
from torch import nn

L = pytest.importorskip("lightning")

from bayesdl.lightning import SVIModule, TensorBatches  # noqa: E402

# Lightning 2.6 builds torch's deprecated ``LeafSpec()`` when it inspects a
# data source, and torch >= 2.10 answers with this FutureWarning; the call is
# inside Lightning, not in bayesdl.
LEAFSPEC = r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"


class LinearRegression(PyroModule):
    def __init__(self) -> None:
        super().__init__()
        self.lin = PyroModule[nn.Linear](1, 1)
        self.lin.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, 1]).to_event(2))

    def forward(self, x, y=None, num_data=None):
        mean = self.lin(x.unsqueeze(-1)).squeeze(-1)
        with pyro.plate("data", num_data or len(x), subsample_size=len(x)):
            return pyro.sample("obs", dist.Normal(mean, 0.1), obs=y)


@pytest.fixture
def data():
    x = torch.linspace(-1, 1, 40)
    return x, 2.0 * x + 0.1 * torch.randn(40)


@pytest.fixture(autouse=True)
def _quiet_lightning():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)


def _trainer(tmp_path, epochs):
    return L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        enable_progress_bar=False,
        logger=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )


def _predict(module, x):
    pyro.set_rng_seed(3)
    with torch.no_grad():
        return Predictive(module.model, guide=module.guide, num_samples=20)(x)["obs"]


def test_tensor_batches_cover_every_row_once_per_pass():
    x = torch.arange(10)
    batches = TensorBatches(
        x, x * 2, batch_size=4, generator=torch.Generator().manual_seed(0)
    )
    assert len(batches) == 3
    for _ in range(2):
        seen = [b for b in batches]
        assert [len(b[0]) for b in seen] == [4, 4, 2]
        assert all(torch.equal(b[1], 2 * b[0]) for b in seen)
        assert sorted(torch.cat([b[0] for b in seen]).tolist()) == list(range(10))
    ordered = TensorBatches(x, batch_size=10, shuffle=False)
    assert torch.equal(next(iter(ordered))[0], x)


def test_tensor_batches_reject_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        TensorBatches(batch_size=2)
    with pytest.raises(ValueError, match="different lengths"):
        TensorBatches(torch.zeros(3), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches(torch.zeros(3), batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TensorBatches(torch.zeros(3), batch_size=True)


def test_svi_module_creates_guide_parameters_before_training(data):
    model = LinearRegression()
    guide = AutoNormal(model)
    assert not list(guide.parameters())  # an autoguide is lazy
    module = SVIModule(model, guide, example=data)
    names = [n for n, _ in module.named_parameters()]
    assert "model.lin.bias" in names
    assert any(n.startswith("guide.locs.") for n in names)
    optimizer = module.configure_optimizers()
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(names)


def test_svi_module_needs_module_local_params(data):
    pyro.settings.set(module_local_params=False)
    try:
        model = LinearRegression()
        with pytest.raises(RuntimeError, match="module_local_params"):
            SVIModule(model, AutoNormal(model), example=data)
    finally:
        pyro.settings.set(module_local_params=True)


def test_svi_module_rejects_bad_arguments(data):
    model = LinearRegression()
    with pytest.raises(TypeError, match="nn.Module"):
        SVIModule(model, lambda *a, **k: None, example=data)
    with pytest.raises(ValueError, match="lr"):
        SVIModule(model, AutoNormal(model), example=data, lr=0.0)
    # The same message as fit_svi's: True is no learning rate.
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        SVIModule(model, AutoNormal(model), example=data, lr=True)
    # The probe's L12: a bare tensor as the example says what is expected.
    with pytest.raises(ValueError, match=r"example=\(x,\)"):
        SVIModule(model, AutoNormal(model), example=data[0])


@pytest.mark.filterwarnings(LEAFSPEC)
def test_training_lowers_the_loss_and_the_checkpoint_restores_it(data, tmp_path):
    x, y = data
    model = LinearRegression()
    module = SVIModule(
        model, AutoNormal(model), example=data, lr=0.05, model_kwargs={"num_data": 40}
    )
    trainer = _trainer(tmp_path, epochs=30)
    trainer.fit(module, TensorBatches(x, y, batch_size=10))
    assert len(module.losses) == 30 * 4
    first, last = module.losses[:4], module.losses[-4:]
    assert sum(last) < sum(first)
    assert abs(module.guide.median()["lin.weight"].item() - 2.0) < 0.5

    path = tmp_path / "svi.ckpt"
    trainer.save_checkpoint(path)
    model2 = LinearRegression()
    restored = SVIModule.load_from_checkpoint(
        path, model=model2, guide=AutoNormal(model2), example=data, weights_only=True
    )
    assert torch.equal(_predict(module, x), _predict(restored, x))


class NaNRegression(LinearRegression):
    def forward(self, x, y=None, num_data=None):
        pyro.factor("broken", torch.tensor(float("nan")))
        return super().forward(x, y, num_data)


@pytest.mark.filterwarnings(LEAFSPEC)
# Pyro's ELBO warns about the NaN it computes; the test is about what follows.
@pytest.mark.filterwarnings("ignore:Encountered NaN:UserWarning")
def test_a_divergent_loss_stops_training(data, tmp_path):
    x, y = data
    pyro.enable_validation(False)  # else Pyro itself rejects the NaN factor
    model = NaNRegression()
    module = SVIModule(model, AutoNormal(model), example=data)
    with pytest.raises(FloatingPointError, match="step 0"):
        _trainer(tmp_path, epochs=1).fit(module, TensorBatches(x, y, batch_size=40))


DDP_SCRIPT = Path(__file__).with_name("ddp_svi.py")


def _fit_in_subprocess(tmp_path, devices: int) -> dict:
    """Run tests/ddp_svi.py on ``devices`` CPU processes; return rank 0's result."""
    out = tmp_path / f"devices{devices}.pt"
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    # The script's processes must import this checkout's bayesdl.
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(DDP_SCRIPT), "--devices", str(devices)]
    cmd += ["--global-batch", "32", "--epochs", "2", "--out", str(out)]
    proc = subprocess.run(
        cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return torch.load(out, weights_only=True)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    """Lightning's DDP (gloo, 2 CPU processes, 16 rows each) gives the
    parameters of 1 process with the same global batch of 32 rows.

    The guide is an AutoDelta, so the loss is deterministic and the two runs
    may differ only by floating-point rounding: tolerance 1e-5 after 16 steps.
    Each process scales its likelihood by N / 16 (its plate's subsample); DDP
    averages the two gradients, which makes the scale N / 32, that of the
    global batch.
    """
    one = _fit_in_subprocess(tmp_path, devices=1)
    two = _fit_in_subprocess(tmp_path, devices=2)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["steps"] == two["steps"] == 16  # 256 rows / 32, two epochs
    assert one["params"].keys() == two["params"].keys()
    for name, value in one["params"].items():
        moved = (value - one["initial"][name]).abs().max()
        assert moved > 0.05, f"{name} hardly moved ({moved:.3g}): a vacuous check"
        assert torch.allclose(value, two["params"][name], atol=1e-5), name


def test_tensor_batches_refuse_to_feed_several_processes(monkeypatch):
    """Under DDP every process would get the same rows: say so instead."""
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group=None: 2)
    with pytest.raises(RuntimeError, match="DataLoader"):
        next(iter(TensorBatches(torch.zeros(4), batch_size=2)))
