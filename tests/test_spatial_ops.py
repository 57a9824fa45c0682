"""Spatial ops: grid_sample against its numpy reference (and that against ONNX's), and the ONNX translators
of registry/onnx_spatial.py (GridSample, AffineGrid, CenterCropPad, Col2Im, 3-D / dilated pooling, Resize
extras) against onnx's reference evaluator on tiny graphs whose data is a graph input (so kernels run)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import wasmops
import wasmops.onnx as wo
from wasmops.ops import all_ops

rng = np.random.default_rng(0)
F32 = TensorProto.FLOAT
GS = all_ops()["grid_sample"]


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_kernel_matches_reference(rank, mode, padding, align):
    if rank == 3 and mode == "cubic":
        pytest.skip("cubic is 4-D only")
    x = rng.standard_normal((2, 3, *(4, 5, 6)[3 - rank :])).astype(np.float32)
    grid = rng.uniform(-1.6, 1.6, (2, *(3, 4, 5)[3 - rank :], rank)).astype(np.float32)
    got = wasmops.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=align)
    want = GS.reference(x, grid, mode=mode, padding_mode=padding, align_corners=align)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_grid_sample_reference_matches_onnx(mode, padding):
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    grid = rng.uniform(-1.4, 1.4, (1, 3, 4, 2)).astype(np.float32)
    node = helper.make_node("GridSample", ["x", "g"], ["y"], mode=mode, padding_mode=padding)
    model = _model(node, {"x": x, "g": grid}, opset=20)
    want = ReferenceEvaluator(model).run(None, {"x": x, "g": grid})[0]
    np.testing.assert_allclose(GS.reference(x, grid, mode, padding, False), want, rtol=1e-5, atol=1e-5)


def test_grid_sample_refusals():
    x, grid = np.zeros((1, 1, 2, 2, 2), np.float32), np.zeros((1, 1, 1, 1, 3), np.float32)
    with pytest.raises(ValueError, match="cubic mode is only supported on 4-D"):
        wasmops.grid_sample(x, grid, mode="cubic")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        wasmops.grid_sample(x, grid, padding_mode="wrap")


def _model(node, inputs: dict, inits=(), opset: int = 20):
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(k, F32, v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info("y", F32, None)],
        [numpy_helper.from_array(v, k) for k, v in dict(inits).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def _check(node, inputs: dict, inits=(), opset: int = 20, tol: float = 1e-5):
    model = _model(node, inputs, inits, opset)
    got = wo.InferenceSession(model).run(None, inputs)[0]
    want = ReferenceEvaluator(model).run(None, inputs)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dims", [(2, 4, 5), (2, 3, 4, 5)])
def test_affine_grid(dims):
    k = len(dims) - 1
    theta = rng.standard_normal((dims[0], k, k + 1)).astype(np.float32)
    size = np.array([dims[0], 3, *dims[1:]], np.int64)
    node = helper.make_node("AffineGrid", ["x", "size"], ["y"], align_corners=1)
    _check(node, {"x": theta}, {"size": size})


@pytest.mark.parametrize("shape", [[3, 8], [7, 2], [5, 5]])
def test_center_crop_pad(shape):
    x = rng.standard_normal((2, 5, 5)).astype(np.float32)
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=[1, 2])
    _check(node, {"x": x}, {"shape": np.array(shape, np.int64)}, opset=18)


def test_col2im():
    x = rng.standard_normal((1, 2 * 4, 12)).astype(np.float32)  # C=2, 2x2 blocks, 3x4 positions
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], strides=[2, 1], pads=[1, 0, 0, 0])
    _check(node, {"x": x}, {"image": np.array([5, 5], np.int64), "block": np.array([2, 2], np.int64)}, opset=18)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_3d_and_dilated(op):
    x = rng.standard_normal((1, 2, 5, 6, 7)).astype(np.float32)
    node = helper.make_node(
        op, ["x"], ["y"], kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 1, 0, 0, 1, 1], dilations=[2, 1, 2]
    )
    _check(node, {"x": x}, opset=19)


def test_avg_pool_padding_beyond_half_kernel():
    x = rng.standard_normal((1, 1, 5, 5)).astype(np.float32)
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[2, 2, 2, 2])
    _check(node, {"x": x}, opset=19)


def test_resize_tf_crop_and_resize():
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    node = helper.make_node(
        "Resize",
        ["x", "roi", "", "sizes"],
        ["y"],
        mode="linear",
        coordinate_transformation_mode="tf_crop_and_resize",
        extrapolation_value=2.5,
        axes=[3, 2],
    )
    inits = {"roi": np.array([0.2, -0.3, 1.2, 0.9], np.float32), "sizes": np.array([3, 5], np.int64)}
    _check(node, {"x": x}, inits, opset=19)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_antialias(mode):
    x = rng.standard_normal((1, 2, 9, 7)).astype(np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode, antialias=1)
    _check(node, {"x": x}, {"scales": np.array([1, 1, 0.4, 0.6], np.float32)}, opset=19, tol=1e-4)


@pytest.mark.parametrize("p", [2, 3])
def test_lp_pool(p):
    x = rng.standard_normal((1, 2, 6, 7)).astype(np.float32)
    node = helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], p=p)
    _check(node, {"x": x}, opset=18, tol=1e-4)


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices(storage_order):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    node = helper.make_node(
        "MaxPool",
        ["x"],
        ["y", "i"],
        kernel_shape=[3, 2],
        strides=[2, 1],
        pads=[1, 0, 1, 1],
        storage_order=storage_order,
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", F32, x.shape)],
        [helper.make_tensor_value_info("y", F32, None), helper.make_tensor_value_info("i", TensorProto.INT64, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=9)
    got = wo.InferenceSession(model).run(None, {"x": x})
    want = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_col2im_3d():
    # C=2, blocks 2x2x1; image 5x4x3 with pads / strides / dilations: 2 x 3 x 3 block positions
    x = rng.standard_normal((1, 2 * 4, 18)).astype(np.float32)
    node = helper.make_node(
        "Col2Im", ["x", "image", "block"], ["y"], strides=[2, 1, 1], pads=[1, 0, 0, 0, 0, 0], dilations=[1, 2, 1]
    )
    inits = {"image": np.array([4, 5, 3], np.int64), "block": np.array([2, 2, 1], np.int64)}
    _check(node, {"x": x}, inits, opset=18)


def _unpool_model():
    node = helper.make_node("MaxUnpool", ["x", "i"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("x", F32, (1, 2, 2, 2)),
            helper.make_tensor_value_info("i", TensorProto.INT64, (1, 2, 2, 2)),
        ],
        [helper.make_tensor_value_info("y", F32, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=9)


def test_max_unpool():
    x = rng.standard_normal((1, 2, 2, 2)).astype(np.float32)
    i = np.array([[[[0, 3], [9, 14]], [[16, 19], [25, 31]]]], np.int64)
    got = wo.InferenceSession(_unpool_model()).run(None, {"x": x, "i": i})[0]
    want = np.zeros(32, np.float32)
    want[i.reshape(-1)] = x.reshape(-1)
    np.testing.assert_array_equal(got, want.reshape(1, 2, 4, 4))


def test_max_unpool_index_out_of_range_raises():
    x = np.ones((1, 2, 2, 2), np.float32)
    i = np.array([[[[0, 3], [9, 14]], [[16, 19], [25, 32]]]], np.int64)
    with pytest.raises(Exception, match="index out of range"):
        wo.InferenceSession(_unpool_model()).run(None, {"x": x, "i": i})
