"""wasmops.ray on a local Ray instance (2 CPUs): a dataset scored by Ray actors, each holding one session (a
compiled graph or an op-by-op ONNX session), gives exactly the in-process session's outputs, row by row.

Run by tests/test_ray.py in a pytest process of its own (see there why)."""

from __future__ import annotations

import numpy as np
import pytest

from .tiny_model import tiny_model

ray = pytest.importorskip("ray", reason="the Ray recipe needs the [ray] extra (pip install 'wasmops[ray]')")
pytest.importorskip("ray.data", reason="the Ray recipe needs ray[data]")

ROWS = 24


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny conv net as ONNX (op by op) and, when TVM is installed, compiled (whole graph)."""
    import onnx

    root = tmp_path_factory.mktemp("ray")
    onnx.save(tiny_model(), root / "tiny.onnx")
    found = {"onnx": root / "tiny.onnx"}
    try:
        import wasmops.graph as wg

        found["wasm"] = wg.compile_graph(tiny_model(), root / "tiny.wasm", progress=False)
    except ImportError:  # no [build] extra: the op-by-op path is still tested
        pass
    return found


def _data() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(5).standard_normal((ROWS, 3, 8, 8)).astype(np.float32)
    return np.arange(ROWS), x


def _in_process(path) -> np.ndarray:
    import wasmops.graph as wg
    import wasmops.onnx as wo

    sess = wg.InferenceSession(path) if path.suffix == ".wasm" else wo.InferenceSession(str(path))
    return np.stack([sess.run(None, {"x": row[None]})[0][0] for row in _data()[1]])


@pytest.mark.parametrize("kind", ["wasm", "onnx"])
@pytest.mark.parametrize("workers", [1, 2])
def test_ray_actors_score_like_the_in_process_session(local_ray, models, kind, workers):
    import wasmops.ray

    if kind not in models:
        pytest.skip("compiling the whole graph needs the [build] extra (apache-tvm)")
    ids, x = _data()
    ds = ray.data.from_items([{"id": int(i), "x": row} for i, row in zip(ids, x, strict=True)])
    scored = wasmops.ray.score(ds, models[kind], num_workers=workers, batch_size=5).take_all()
    assert len(scored) == ROWS and {"id", "y"} <= set(scored[0]) and "x" not in scored[0]
    got = np.stack([r["y"] for r in sorted(scored, key=lambda r: r["id"])])
    np.testing.assert_array_equal(got, _in_process(models[kind]))


def test_ray_scorer_names_a_missing_input_column(local_ray, models):
    from wasmops.ray import SessionScorer

    scorer = SessionScorer(models["onnx"])
    with pytest.raises(KeyError, match=r"model input\(s\) \['x'\]"):
        scorer({"image": np.zeros((2, 3, 8, 8), np.float32)})
