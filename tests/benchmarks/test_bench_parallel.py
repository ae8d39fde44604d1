"""The parallel benchmark times one workload three ways and prints the ratio."""

from __future__ import annotations

import pytest

from bayesdl.__main__ import main as cli
from benchmarks import parallel as bench


def test_bench_parallel_prints_every_mode_and_the_ratio(smoke, capsys):
    assert (
        cli(["bench", "parallel", "--workload", "lenet", "--runs", "2", "--size", "1"])
        == 0
    )
    out = capsys.readouterr().out
    for line in ("threads", "1 thread", "2 processes", "threads / processes"):
        assert line in out


def test_bench_parallel_result_and_bad_workload(smoke):
    r = bench.bench_parallel("active", runs=2, workers=2, size=1)
    assert r["ratio"] == pytest.approx(r["threads"] / r["processes"])
    assert min(r["threads"], r["one thread"], r["processes"]) > 0
    with pytest.raises(ValueError, match="workload"):
        bench.bench_parallel("svm")
