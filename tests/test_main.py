"""Tests of the command line, ``python -m bayesdl``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types

import pytest

from bayesdl import __main__ as cli
from bayesdl import data
from bayesdl.__main__ import main
from bayesdl.data._fetch import sources


def test_data_command_prints_the_summaries(real_root, capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert "MNIST (mnist)" in out and "Fashion-MNIST (fashion_mnist)" in out
    assert "train pixel mean 0.1307, std 0.3081" in out
    assert "train pixel mean 0.2860, std 0.3530" in out
    assert "images per split: train 60000, test 10000" in out
    assert "5923" in out and "Ankle boot" in out
    for name in data.NAMES:
        for md5 in data.MD5[name].values():
            assert md5 in out


def test_data_dir_option_and_sources(real_root, tmp_path, monkeypatch, capsys):
    mirror = real_root / "mnist" / "raw"

    def from_real_folder(name, wanted, workdir):
        found = {}
        for filename in wanted:
            src = next(mirror.glob(f"{filename}*"))
            found[filename] = workdir / src.name
            shutil.copyfile(src, found[filename])
        return found

    monkeypatch.setattr(
        sources, "for_dataset", lambda name: [("copy", from_real_folder)]
    )
    target = tmp_path / "elsewhere"
    assert main(["data", "--name", "mnist", "--data-dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert str(target / "mnist" / "raw") in out
    assert out.count("  copy\n") == 4
    assert "Fashion-MNIST" not in out
    assert len(list((target / "mnist" / "raw").iterdir())) == 4


def test_unavailable_data_exits_1_without_traceback(tmp_path, monkeypatch, capsys):
    def down(name, wanted, workdir):
        raise RuntimeError("unreachable")

    monkeypatch.setattr(sources, "for_dataset", lambda name: [("nowhere", down)])
    assert main(["data", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "nowhere: unreachable" in err
    assert str(tmp_path / "fashion_mnist" / "raw") in err
    assert "t10k-labels-idx1-ubyte  MD5 27ae3e4e09519cfbb04c329615203637" in err


def test_usage_errors():
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["data", "--name", "cifar10"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["data", "--unknown"])
    assert info.value.code == 2


_CHECKOUT_PACKAGES = ("benchmarks", "bookbuild")


def _checkout_modules() -> list[str]:
    return [n for n in sys.modules if n.partition(".")[0] in _CHECKOUT_PACKAGES]


@pytest.fixture
def fresh_imports(monkeypatch):
    """No ``benchmarks``/``bookbuild`` imported; ``sys.path`` and those restored after."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = {name: sys.modules.pop(name) for name in _checkout_modules()}
    yield
    for name in _checkout_modules():
        del sys.modules[name]
    sys.modules.update(saved)


def test_bench_and_pdf_are_found_in_this_checkout(fresh_imports, capsys):
    assert main(["bench", "--help"]) == 0
    assert "bnn" in capsys.readouterr().out
    assert sys.modules["benchmarks"].__file__ == str(
        cli.CHECKOUT / "benchmarks" / "__init__.py"
    )
    pdf = cli.checkout_module("book/_ext", "bookbuild.pdf", "the build tools")
    assert pdf.__file__ == str(cli.CHECKOUT / "book" / "_ext" / "bookbuild" / "pdf.py")


@pytest.mark.parametrize(
    ("argv", "folder"), [(["bench", "bnn"], "benchmarks/"), (["pdf"], "bookbuild/")]
)
def test_outside_a_checkout_bench_and_pdf_say_to_run_from_a_clone(
    argv, folder, fresh_imports, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(cli, "CHECKOUT", tmp_path)  # an installed wheel: no clone
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert folder in err and "not installed with bayesdl" in err
    assert "Run this command from a clone" in err


def test_bench_gets_its_arguments(fresh_imports, tmp_path, monkeypatch):
    package = tmp_path / "benchmarks"
    package.mkdir()
    (package / "__init__.py").write_text(
        "SEEN = []\n\ndef main(argv):\n    SEEN.append(argv)\n    return 0\n"
    )
    monkeypatch.setattr(cli, "CHECKOUT", tmp_path)
    assert main(["bench", "--steps", "10", "-h", "mlp"]) == 0
    assert sys.modules["benchmarks"].SEEN == [["--steps", "10", "-h", "mlp"]]


def test_another_benchmarks_package_in_the_way_is_refused(
    fresh_imports, monkeypatch, capsys
):
    other = types.ModuleType("benchmarks")
    other.__file__ = "/elsewhere/benchmarks/__init__.py"
    other.main = lambda argv: 0
    sys.modules["benchmarks"] = other
    assert main(["bench", "bnn"]) == 2
    assert "another package of the same name" in capsys.readouterr().err


def test_python_dash_m(real_root):
    env = dict(os.environ, BAYESDL_DATA=str(real_root))
    result = subprocess.run(
        [sys.executable, "-m", "bayesdl", "data", "--name", "mnist"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "train pixel mean 0.1307" in result.stdout


def test_train_command_trains_then_loads(smoke, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BAYESDL_CACHE", str(tmp_path / "artifacts"))
    assert main(["train", "lenet_mnist"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("lenet_mnist: ready in") and "profile smoke" in first
    assert len(list((tmp_path / "artifacts").glob("lenet_mnist-*.pt"))) == 1
    assert main(["train", "lenet_mnist"]) == 0  # now loaded from the cache
    assert len(list((tmp_path / "artifacts").glob("*.pt"))) == 1


def test_train_command_rejects_unknown_models(capsys):
    assert main(["train", "resnet"]) == 2
    err = capsys.readouterr().err
    assert "unknown model(s) resnet" in err and "bnn_mnist, lenet_mnist" in err


def test_bad_profile_is_a_usage_error_without_traceback(monkeypatch, capsys):
    monkeypatch.setenv("BAYESDL_PROFILE", "fulll")
    assert main(["train", "lenet_mnist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: BAYESDL_PROFILE='fulll'") and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "bnn", "--batch-size", "0"],
        ["bench", "bnn", "--steps", "-1"],
        ["bench", "nonsense"],
    ],
)
def test_bench_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_train_lists_the_zoo_registry(capsys):
    from bayesdl import zoo

    assert main(["train", "resnet"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in zoo.REGISTRY)
