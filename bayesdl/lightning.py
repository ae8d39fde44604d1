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

__all__ = ["SVIModule", "TensorBatches"]


class TensorBatches:
    """Mini-batches of in-memory tensors, as index slices, reshuffled per pass.

    An iterable that Lightning's ``Trainer.fit`` accepts in place of a
    ``DataLoader``: each iteration yields a list of tensors that share their
    first dimension. No worker processes, no per-item collation.

    Example::

        >>> batches = TensorBatches(x, y, batch_size=32)
        >>> len(batches) == math.ceil(len(x) / 32)
        True
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor.")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(
                f"the tensors have different lengths {sorted(sizes)}; they must "
                "share the first dimension."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.num_data = sizes.pop()

    def __len__(self) -> int:
        return math.ceil(self.num_data / self.batch_size)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(self.num_data, generator=self.generator)
            order = order.to(device)
        else:
            order = torch.arange(self.num_data, device=device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield [t[idx] for t in self.tensors]


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

    Example::

        >>> module = SVIModule(model, guide, example=(x, y), lr=0.01)
        >>> trainer = L.Trainer(accelerator="cpu", max_epochs=100)
        >>> trainer.fit(module, TensorBatches(x, y, batch_size=len(x)))
        >>> trainer.save_checkpoint("svi.ckpt")
        >>> restored = SVIModule.load_from_checkpoint(
        ...     "svi.ckpt", model=model2, guide=guide2, example=(x, y))
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
        if not (isinstance(lr, int | float) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}.")
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
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the ELBO loss became {value} at step {self.global_step}; try a "
                f"smaller learning rate (lr is {self.lr})."
            )
        self.losses.append(value)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam over the parameters of the model and the guide."""
        return torch.optim.Adam(self.parameters(), lr=self.lr)
