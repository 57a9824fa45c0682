"""What real exports look like, in small: symbolic dims with shape chains, Range on computed sizes, dynamic
Reshape / Resize / Pad, squeeze-excite gates, an If on an input, int64 feeds. Each runs op by op and as a
whole graph (compiled for the fed shapes) against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops.graph as wg
from wasmops.kernels.graph_compiler import GraphCompileError
from wasmops.onnx import InferenceSession

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")

RTOL, ATOL = 1e-4, 1e-5
I64 = TensorProto.INT64


def _c(name: str, value, dtype=np.int64) -> helper.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name))


def _model(nodes, inputs, inits=None, opset=17):
    graph = helper.make_graph(
        nodes,
        "real_pattern",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _both_paths(model, feeds, tmp_path, frozen=()):
    """Op by op on every feed set, and compiled for the first feed set's shapes; both against onnxruntime."""
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    (got,) = InferenceSession(model).run(None, feeds)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    shapes = {k: v.shape for k, v in feeds.items() if k not in frozen}
    path = wg.compile_graph(
        model,
        tmp_path / "m.wasm",
        input_shapes=shapes,
        input_values={k: feeds[k] for k in frozen},
        progress=False,
    )
    (compiled,) = wg.InferenceSession(path).run(None, {k: v for k, v in feeds.items() if k not in frozen})
    assert compiled.shape == want.shape
    np.testing.assert_allclose(compiled, want, rtol=RTOL, atol=ATOL)


X = ("x", TensorProto.FLOAT, ["batch", 8, "height", "width"])


def _shape_chain():
    """Shape -> Gather -> Mul -> Concat -> Reshape (flatten H, W), then softmax over the flattened pixels."""
    return [
        helper.make_node("Shape", ["x"], ["s"]),
        _c("i0", 0),
        _c("i1", 1),
        _c("i2", 2),
        _c("i3", 3),
        helper.make_node("Gather", ["s", "i0"], ["n"]),
        helper.make_node("Gather", ["s", "i1"], ["c"]),
        helper.make_node("Gather", ["s", "i2"], ["h"]),
        helper.make_node("Gather", ["s", "i3"], ["w"]),
        helper.make_node("Mul", ["h", "w"], ["hw"]),
        _c("ax", [0]),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Unsqueeze", ["c", "ax"], ["c1"]),
        helper.make_node("Unsqueeze", ["hw", "ax"], ["hw1"]),
        helper.make_node("Concat", ["n1", "c1", "hw1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["y"], axis=-1),
    ]


def _range_grid():
    """A YOLO head's grid: Range over the computed width, cast to float, added to the features."""
    return [
        helper.make_node("Shape", ["x"], ["s"]),
        _c("i3", 3),
        helper.make_node("Gather", ["s", "i3"], ["w"]),
        _c("zero", 0),
        _c("one", 1),
        helper.make_node("Range", ["zero", "w", "one"], ["r"]),
        helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
        _c("half", 0.5, np.float32),
        helper.make_node("Add", ["rf", "half"], ["grid"]),
        helper.make_node("Add", ["x", "grid"], ["y"]),
    ]


def _pad_to_multiple():
    """Pad H and W up to a multiple of 8 with pads computed from the shape (detectors, OCR)."""
    return [
        helper.make_node("Shape", ["x"], ["s"]),
        _c("hw_idx", [2, 3]),
        helper.make_node("Gather", ["s", "hw_idx"], ["hw"]),
        _c("eight", 8),
        helper.make_node("Mod", ["hw", "eight"], ["rem"]),
        helper.make_node("Sub", ["eight", "rem"], ["up"]),
        helper.make_node("Mod", ["up", "eight"], ["extra"]),
        _c("zeros", [0, 0, 0, 0, 0, 0]),
        helper.make_node("Concat", ["zeros", "extra"], ["pads"], axis=0),
        helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant"),
    ]


def _resize_by_shape():
    """Resize to twice the input's computed size (an FPN upsampling exported with sizes, not scales)."""
    return [
        helper.make_node("Shape", ["x"], ["s"]),
        _c("two", [1, 1, 2, 2]),
        helper.make_node("Mul", ["s", "two"], ["sizes"]),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest"),
    ]


def _se_gate(inits):
    """Squeeze-excite with a hard-sigmoid gate and a hard-swish after a residual add (MobileNetV3, PP-OCR)."""
    rng = np.random.default_rng(3)
    inits.update(
        w1=(rng.standard_normal((4, 8, 1, 1)) / 3).astype(np.float32),
        w2=(rng.standard_normal((8, 4, 1, 1)) / 2).astype(np.float32),
        wc=(rng.standard_normal((8, 8, 3, 3)) / 8).astype(np.float32),
    )
    return [
        helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Conv", ["p", "w1"], ["q"]),
        helper.make_node("Relu", ["q"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["t"]),
        helper.make_node("HardSigmoid", ["t"], ["gate"], alpha=0.2, beta=0.5),
        helper.make_node("Mul", ["c", "gate"], ["scaled"]),
        helper.make_node("Add", ["scaled", "x"], ["res"]),
        helper.make_node("HardSwish", ["res"], ["y"]),
    ]


@pytest.mark.parametrize("name", ["shape_chain", "range_grid", "pad_to_multiple", "resize_by_shape", "se_gate"])
def test_symbolic_dims_with_shape_arithmetic(name, tmp_path):
    inits: dict = {}
    nodes = {
        "shape_chain": _shape_chain,
        "range_grid": _range_grid,
        "pad_to_multiple": _pad_to_multiple,
        "resize_by_shape": _resize_by_shape,
        "se_gate": lambda: _se_gate(inits),
    }[name]()
    model = _model(nodes, [X], inits)
    x = np.random.default_rng(0).standard_normal((1, 8, 13, 21)).astype(np.float32)
    _both_paths(model, {"x": x}, tmp_path)


def _if_on_sample_rate():
    """silero-vad's shape: one branch per sample rate, chosen by Equal(sr, 16000) on an int64 input."""
    then_g = helper.make_graph(
        [helper.make_node("Mul", ["x", "k16"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.float32(2.0), "k16")],
    )
    else_g = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", 1, None)]
    )
    nodes = [
        _c("rate", 16000),
        helper.make_node("Equal", ["sr", "rate"], ["is16k"]),
        helper.make_node("If", ["is16k"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    return _model(nodes, [("x", TensorProto.FLOAT, ["n", 4]), ("sr", I64, [])])


@pytest.mark.parametrize("rate", [16000, 8000])
def test_if_on_an_input(rate, tmp_path):
    feeds = {"x": np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), "sr": np.array(rate, np.int64)}
    _both_paths(_if_on_sample_rate(), feeds, tmp_path, frozen=("sr",))


def test_if_on_an_input_left_free_is_refused_by_name(tmp_path):
    with pytest.raises(GraphCompileError, match=r"If.*only known at run time.*input_values=\{'sr'"):
        wg.compile_graph(_if_on_sample_rate(), tmp_path / "m.wasm", input_shapes={"x": (3, 4)}, progress=False)


def test_int64_token_ids(tmp_path):
    """A text encoder's front: int64 ids -> embedding Gather -> position ids from a computed Range -> sum."""
    rng = np.random.default_rng(4)
    inits = {
        "emb": rng.standard_normal((50, 6)).astype(np.float32),
        "pos": rng.standard_normal((16, 6)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["tok"]),
        helper.make_node("Shape", ["ids"], ["s"]),
        _c("i1", 1),
        helper.make_node("Gather", ["s", "i1"], ["len"]),
        _c("zero", 0),
        _c("one", 1),
        helper.make_node("Range", ["zero", "len", "one"], ["positions"]),
        helper.make_node("Gather", ["pos", "positions"], ["p"]),
        helper.make_node("Add", ["tok", "p"], ["y"]),
    ]
    model = _model(nodes, [("ids", I64, ["batch", "seq"])], inits)
    _both_paths(model, {"ids": rng.integers(0, 50, (2, 7)).astype(np.int64)}, tmp_path)


def test_symbolic_dims_without_shapes_name_each_dim_and_the_option(tmp_path):
    model = _model(_shape_chain(), [X])
    with pytest.raises(GraphCompileError) as err:
        wg.compile_graph(model, tmp_path / "m.wasm", progress=False)
    message = str(err.value)
    for part in ("x[0] = 'batch'", "x[2] = 'height'", "x[3] = 'width'", "input_shapes=", "--input-shape x=Nx8xNxN"):
        assert part in message, message
    with pytest.raises(GraphCompileError, match="does not fit"):
        wg.compile_graph(model, tmp_path / "m.wasm", input_shapes={"x": (1, 3, 4, 4)}, progress=False)


@pytest.mark.parametrize("op", ["GatherND", "GatherElements"])
def test_bool_data_in_gathers(op, tmp_path):
    """A dynamo export gathers its bool attention mask: gathers move bools (as int32 inside)."""
    indices = np.array([[1], [0], [1]], np.int64) if op == "GatherND" else np.array([[1, 0, 1], [0, 1, 1]], np.int64)
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["mask"]),
        helper.make_node(op, ["mask", "idx"], ["picked"]),
        helper.make_node("Cast", ["picked"], ["y"], to=TensorProto.FLOAT),
    ]
    inits = {"zero": np.zeros((), np.float32), "idx": indices}
    model = _model(nodes, [("x", TensorProto.FLOAT, [2, 3])], inits)
    _both_paths(model, {"x": np.array([[1, -1, 2], [-3, 4, 0]], np.float32)}, tmp_path)


def test_loop_over_a_computed_trip_count(tmp_path):
    """A Loop whose trip count is a dim (Shape -> Gather): carried state and scan outputs, unrolled in both
    paths (whole graphs: copies of the body, the scan outputs stacked)."""
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["x", "i"], ["row"], axis=0),
            helper.make_node("Add", ["acc_in", "row"], ["acc_out"]),
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Tanh", ["acc_out"], ["scan"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("scan", TensorProto.FLOAT, None),
        ],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        _c("i0", 0),
        helper.make_node("Gather", ["s", "i0"], ["rows"]),
        helper.make_node("Loop", ["rows", "", "acc0"], ["acc", "scans"], body=body),
        helper.make_node("ReduceSum", ["scans"], ["total"], keepdims=0),
        helper.make_node("Add", ["acc", "total"], ["y"]),
    ]
    inits = {"acc0": np.zeros(5, np.float32)}
    model = _model(nodes, [("x", TensorProto.FLOAT, ["n", 5])], inits)
    x = np.random.default_rng(5).standard_normal((4, 5)).astype(np.float32)
    _both_paths(model, {"x": x}, tmp_path)


def test_cli_compiles_symbolic_dims_for_given_shapes(tmp_path, monkeypatch):
    """`wasmops compile --input-shape x=...` compiles the shape-chain model; the module matches onnxruntime."""
    import onnx

    from wasmops.cli import main

    model = _model(_shape_chain(), [X])
    onnx.save(model, tmp_path / "chain.onnx")
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(tmp_path / "chain.onnx"), "--input-shape", "x=1x8x5x6", "--quiet"]) == 0
    x = np.random.default_rng(6).standard_normal((1, 8, 5, 6)).astype(np.float32)
    (got,) = wg.InferenceSession(tmp_path / "chain.wasm").run(None, {"x": x})
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
