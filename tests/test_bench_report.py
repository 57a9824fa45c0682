"""The benchmark report's peer tables and the interleaved peer protocol (benchmarks/report_peers.py,
benchmarks/peers.py): the arithmetic is checked against numpy on made-up times, the protocol against a
real onnxruntime-web in Node when the peers are installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of the repository, not of the package

from benchmarks import peers, report  # noqa: E402


def _bench(engine: str, median: float, extra: dict | None = None) -> dict:
    info = {"case": "model m", "engine": engine, "flops": 1e9, "op": "m", "threads": 1, **(extra or {})}
    return {"extra_info": info, "stats": {"median": median, "min": median * 0.9}}


def test_interleaved_rows_are_ratios_of_the_two_time_lists(tmp_path):
    rng = np.random.default_rng(0)
    ours, theirs = rng.uniform(100, 200, 15).tolist(), rng.uniform(150, 400, 15).tolist()
    run = {"peer": "ort-web", "threads": 2, "wasm_ms": ours, "peer_ms": theirs, "info": {}}
    doc = {"benchmarks": [_bench("wasm-graph", 0.15), _bench("wasm-graph-vs-ort-web-2t", 0.15, {"interleaved": run})]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    results = report.load(path)
    assert set(results.table["model m"]) == {"wasm-graph"}  # the interleaved pair is not an engine column
    (row,) = [line for line in report.markdown(results, "test").splitlines() if line.startswith("| model m | ort-web")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:4] == ["2", "15 + 15"]
    assert float(cells[-2]) == pytest.approx(np.median(ours) / np.median(theirs), abs=0.006)
    assert float(cells[-1]) == pytest.approx(min(ours) / min(theirs), abs=0.006)


def _tiny_model(path: Path) -> None:
    w = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


@pytest.mark.skipif(not peers.node_available(), reason="node / npm are not on PATH")
@pytest.mark.skipif(
    not (peers.PEERS_DIR / "node_modules").is_dir(),
    reason="the peers are not installed (make bench installs onnxruntime-web and TF.js, ~450 MB from npm)",
)
def test_peer_server_times_blocks_on_request(tmp_path):
    _tiny_model(tmp_path / "tiny.onnx")
    with peers.PeerServer("ort-web", tmp_path / "tiny.onnx", threads=1) as peer:
        first, second = peer.run(2), peer.run(3)
    assert len(first) == 2 and len(second) == 3 and all(t > 0 for t in first + second)
    assert peer.summary["times_ms"] == first + second and peer.summary["engine"] == "ort-web"
    assert peer.summary["median_ms"] == pytest.approx(float(np.median(first + second)), abs=1e-3)
    with pytest.raises(ValueError, match="unknown peer engine"):
        peers.PeerServer("onnxjs", tmp_path / "tiny.onnx", threads=1)
