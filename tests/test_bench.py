"""The benchmark runs end to end on a tiny epoch and prints both ratios."""

from __future__ import annotations

import pytest

from bayesdl import bench
from bayesdl.__main__ import main as cli


@pytest.mark.slow
def test_bench_bnn_prints_ratios(capsys):
    assert cli(["bench", "bnn", "--steps", "2", "--train-size", "512"]) == 0
    out = capsys.readouterr().out
    assert "BNN / deterministic" in out and "tutorial-style / BNN" in out


def test_bench_result_keys():
    r = bench.bench_bnn(steps=1, train_size=256, warmup=1)
    for key in (
        "bnn_epoch_seconds",
        "det_epoch_seconds",
        "tutorial_epoch_seconds",
        "tutorial_loader_epoch_seconds",
    ):
        assert r[key] > 0
    assert r["tutorial_loader_over_bnn"] == pytest.approx(
        r["tutorial_loader_epoch_seconds"] / r["bnn_epoch_seconds"]
    )
    assert r["bnn_over_det"] == pytest.approx(
        r["bnn_epoch_seconds"] / r["det_epoch_seconds"]
    )


def test_bench_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["nonsense"])
    with pytest.raises(ValueError, match="steps"):
        bench.bench_bnn(steps=0, train_size=256)
