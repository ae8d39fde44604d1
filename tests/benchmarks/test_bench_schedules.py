"""``python -m bayesdl bench schedules``: the search that chooses the MNIST schedules."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from bayesdl.__main__ import main as cli
from bayesdl.recipes import mnist_schedules
from bayesdl.recipes.mnist_bnn import MnistSettings, Training, chosen_training
from benchmarks import schedules as bench


def _load(path):
    spec = importlib.util.spec_from_file_location("searched", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_search_writes_a_table_the_recipes_can_choose_from(
    smoke, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        bench, "GRID", {"lenet": {"lr": (1e-2, 2e-2), "batch_size": (256,)}}
    )
    monkeypatch.setattr(bench, "WARMUPS", (0.1,))
    out = tmp_path / "searched.py"
    argv = ["bench", "schedules", "--family", "lenet", "--write", "--out", str(out)]
    assert cli(argv) == 0
    printed = capsys.readouterr().out
    assert "chosen for lenet:" in printed and f"wrote {out}" in printed
    written = _load(out)
    rows = written.SEARCH
    epochs = MnistSettings().num_epochs
    assert [r["reference"] for r in rows] == [True, False, False, False, False]
    assert rows[3]["warmup"] == 0.1
    assert [r["epochs"] for r in rows] == [epochs] * 4 + [2 * epochs]
    assert all(len(r["val_nll"]) == r["epochs"] for r in rows)
    monkeypatch.setattr(mnist_schedules, "SEARCH", rows)
    monkeypatch.setattr(mnist_schedules, "ABOUT", written.ABOUT)
    best = min(rows[1:4], key=lambda r: r["val_nll"][-1])
    longer = rows[-1]
    assert (longer["lr"], longer["warmup"]) == (best["lr"], best["warmup"])
    assert chosen_training("lenet") == Training(
        lr=best["lr"], batch_size=best["batch_size"], warmup=best["warmup"]
    )
    with pytest.raises(ValueError, match="bench schedules"):
        chosen_training("bnn")  # this table has no Bayesian rows


def test_the_recorded_search_is_the_benchmarks_and_the_recipe_trains_its_choice():
    """The committed table covers the benchmark's grid at the full profile's
    sizes, and every family trains with its row of lowest validation NLL."""
    rows = mnist_schedules.SEARCH
    full = mnist_schedules.ABOUT
    assert full["epochs"] == 3 and full["num_train"] == 55_000
    for family in bench.GRID:
        everything = [r for r in rows if r["family"] == family]
        ours = [r for r in everything if r["epochs"] == full["epochs"]]
        tried = {(r["lr"], r["batch_size"]) for r in ours if r["warmup"] == 0.3}
        grid = bench.GRID[family]
        assert tried >= {(lr, b) for lr in grid["lr"] for b in grid["batch_size"]}
        assert sum(r["reference"] for r in ours) == 1
        assert {r["warmup"] for r in ours if not r["reference"]} >= set(bench.WARMUPS)
        best = min(
            (r for r in ours if not r["reference"]), key=lambda r: r["val_nll"][-1]
        )
        chosen = getattr(MnistSettings(), family)
        assert (chosen.lr, chosen.batch_size, chosen.warmup) == (
            best["lr"],
            best["batch_size"],
            best["warmup"],
        )
        assert all(len(r["val_nll"]) == r["epochs"] for r in everything)
        (longer,) = [r for r in everything if r["epochs"] == 2 * full["epochs"]]
        assert (longer["lr"], longer["batch_size"], longer["warmup"]) == (
            chosen.lr,
            chosen.batch_size,
            chosen.warmup,
        )
    assert dataclasses.asdict(bench.REFERENCE)["schedule"] == "geometric"


def test_the_search_refuses_to_record_a_smoke_table(smoke):
    assert cli(["bench", "schedules", "--write"]) == 2
