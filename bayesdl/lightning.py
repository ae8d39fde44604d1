"""Training Pyro models with PyTorch Lightning.

A ``PyroModule`` model and its guide are ordinary ``torch.nn.Module`` objects,
so the PyTorch ecosystem can train them: :class:`SVIModule` is a
``LightningModule`` whose training step returns the ELBO loss, and
:class:`TensorBatches` feeds it mini-batches of in-memory tensors.

Lightning is an optional dependency of ``bayesdl``: this module is not imported
by ``import bayesdl``; import it explicitly (``from bayesdl.lightning import
SVIModule``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning as L
import pyro
import torch
from pyro.infer import Trace_ELBO
from pyro.infer.elbo import ELBO

from . import checks, infer

__all__ = ["SVIModule", "TensorBatches"]


def _refuse_distributed() -> None:
    """TensorBatches is for one process: under DDP every process would draw
    the same rows, and the processes would average identical gradients."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise RuntimeError(
            "TensorBatches gives every process the same batches; under DDP pass "
            "a torch DataLoader instead (Lightning gives it a DistributedSampler, "
            "so that each process draws its own rows)."
        )


class TensorBatches:
    """Mini-batches of in-memory tensors, as index slices, reshuffled per pass.

    An iterable that Lightning's ``Trainer.fit`` accepts in place of a
    ``DataLoader``: each iteration yields a list of tensors that share their
    first dimension. No worker processes, no per-item collation.

    Example::

        batches = TensorBatches(x, y, batch_size=32)
        len(batches) == math.ceil(len(x) / 32)
        # True
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        self.num_data = infer.feeding.common_length(tensors)
        self.batch_size = checks.positive_int("batch_size", batch_size)
        self.tensors = tensors
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self) -> int:
        return math.ceil(self.num_data / self.batch_size)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        _refuse_distributed()
        return infer.batches(
            *self.tensors,
            batch_size=self.batch_size,
            generator=self.generator,
            shuffle=self.shuffle,
        )


class SVIModule(L.LightningModule):
    """A ``LightningModule`` that fits ``guide`` to ``model`` by SVI.

    ``training_step`` returns the differentiable ELBO loss of a batch,
    ``loss.differentiable_loss(model, guide, *batch, **model_kwargs)``, and
    Lightning does the rest (backward pass, optimiser step, devices,
    checkpoints). The optimiser is ``torch.optim.Adam`` over
    ``self.parameters()``: the parameters of the model and of the guide.

    Two requirements follow from Pyro's design:

    * parameters must live in their modules, not in Pyro's global parameter
      store: ``pyro.settings.set(module_local_params=True)`` (which
      ``bayesdl.setup`` does);
    * an autoguide creates its parameters on its first call, so the guide is
      run once on ``example`` here, before Lightning asks for the optimiser
      and before a checkpoint's state is loaded.

    The loss of every step is kept in ``self.losses``. For mini-batches the
    model must scale its likelihood to the full data set (a ``pyro.plate``
    with the full size), for example through ``model_kwargs``.

    **Several processes.** The module trains unchanged under Lightning's DDP,
    ``L.Trainer(strategy="ddp", accelerator="cpu", devices=2)`` (torch's gloo
    backend; ``accelerator="gpu"`` and ``num_nodes`` for GPUs and machines),
    with no code of ours for the distribution. Feed it a ``DataLoader``
    (Lightning gives it a ``DistributedSampler``, so each process draws its
    own rows), not :class:`TensorBatches` (which would give every process
    the same rows). For the likelihood scale to stay right, each process's
    loss must estimate the *whole* data set's ELBO from its own batch: the
    plate's size stays the full ``N`` (not ``N / processes``) and its
    subsample is the process's batch ``b``, so each process scales its
    likelihood by ``N / b``. DDP averages the processes' gradients, which
    makes the scale ``N / B`` over the global batch ``B = processes * b``:
    the gradient of one process with batch ``B``. Do not divide by the number
    of processes again. ``tests/test_lightning.py`` checks that 2 processes
    match 1 process with the same global batch.

    Example::

        module = SVIModule(model, guide, example=(x, y), lr=0.01)
        trainer = L.Trainer(accelerator="cpu", max_epochs=100)
        trainer.fit(module, TensorBatches(x, y, batch_size=len(x)))
        trainer.save_checkpoint("svi.ckpt")
        restored = SVIModule.load_from_checkpoint(
            "svi.ckpt", model=model2, guide=guide2, example=(x, y))
    """

    def __init__(
        self,
        model: Callable,
        guide: torch.nn.Module,
        *,
        example: Sequence[torch.Tensor],
        lr: float = 0.01,
        loss: ELBO | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not pyro.settings.get("module_local_params"):
            raise RuntimeError(
                "SVIModule needs parameters that live in their modules: call "
                "bayesdl.setup() or pyro.settings.set(module_local_params=True) "
                "before building the model and guide."
            )
        if not isinstance(guide, torch.nn.Module):
            raise TypeError(
                "the guide must be a torch.nn.Module (an autoguide or a "
                f"PyroModule), got {type(guide).__name__}."
            )
        lr = checks.positive_float("lr", lr)
        if not isinstance(example, tuple | list) or not all(
            isinstance(t, torch.Tensor) for t in example
        ):
            raise ValueError(
                "example must be a tuple of the model's tensor arguments, e.g. "
                f"example=(x,) or example=(x, y), got {type(example).__name__}."
            )
        self.model = model
        self.guide = guide
        self.lr = float(lr)
        self.elbo = loss if loss is not None else Trace_ELBO()
        self.model_kwargs = dict(model_kwargs or {})
        self.losses: list[float] = []
        # An autoguide creates its parameters lazily, on its first call. Run
        # it once now, so that configure_optimizers and load_state_dict see
        # every parameter.
        with torch.no_grad():
            guide(*example, **self.model_kwargs)
        if not any(True for _ in self.parameters()):
            raise ValueError("neither the model nor the guide has parameters to fit.")

    def training_step(
        self, batch: Sequence[torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """Return the ELBO loss (minus the ELBO) of one batch."""
        loss = self.elbo.differentiable_loss(
            self.model, self.guide, *batch, **self.model_kwargs
        )
        self.losses.append(infer.finite_loss(self.global_step, loss, self.lr))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam over the parameters of the model and the guide."""
        return torch.optim.Adam(self.parameters(), lr=self.lr)
