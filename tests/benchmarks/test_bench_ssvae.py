"""The SSVAE benchmark runs end to end at smoke size and prints its ratio."""

from __future__ import annotations

import pytest

from bayesdl.__main__ import main as cli
from benchmarks import ssvae as bench


@pytest.mark.slow
def test_bench_ssvae_prints_the_ratio(smoke, capsys):
    args = ["bench", "ssvae", "--rounds", "1", "--batches", "2", "--num-labels", "100"]
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert "same model: example / chapter" in out and "s/epoch" in out
    assert "pixels model" in out


def test_bench_ssvae_result_keys(smoke):
    r = bench.bench_ssvae(num_labels=100, rounds=1, batches=1)
    assert r["chapter_seconds_per_epoch"] > 0 and r["example_seconds_per_epoch"] > 0
    assert r["ratio"] == pytest.approx(
        r["example_seconds_per_epoch"] / r["chapter_seconds_per_epoch"]
    )
    assert len(r["chapter_seconds"]) == len(r["example_seconds"]) == 1


def test_bench_ssvae_refuses_bad_arguments(smoke):
    with pytest.raises(ValueError, match="100, 600, 1000, 3000"):
        bench.bench_ssvae(num_labels=7)
    with pytest.raises(ValueError, match="rounds"):
        bench.bench_ssvae(rounds=0)
    assert cli(["bench", "ssvae", "--num-labels", "5"]) == 2
