"""A process that used a compiled graph and the op library exits quietly (issue 15, point 8): with MindSpore
imported, wasmtime-py's finalizers ran during module teardown and printed four "Exception ignored in
Managed.__del__" tracebacks per module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .tiny_model import tiny_model

SCRIPT = r"""
import sys
import mindspore  # keeps the wasmtime objects alive until interpreter teardown
import numpy as np
import wasmops
import wasmops.graph as wg

sess = wg.InferenceSession(sys.argv[1])
sess.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})
wasmops.relu(np.zeros(8, np.float32))
print("ran")
"""


def test_exit_after_a_graph_session_prints_nothing(tmp_path):
    pytest.importorskip("mindspore", reason="the exit-time noise showed with MindSpore imported")
    pytest.importorskip("tvm", reason="compiling the graph needs the [build] extra")
    import wasmops.graph as wg

    path = wg.compile_graph(tiny_model(), tmp_path / "tiny.wasm", progress=False)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ran"
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr, out.stderr
