"""Benchmark: ``python -m bayesdl bench ssvae``.

Seconds per epoch of the chapter's semi-supervised VAE
(:func:`bayesdl.zoo.ssvae_mnist`'s settings: M2 on the code of the frozen
M1 of :func:`bayesdl.zoo.ssvae_m1`, mixed batches, one
:func:`bayesdl.infer.fit_svi` with ``TraceEnum_ELBO``) against the same
networks written the way Pyro's ``examples/vae/ss_vae_M2.py`` writes them:
MLPs that concatenate their inputs (the image broadcast against the ten
enumerated one-hot labels), ``OneHotCategorical`` labels, softmax and
``exp`` output layers, ``pyro.module`` registration, ``pyro.optim.Adam``, a
``DataLoader`` for the labelled and one for the unlabelled images,
alternating labelled and unlabelled batches, and a second ``SVI`` for the
supervised term on every labelled batch. Both use the same layer sizes,
the same batch size and parallel enumeration of the missing labels.

An epoch is one pass over the unlabelled images. The chapter's model reads
M1's code of the training images, computed once per training (its time is
reported apart); the example-style model, as Pyro's example would, maps each
batch through M1 in its model and in its guide. The two run in turns, one
epoch (or ``--batches`` batches, scaled to an epoch) of each per round, so
that a change of the machine's load hits both alike; the report gives the
median seconds per epoch of each and their ratio, and the same for the CPU
time of the process, which a busy machine distorts less than the wall
clock. M1 is left untrained (the timing does not depend on its weights).

Example::

    $ python -m bayesdl bench ssvae                       # full profile
    $ BAYESDL_PROFILE=smoke python -m bayesdl bench ssvae --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, config_enumerate
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bayesdl import checks, config, infer, zoo
from bayesdl.data.splits import labelled_split
from bayesdl.infer.feeding import MixedBatches
from bayesdl.models.m1 import M1
from bayesdl.recipes import mnist_ssvae

from ._timing import sync, timed

__all__ = ["ExampleSSVAE", "bench_ssvae", "main"]


class _Exp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)


class _ExampleMLP(nn.Module):
    """The example's MLP: concatenate (broadcast) inputs, softplus layers, split heads."""

    def __init__(self, sizes, heads) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.Softplus()]
        self.body = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(sizes[-1], n) for n, _ in heads)
        self.activations = [act for _, act in heads]

    def forward(self, inputs):
        if isinstance(inputs, list | tuple):
            shape = torch.broadcast_shapes(*[t.shape[:-1] for t in inputs]) + (-1,)
            inputs = torch.cat([t.expand(shape) for t in inputs], dim=-1)
        hidden = self.body(inputs)
        outs = [
            head(hidden) if act is None else act(head(hidden))
            for head, act in zip(self.heads, self.activations, strict=True)
        ]
        return outs[0] if len(outs) == 1 else outs


class ExampleSSVAE(nn.Module):
    """M2 on a frozen M1's code, written as Pyro's ``ss_vae_M2.py`` writes M2.

    The sizes follow the chapter's model: ``hidden`` units in q(z|x,y) and
    p(x|y,z), ``classifier_hidden`` in q(y|x), a style of width ``z_dim``.
    Like the chapter's model it reads M1's mean code of each image and models
    it with a Normal p(z1|y,z).

    Example::

        ex = ExampleSSVAE(m1, z_dim=32, hidden=500, classifier_hidden=[500],
                          aux_loss_multiplier=50.0)
    """

    def __init__(
        self,
        features: M1 | None,
        *,
        z_dim: int,
        hidden: int,
        classifier_hidden: Sequence[int],
        aux_loss_multiplier: float,
        name: str = "ss_vae",
    ) -> None:
        super().__init__()
        self.name = name
        # Frozen and kept out of the module's registry, as a fixed input map.
        # Without features it is the example's own model of the pixels.
        if features is not None:
            features.requires_grad_(False)
        object.__setattr__(self, "features", features)
        n = 784 if features is None else features.latent_dim
        self.z_dim = z_dim
        self.aux_loss_multiplier = aux_loss_multiplier
        self.encoder_y = _ExampleMLP(
            [n, *classifier_hidden], [(10, nn.Softmax(dim=-1))]
        )
        self.encoder_z = _ExampleMLP([n + 10, hidden], [(z_dim, None), (z_dim, _Exp())])
        heads = [(n, nn.Sigmoid())] if features is None else [(n, None), (n, _Exp())]
        self.decoder = _ExampleMLP([z_dim + 10, hidden], heads)

    def _code(self, xs: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            return xs.reshape(len(xs), -1)
        with torch.no_grad():
            return self.features._encode(xs.reshape(len(xs), -1))[0]

    def model(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        """p(z) p(y) p(z1|y,z), as the example's ``model``."""
        pyro.module(self.name, self)
        xs = self._code(xs)
        batch_size = xs.size(0)
        with pyro.plate("data"):
            prior_loc = xs.new_zeros([batch_size, self.z_dim])
            prior_scale = xs.new_ones([batch_size, self.z_dim])
            zs = pyro.sample("z", dist.Normal(prior_loc, prior_scale).to_event(1))
            alpha_prior = xs.new_ones([batch_size, 10]) / 10.0
            ys = pyro.sample("y", dist.OneHotCategorical(alpha_prior), obs=ys)
            if self.features is None:
                loc = self.decoder([zs, ys])
                # (grey pixels: the support check is off, as in the chapter)
                pixels = dist.Bernoulli(loc, validate_args=False).to_event(1)
                pyro.sample("x", pixels, obs=xs)
                return
            loc, scale = self.decoder([zs, ys])
            pyro.sample("x", dist.Normal(loc, scale).to_event(1), obs=xs)

    def guide(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        """q(y|x) q(z|x,y), as the example's ``guide``."""
        xs = self._code(xs)
        with pyro.plate("data"):
            if ys is None:
                alpha = self.encoder_y(xs)
                ys = pyro.sample("y", dist.OneHotCategorical(alpha))
            loc, scale = self.encoder_z([xs, ys])
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def model_classify(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        """The supervised term, as the example's ``model_classify``."""
        pyro.module(self.name, self)
        xs = self._code(xs)
        with pyro.plate("data"):
            if ys is not None:
                alpha = self.encoder_y(xs)
                with pyro.poutine.scale(scale=self.aux_loss_multiplier):
                    pyro.sample("y_aux", dist.OneHotCategorical(alpha), obs=ys)

    def guide_classify(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        """The example's empty guide of the supervised term."""


def _example_epoch(losses, sup: DataLoader, unsup: DataLoader, interval: int) -> None:
    """One epoch of the example's ``run_inference_for_epoch``."""
    sup_batches, unsup_batches = len(sup), len(unsup)
    sup_iter, unsup_iter = iter(sup), iter(unsup)
    ctr_sup = 0
    for i in range(sup_batches + unsup_batches):
        is_supervised = (i % interval == 1) and ctr_sup < sup_batches
        # (the example asserts sizes for which the unlabelled never run out)
        is_supervised = is_supervised or i - ctr_sup >= unsup_batches
        if is_supervised:
            xs, ys = next(sup_iter)
            ctr_sup += 1
        else:
            (xs,) = next(unsup_iter)
        for loss in losses:
            if is_supervised:
                loss.step(xs, ys)
            else:
                loss.step(xs)


class _Limited:
    """The first ``n`` batches of each pass over ``batches``."""

    def __init__(self, batches, n: int) -> None:
        self.batches, self.n = batches, min(n, len(batches))

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator:
        for i, batch in enumerate(self.batches):
            if i == self.n:
                return
            yield batch


def _example_losses(example: ExampleSSVAE, lr: float) -> list[SVI]:
    """The example's two SVI objects: the enumerated ELBO and the supervised term."""
    with pyro.settings.context(module_local_params=False):
        optimizer = pyro.optim.Adam({"lr": lr, "betas": (0.9, 0.999)})
        guide = config_enumerate(example.guide, "parallel")
        elbo = TraceEnum_ELBO(max_plate_nesting=1, strict_enumeration_warning=False)
        return [
            SVI(example.model, guide, optimizer, loss=elbo),
            SVI(
                example.model_classify,
                example.guide_classify,
                optimizer,
                loss=Trace_ELBO(),
            ),
        ]


def bench_ssvae(
    *,
    num_labels: int = 3000,
    rounds: int | None = None,
    batches: int | None = None,
    pixels: bool = True,
    seed: int = 0,
) -> dict[str, object]:
    """Time the chapter's SSVAE and the example-style loop in turns.

    ``rounds`` rounds (default 2; smoke 1), each one epoch of each loop, or
    only their first ``batches`` unlabelled batches, scaled up to an epoch.
    ``num_labels`` is one of :data:`bayesdl.zoo.SSVAE_LABEL_COUNTS` (default
    3000, the example's default). With ``pixels`` a third loop runs: the
    example's own model of the pixels (no M1) with the same layer sizes.
    Returns the seconds (wall and CPU) per epoch of every round of each,
    their medians and the ratios (peer / chapter).

    Example::

        r = bench_ssvae(rounds=1, batches=20)
        r["ratio"]
    """
    num_labels = mnist_ssvae.check_num_labels(num_labels)
    rounds = checks.positive_int(
        "rounds", config.choose(full=2, smoke=1) if rounds is None else rounds
    )
    if batches is not None:
        batches = checks.positive_int("batches", batches)
    seed = checks.seed(seed)

    settings = zoo.ssvae_settings()
    cfg = settings.m2
    dev = config.device()
    images, labels = zoo.ssvae_data(settings)
    images, labels = images.to(dev), labels.to(dev)
    labelled, unlabelled = labelled_split(
        labels.cpu(), num_labels, seed=settings.split_seed
    )
    # Timing does not depend on M1's weights: both use the same untrained M1.
    torch.manual_seed(seed)
    ours = zoo.ssvae_untrained(settings, num_labels).to(dev)
    m1 = ours.features
    with timed(dev) as clock:
        codes = ours.code(images)  # once per training, as bayesdl.zoo.ssvae_mnist does
    code_seconds = clock.seconds
    sampler = MixedBatches(
        codes,
        labels,
        labelled,
        batch_size=cfg.batch_size,
        labelled_per_batch=cfg.labelled_per_batch,
        seed=seed,
    )
    per_epoch = len(sampler)
    ours_data = sampler if batches is None else _Limited(sampler, batches)

    torch.manual_seed(seed)
    example_m1 = M1(settings.num_train, m1.latent_dim, settings.m1.hidden)
    example_m1.load_state_dict(m1.state_dict())
    example_m1.eval()  # frozen: its weights stay out of Pyro's global param store
    example = ExampleSSVAE(
        example_m1.to(dev),
        z_dim=cfg.latent_dim,
        hidden=cfg.hidden,
        classifier_hidden=cfg.classifier_hidden,
        aux_loss_multiplier=cfg.alpha,
    ).to(dev)
    one_hot = nn.functional.one_hot(labels[labelled.to(dev)], 10).to(images.dtype)
    bs = cfg.batch_size
    loader_gen = torch.Generator().manual_seed(seed)
    sup = DataLoader(
        TensorDataset(images[labelled.to(dev)], one_hot),
        batch_size=bs,
        shuffle=True,
        generator=loader_gen,
    )
    unsup = DataLoader(
        TensorDataset(images[unlabelled.to(dev)]),
        batch_size=bs,
        shuffle=True,
        generator=loader_gen,
    )
    interval = max(2, int(len(images) / num_labels))
    ex_unsup_batches = len(unsup) if batches is None else min(batches, len(unsup))
    ex_sup_batches = (
        len(sup)
        if batches is None
        else max(1, round(len(sup) * ex_unsup_batches / len(unsup)))
    )
    sup_limited = _Limited(sup, ex_sup_batches)
    unsup_limited = _Limited(unsup, ex_unsup_batches)

    peers = {"example": example}
    if pixels:
        torch.manual_seed(seed)
        peers["pixels"] = ExampleSSVAE(
            None,
            z_dim=cfg.latent_dim,
            hidden=cfg.hidden,
            classifier_hidden=cfg.classifier_hidden,
            aux_loss_multiplier=cfg.alpha,
            name="ss_vae_pixels",
        ).to(dev)
    pyro.clear_param_store()
    losses = {name: _example_losses(peer, cfg.lr) for name, peer in peers.items()}

    # Warm up all (first-call costs: parameter capture, lazy allocations).
    infer.fit_svi(
        ours.model,
        ours.guide,
        data=_Limited(sampler, 2),
        num_epochs=1,
        lr=cfg.lr,
        loss=TraceEnum_ELBO(max_plate_nesting=1),
        progress=False,
    )
    for name in peers:
        with pyro.settings.context(module_local_params=False):
            _example_epoch(losses[name], _Limited(sup, 1), _Limited(unsup, 2), interval)

    wall: dict[str, list[float]] = {name: [] for name in ("chapter", *peers)}
    cpu: dict[str, list[float]] = {name: [] for name in ("chapter", *peers)}
    for _ in range(rounds):
        sync(dev)
        start = time.process_time()
        result = infer.fit_svi(
            ours.model,
            ours.guide,
            data=ours_data,
            num_epochs=1,
            lr=cfg.lr,
            loss=TraceEnum_ELBO(max_plate_nesting=1),
            progress=False,
        )
        sync(dev)
        scale = per_epoch / len(ours_data)
        cpu["chapter"].append((time.process_time() - start) * scale)
        wall["chapter"].append(result.seconds * scale)
        for name in peers:
            sync(dev)
            start_cpu = time.process_time()
            with timed(dev) as clock, pyro.settings.context(module_local_params=False):
                _example_epoch(losses[name], sup_limited, unsup_limited, interval)
            scale = len(unsup) / ex_unsup_batches
            wall[name].append(clock.seconds * scale)
            cpu[name].append((time.process_time() - start_cpu) * scale)
    pyro.clear_param_store()

    median = {name: statistics.median(v) for name, v in wall.items()}
    median_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    out: dict[str, object] = {
        "num_labels": num_labels,
        "batch_size": bs,
        "batches_timed": batches,
        "device": str(dev),
        "code_seconds": code_seconds,
    }
    for name in wall:
        out[f"{name}_seconds"] = wall[name]
        out[f"{name}_cpu_seconds"] = cpu[name]
        out[f"{name}_seconds_per_epoch"] = median[name]
    out["ratio"] = median["example"] / median["chapter"]
    out["cpu_ratio"] = median_cpu["example"] / median_cpu["chapter"]
    if pixels:
        out["pixels_ratio"] = median["pixels"] / median["chapter"]
        out["pixels_cpu_ratio"] = median_cpu["pixels"] / median_cpu["chapter"]
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bayesdl bench ssvae",
        description="Seconds per epoch of the chapter's semi-supervised VAE "
        "against the same networks in the style of Pyro's ss_vae_M2.py example.",
    )
    parser.add_argument("--num-labels", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (smoke 1)")
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="time only this many unlabelled batches per epoch, scaled to an epoch",
    )
    parser.add_argument(
        "--no-pixels",
        action="store_true",
        help="skip the example's model of the pixels (the slowest peer)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark from the command line; return the exit status.

    Example::

        >>> main(["--rounds", "1", "--batches", "10"])  # doctest: +SKIP
        0
    """
    args = _parser().parse_args(argv)
    r = bench_ssvae(
        num_labels=args.num_labels,
        rounds=args.rounds,
        batches=args.batches,
        pixels=not args.no_pixels,
        seed=args.seed,
    )
    timed = (
        "a full epoch"
        if r["batches_timed"] is None
        else (f"{r['batches_timed']} batches, scaled to an epoch")
    )
    print(
        f"semi-supervised VAE, {r['num_labels']} labels, batch {r['batch_size']}, "
        f"{r['device']}, {config.profile()} profile; timed {timed} per round"
    )
    rows = [
        ("chapter (M1+M2, fit_svi, mixed batches)", "chapter"),
        ("example style, same model (M1+M2)", "example"),
    ]
    if "pixels_seconds" in r:
        rows.append(("example style, its model of pixels", "pixels"))
    for name, key in rows:
        rounds = ", ".join(f"{s:.2f}" for s in r[f"{key}_seconds"])
        print(f"  {name:<42} {r[f'{key}_seconds_per_epoch']:8.2f} s/epoch  ({rounds})")
    print(
        f"  same model: example / chapter      {r['ratio']:6.2f}x wall, "
        f"{r['cpu_ratio']:6.2f}x CPU"
    )
    if "pixels_ratio" in r:
        print(
            f"  pixels model: example / chapter    {r['pixels_ratio']:6.2f}x wall, "
            f"{r['pixels_cpu_ratio']:6.2f}x CPU"
        )
    print(
        f"  (the chapter computes M1's code of the training set once per training: "
        f"{r['code_seconds']:.2f} s, not counted per epoch)"
    )
    return 0
