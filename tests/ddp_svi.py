"""Fit a small Bayesian regression with :class:`bayesdl.lightning.SVIModule`
under Lightning on ``--devices`` CPU processes, and save the fitted parameters.

Run by ``tests/test_lightning.py`` as a script (not collected by pytest):
Lightning's ``strategy="ddp"`` starts the other processes by running this
same command again, which a pytest process cannot do for itself.

    python tests/ddp_svi.py --devices 2 --global-batch 32 --out params.pt
"""

from __future__ import annotations

import argparse
import logging
import warnings

import lightning as L
import pyro
import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoDelta
from pyro.nn import PyroModule, PyroSample
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import bayesdl
from bayesdl.lightning import SVIModule

NUM_DATA = 256
NUM_FEATURES = 3


class Regression(PyroModule):
    """Linear regression whose likelihood is scaled to the full data set."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = PyroModule[nn.Linear](NUM_FEATURES, 1)
        self.lin.weight = PyroSample(
            dist.Normal(0.0, 1.0).expand([1, NUM_FEATURES]).to_event(2)
        )

    def forward(self, x, y=None, num_data=None):
        mean = self.lin(x).squeeze(-1)
        # The plate's size is the full data set, its subsample this process's
        # batch: the likelihood is scaled by num_data / len(x).
        with pyro.plate("data", num_data or len(x), subsample_size=len(x)):
            return pyro.sample("obs", dist.Normal(mean, 0.5), obs=y)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(NUM_DATA, NUM_FEATURES, generator=g)
    y = (
        x @ torch.tensor([1.0, -2.0, 0.5])
        + 0.3
        + 0.5 * torch.randn(NUM_DATA, generator=g)
    )
    return x, y


# [ddp-start]
def fit_ddp(module, dataset, *, devices, num_nodes=1, global_batch, epochs):
    """Fit ``module`` under Lightning's DDP on ``devices`` x ``num_nodes``
    processes, with ``global_batch`` rows per step in all."""
    processes = devices * num_nodes
    # A plain DataLoader of this process's share of a batch: Lightning gives
    # it a DistributedSampler, so the processes draw disjoint rows.
    loader = DataLoader(dataset, batch_size=global_batch // processes)
    trainer = L.Trainer(
        accelerator="cpu",  # or "gpu": then NCCL instead of gloo
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp",
        max_epochs=epochs,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(module, loader)
    return trainer


# [ddp-end]


def fit_one_process(module, dataset, *, global_batch, epochs):
    """The reference: one process, with the sampler DDP uses, so that every
    step sees the same rows (the union of the processes' shares)."""
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, seed=0)
    loader = DataLoader(dataset, batch_size=global_batch, sampler=sampler)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(module, loader)
    return trainer


def fit(devices: int, global_batch: int, epochs: int) -> dict:
    """Train on ``devices`` processes; return what rank 0 should save."""
    bayesdl.setup(seed=0)
    x, y = data()
    model = Regression()
    guide = AutoDelta(model)  # a deterministic loss: runs comparable exactly
    module = SVIModule(
        model, guide, example=(x, y), lr=0.05, model_kwargs={"num_data": NUM_DATA}
    )
    initial = {k: v.detach().clone() for k, v in module.named_parameters()}
    dataset = TensorDataset(x, y)
    if devices == 1:
        trainer = fit_one_process(
            module, dataset, global_batch=global_batch, epochs=epochs
        )
    else:
        trainer = fit_ddp(
            module, dataset, devices=devices, global_batch=global_batch, epochs=epochs
        )
    return {
        "initial": initial,
        "params": {k: v.detach().clone() for k, v in module.named_parameters()},
        "steps": trainer.global_step,
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # Lightning's hints about workers etc.
    result = fit(args.devices, args.global_batch, args.epochs)
    if result["rank"] == 0:
        torch.save(result, args.out)


if __name__ == "__main__":
    main()
