"""``python -m bayesdl bench vae`` runs end to end at smoke size."""

from __future__ import annotations

import math

import pytest
import torch

from bayesdl.__main__ import main as cli
from bayesdl.models.vae import elbo
from benchmarks import vae as bench


@pytest.mark.slow
def test_bench_vae_prints_its_table(smoke, capsys):
    argv = ["bench", "vae", "--tutorial-epochs", "1", "--num-val", "200", "--verbose"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "chapter epoch 1:" in out and "tutorial epoch 1:" in out
    assert "validation ELBO" in out and "test ELBO (read once" in out
    assert "seconds per epoch: chapter" in out
    assert "tutorial/chapter" in out and "seconds to reach" in out
    assert "run in turns (same load)" in out
    assert "in at most half the tutorial's 1 epochs' time): " in out
    assert out.rstrip().endswith(("): met", "): NOT met"))


@pytest.mark.slow
def test_bench_vae_result(smoke):
    r = bench.bench_vae(tutorial_epochs=3, num_val=100)
    assert r["tutorial_epochs"] == 3
    assert r["chapter_epochs"] == len(r["chapter_curve"]["elbo"]) >= 1
    for key in ("chapter_epoch_seconds", "tutorial_epoch_seconds"):
        assert r[key] > 0
    assert r["epoch_ratio"] == pytest.approx(
        r["tutorial_epoch_seconds"] / r["chapter_epoch_seconds"]
    )
    shared = r["shared_epochs"]
    assert shared == min(r["chapter_epochs"], r["tutorial_epochs"])
    assert r["shared_epoch_ratio"] > 0 and r["time_ratio_at_shared_load"] > 0
    seconds = r["tutorial_curve"]["seconds"]
    assert seconds == sorted(seconds)
    assert all(math.isfinite(e) for e in r["tutorial_curve"]["elbo"])
    assert r["chapter_val_elbo"] == r["chapter_curve"]["elbo"][-1]
    assert math.isfinite(r["chapter_test_elbo"]) and math.isfinite(
        r["tutorial_test_elbo"]
    )
    expected = (
        r["chapter_val_elbo"] >= r["target"]
        and 2 * r["chapter_train_seconds"] <= r["tutorial_train_seconds"]
    )
    assert r["met"] is expected


def test_the_verdict_needs_both_the_elbo_and_half_the_time(smoke):
    easy = bench.bench_vae(tutorial_epochs=1, num_val=100, target=-1e9)
    assert easy["met"] is (
        2 * easy["chapter_train_seconds"] <= easy["tutorial_train_seconds"]
    )
    hard = bench.bench_vae(tutorial_epochs=1, num_val=100, target=0.0)
    assert hard["met"] is False  # no VAE reaches an ELBO of 0 nats on grey levels


def test_tutorial_vae_has_the_vae_interface():
    vae = bench.TutorialVAE(z_dim=3, hidden_dim=8)
    x = torch.rand(4, 1, 28, 28)
    loc, scale = vae.encode(x)
    assert loc.shape == scale.shape == (4, 3)
    assert vae.decode(loc).shape == (4, 1, 28, 28)
    with torch.no_grad():
        assert elbo(vae, x).shape == (4,)


def test_time_to_target_and_elbo_at_time():
    seconds, elbos = [1.0, 2.0, 3.0], [-260.0, -250.0, -240.0]
    assert bench._time_to(-250.0, seconds, elbos) == 2.0
    assert bench._time_to(-200.0, seconds, elbos) == math.inf
    assert bench._at_time(2.5, seconds, elbos) == -250.0
    assert bench._at_time(0.5, seconds, elbos) == -math.inf


def test_bench_vae_rejects_bad_arguments(smoke, capsys):
    assert cli(["bench", "vae", "--tutorial-epochs", "0"]) == 2
    assert "tutorial_epochs must be a positive int" in capsys.readouterr().err
    with pytest.raises(ValueError, match="num_val"):
        bench.bench_vae(num_val=0)
