"""The BNN benchmark runs end to end on a tiny epoch and prints its ratios."""

from __future__ import annotations

import pytest

from bayesdl.__main__ import main as cli
from benchmarks import bnn as bench


@pytest.mark.slow
def test_bench_bnn_prints_ratios_and_the_target(capsys):
    assert cli(["bench", "bnn", "--steps", "2", "--train-size", "512"]) == 0
    out = capsys.readouterr().out
    assert "BNN / deterministic" in out and "plain-Pyro / BNN" in out
    assert f"target <= {bench.TARGET}x" in out
    assert "tutorial-style loop" in out


def test_bench_result_keys():
    r = bench.bench_bnn(steps=1, train_size=256, warmup=1)
    for key in (
        "bnn_epoch_seconds",
        "det_epoch_seconds",
        "pyro_epoch_seconds",
        "tutorial_epoch_seconds",
    ):
        assert r[key] > 0
    assert r["bnn_over_det"] == pytest.approx(
        r["bnn_epoch_seconds"] / r["det_epoch_seconds"]
    )
    assert r["target_met"] == float(r["bnn_over_det"] <= bench.TARGET)
    assert r["pyro_over_bnn"] == pytest.approx(
        r["pyro_epoch_seconds"] / r["bnn_epoch_seconds"]
    )
    assert r["tutorial_over_bnn"] == pytest.approx(
        r["tutorial_epoch_seconds"] / r["bnn_epoch_seconds"]
    )
    assert r["steps_per_epoch"] == 2.0  # 256 images in batches of 128


def test_bench_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["nonsense"])
    with pytest.raises(ValueError, match="steps"):
        bench.bench_bnn(steps=0, train_size=256)
    with pytest.raises(ValueError, match="batch_size"):
        bench.bench_bnn(steps=1, batch_size=True, train_size=256)
    with pytest.raises(ValueError, match="--batch-size"):
        bench.main(["--batch-size", "0"])
    assert cli(["bench", "bnn", "--steps", "0"]) == 2
