"""The `wasmops` command as a newcomer meets it (issue 15, point 4): one-line errors with a hint (`--debug` for
the traceback), `--version`, inputs that must be given (random data only on request, .npy or .npz), compiled
files written to the current folder and the demo's to the cache, `--quiet` quiet, `--verbose` logging."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import onnx
import pytest

from wasmops import cli

from .tiny_model import tiny_model

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """tiny.onnx, its input x.npy and onnxruntime's output."""
    root = tmp_path_factory.mktemp("cli_model")
    model = tiny_model()
    onnx.save(model, root / "tiny.onnx")
    x = np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(root / "x.npy", x)
    np.savez(root / "feeds.npz", x=x)
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    return root, want


@pytest.fixture(autouse=True)
def _restore_logging():
    logger = logging.getLogger("wasmops")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:], logger.level = handlers, level


def _errors(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_an_error_is_one_line_with_a_hint_and_debug_shows_the_traceback(tmp_path, capsys):
    assert cli.main(["run", str(tmp_path / "missing.onnx")]) == 1
    err = _errors(capsys)
    assert len(err) == 2 and err[0].startswith("wasmops run: error: "), err
    assert "missing.onnx" in err[0] and "--debug" in err[1]
    with pytest.raises(FileNotFoundError):
        cli.main(["run", str(tmp_path / "missing.onnx"), "--debug"])


def test_version_names_wasmops_wasmtime_and_tvm():
    out = subprocess.run([sys.executable, "-m", "wasmops", "--version"], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("wasmops ") and any(line.startswith("wasmtime ") for line in lines)
    assert any(line.startswith("TVM ") for line in lines)


def test_info_names_the_versions(capsys):
    assert cli.main(["info"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("wasmops ") and "wasmtime " in first


def test_input_has_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    assert "--input NAME=FILE" in text and ".npz" in text and "--random-inputs" in text


def test_inputs_left_out_are_an_error_not_random_data(model_dir, capsys):
    root, _ = model_dir
    assert cli.main(["run", str(root / "tiny.onnx"), "--repeat", "0"]) == 2
    err = _errors(capsys)
    assert len(err) == 1 and "no data for input(s) x" in err[0] and "--random-inputs" in err[0], err
    assert cli.main(["run", str(root / "tiny.onnx"), "--repeat", "0", "--random-inputs"]) == 0
    assert "input x: random float32(1, 3, 8, 8)" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["{root}/x.npy", "x={root}/x.npy", "x={root}/feeds.npz", "{root}/feeds.npz"])
def test_input_forms(model_dir, tmp_path, spec):
    root, want = model_dir
    out = tmp_path / "out.npz"
    args = ["run", str(root / "tiny.onnx"), "--input", spec.format(root=root), "--output", str(out), "--repeat", "0"]
    assert cli.main(args) == 0
    np.testing.assert_allclose(np.load(out)["y"], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("nothere.npy", "no file 'nothere.npy'"),
        ("y={root}/x.npy", "has no input 'y'"),
        ("x={root}/other.npz", "none named 'x'"),
    ],
)
def test_bad_inputs_say_what_would_work(model_dir, capsys, spec, message):
    root, _ = model_dir
    np.savez(root / "other.npz", a=np.zeros(1), b=np.zeros(1))
    assert cli.main(["run", str(root / "tiny.onnx"), "--input", spec.format(root=root)]) == 2
    err = _errors(capsys)
    assert len(err) == 1 and message in err[0], err


def test_compile_writes_to_the_current_folder_quietly(model_dir, tmp_path, monkeypatch, capfd):
    pytest.importorskip("tvm", reason="compiling needs the [build] extra")
    root, want = model_dir
    onnx.save(tiny_model(shapeless_output=True), root / "warns.onnx")  # TVM's importer warns on its shapeless output
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compile", str(root / "warns.onnx"), "--quiet"]) == 0
    captured = capfd.readouterr()
    assert captured.err == "", captured.err
    assert (tmp_path / "warns.wasm").exists() and not (root / "warns.wasm").exists()
    assert cli.main(["run", "warns.wasm", "--input", str(root / "x.npy"), "--output", "o.npz", "--repeat", "0"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["y"], want, rtol=1e-4, atol=1e-4)


def test_verbose_logs_what_the_library_does(model_dir, capsys):
    root, _ = model_dir
    assert cli.main(["run", str(root / "tiny.onnx"), "--input", str(root / "x.npy"), "--repeat", "0", "-v"]) == 0
    assert "wasmops.session INFO" in capsys.readouterr().err


def test_wasmops_log_environment_variable_switches_logging_on(tmp_path):
    code = "import wasmops.onnx, logging; logging.getLogger('wasmops.session').info('hello from the test')"
    env = {"WASMOPS_LOG": "info", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "wasmops.session INFO: hello from the test" in out.stderr, out.stderr
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert quiet.stderr == ""


def test_demo_compiles_into_the_cache_folder_not_the_current_one(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import wasmops.bindings.graph_session as gs
    from wasmops import demo

    seen = []

    def stop(model, directory, name, **kwargs):
        seen.append(directory)
        raise KeyboardInterrupt  # the directory is all this test needs

    monkeypatch.setattr(gs, "compiled_graph", stop)
    monkeypatch.setenv("WASMOPS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        demo.resnet50()
    assert seen == [tmp_path / "cache" / "graphs"]
