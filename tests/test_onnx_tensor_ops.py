"""ONNX Erf, Where, Expand, Gather, Cast, Slice, Split, comparisons and Not against onnxruntime.

Each graph is tiny and built with onnx.helper; graph inputs make the nodes run on the wasm kernels,
initializer-only subgraphs check the numpy folding. Everything but Erf is exact (tolerance 0); Erf uses
TVM's fast_erf, whose absolute error is ~1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops.onnx as wo
from wasmops.registry import onnx_tensor_ops  # noqa: F401 - registers the translators under test

ort = pytest.importorskip("onnxruntime")
rng = np.random.default_rng(0)
n = helper.make_node
F32, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _model(nodes, inputs, outputs, inits=(), opset: int = 17):
    ins = [helper.make_tensor_value_info(name, t, shape) for name, t, shape in inputs]
    outs = [helper.make_tensor_value_info(name, t, None) for name, t in outputs]
    graph = helper.make_graph(nodes, "g", ins, outs, [numpy_helper.from_array(v, k) for k, v in dict(inits).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _check(model, feeds, atol: float = 0.0):
    got = wo.InferenceSession(model).run(None, feeds)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=0, atol=atol)
    return got


def _f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_erf():
    x = np.concatenate([_f32(500) * 2, np.float32([0, 5, -5, np.inf, -np.inf])])
    _check(_model([n("Erf", ["x"], ["y"])], [("x", F32, [505])], [("y", F32)]), {"x": x}, atol=2e-6)


@pytest.mark.parametrize(("c", "x", "y"), [((3, 37), (3, 37), (3, 37)), ((3, 1), (37,), ()), ((2, 1, 4), (3, 1), (4,))])
def test_where(c, x, y):
    model = _model([n("Where", ["c", "x", "y"], ["z"])], [("c", BOOL, c), ("x", F32, x), ("y", F32, y)], [("z", F32)])
    _check(model, {"c": rng.random(c) > 0.5, "x": _f32(*x), "y": _f32(*y)})


def test_where_int64_values_and_constant_branches():
    nodes = [n("Where", ["c", "x", "k"], ["z"]), n("Where", ["c", "one", "zero"], ["m"])]
    inits = {"k": np.int64([7, -7, 70]), "one": np.float32(1), "zero": np.float32(0)}
    model = _model(nodes, [("c", BOOL, [4, 3]), ("x", I64, [4, 3])], [("z", I64), ("m", F32)], inits)
    _check(model, {"c": rng.random((4, 3)) > 0.5, "x": rng.integers(-9, 9, (4, 3))})


@pytest.mark.parametrize(
    ("shape", "target"), [((3, 1), [2, 1, 5]), ((1, 4), [3, 4]), ((2, 3), [1, 1]), ((1,), [2, 2, 17])]
)
def test_expand(shape, target):
    nodes = [n("Expand", ["x", "s"], ["y"]), n("Expand", ["i", "s"], ["j"])]
    model = _model(nodes, [("x", F32, shape), ("i", I64, shape)], [("y", F32), ("j", I64)], {"s": np.int64(target)})
    _check(model, {"x": _f32(*shape), "i": rng.integers(-5, 5, shape)})


@pytest.mark.parametrize(
    ("shape", "indices", "axis"),
    [((10, 3), [[1, -1], [0, 9]], 0), ((4, 5, 6), [-2, 0, 4], 1), ((4, 5, 6), [5], -1), ((4, 5), 3, 1)],
)
def test_gather(shape, indices, axis):
    ind = np.array(indices, np.int64)
    nodes = [n("Gather", ["x", "i"], ["y"], axis=axis), n("Gather", ["x", "k"], ["z"], axis=axis)]
    # a 0-d index is fed as shape (1,) and reshaped: the session turns 0-d feeds into 1-d ones
    nodes.insert(0, n("Reshape", ["i1", "s"], ["i"]))
    inits = {"k": ind, "s": np.array(ind.shape, np.int64)}
    model = _model(nodes, [("x", F32, shape), ("i1", I64, [max(ind.size, 1)])], [("y", F32), ("z", F32)], inits)
    _check(model, {"x": _f32(*shape), "i1": ind.reshape(-1)})


def test_gather_folds_shape_arithmetic():
    nodes = [n("Shape", ["x"], ["s"]), n("Gather", ["s", "k"], ["d"]), n("Gather", ["s", "ks"], ["ds"], axis=0)]
    inits = {"k": np.int64(-1), "ks": np.int64([0, 2])}
    _check(_model(nodes, [("x", F32, [2, 3, 4])], [("d", I64), ("ds", I64)], inits), {"x": _f32(2, 3, 4)})


@pytest.mark.parametrize(
    ("src", "dst"),
    [(F32, TensorProto.INT32), (F32, I64), (F32, BOOL), (I64, F32), (BOOL, F32), (BOOL, TensorProto.INT32)],
)
def test_cast(src, dst):
    feeds = {
        F32: np.float32([0, -0.0, 0.5, -0.5, 1.99, -1.99, 7, -300.7, np.nan, 1e9]),
        I64: rng.integers(-1000, 1000, 10),
        BOOL: rng.random(10) > 0.5,
    }
    if dst != BOOL:
        feeds[F32] = np.nan_to_num(feeds[F32])  # NaN -> int is implementation-defined in onnxruntime
    model = _model([n("Cast", ["x"], ["y"], to=dst)], [("x", src, [10])], [("y", dst)])
    _check(model, {"x": feeds[src]})


SLICES = [  # starts, ends, axes, steps
    ([1, 2], [3, 30], [0, 2], None),
    ([-1], [-(2**63)], [1], [-1]),  # reversed to the start
    ([0, 2**62], [2**63 - 1, 0], [2, 1], [3, -2]),  # clamped, negative step
    ([4], [1], [0], None),  # empty
    ([0], [2], [-3], None),
]


@pytest.mark.parametrize(("starts", "ends", "axes", "steps"), SLICES)
def test_slice(starts, ends, axes, steps):
    names, inits = ["x", "b", "e", "a"], {"b": np.int64(starts), "e": np.int64(ends), "a": np.int64(axes)}
    if steps is not None:
        names.append("p")
        inits["p"] = np.int64(steps)
    model = _model([n("Slice", names, ["y"])], [("x", F32, [4, 5, 33])], [("y", F32)], inits, opset=13)
    _check(model, {"x": _f32(4, 5, 33)})


def test_slice_opset9_attributes_and_constant_folding():
    nodes = [
        n("Slice", ["x"], ["y"], starts=[1, -3], ends=[3, 1000], axes=[1, 2]),
        n("Shape", ["x"], ["s"]),
        n("Slice", ["s"], ["t"], starts=[1], ends=[3]),  # int64 shape arithmetic, folded
    ]
    model = _model(nodes, [("x", F32, [2, 4, 6])], [("y", F32), ("t", I64)], opset=9)
    _check(model, {"x": _f32(2, 4, 6)})


@pytest.mark.parametrize(
    ("opset", "split", "attrs"),
    [(11, None, {"split": [1, 3, 2]}), (13, [1, 3, 2], {}), (18, None, {"num_outputs": 3}), (18, [4, 0, 2], {})],
)
def test_split(opset, split, attrs):
    names, inits = ["x"], {}
    if split is not None:
        names.append("s")
        inits["s"] = np.int64(split)
    node = n("Split", names, ["a", "b", "c"], axis=1, **attrs)
    model = _model([node], [("x", F32, [2, 6, 5])], [("a", F32), ("b", F32), ("c", F32)], inits, opset=opset)
    _check(model, {"x": _f32(2, 6, 5)})


def test_split_without_sizes_before_opset_18_splits_equally_by_output_count():
    model = _model(
        [n("Split", ["x"], ["a", "b", "c"], axis=1)], [("x", F32, [4, 6])], [("a", F32), ("b", F32), ("c", F32)]
    )
    _check(model, {"x": _f32(4, 6)})


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparisons(op):
    nodes = [n(op, ["x", "y"], ["z"]), n(op, ["i", "k"], ["w"]), n("Not", ["z"], ["nz"])]
    ins = [("x", F32, [3, 17]), ("y", F32, [17]), ("i", I64, [2, 16])]
    outs = [("z", BOOL), ("w", BOOL), ("nz", BOOL)]
    model = _model(nodes, ins, outs, {"k": np.int64(0)})
    x = np.round(_f32(3, 17))
    y = np.round(_f32(17))
    y[0] = np.nan
    _check(model, {"x": x, "y": y, "i": rng.integers(-1, 2, (2, 16))})


def test_bert_like_embeddings_and_attention_mask():
    """Word, position and token-type embeddings (Gather) and the additive attention bias a HF BERT export
    builds from the int64 mask: Cast(bool) -> Unsqueeze -> Not -> Expand -> Where(-inf-ish, 0)."""
    batch, seq, vocab, hidden, heads = 2, 16, 1000, 64, 4
    f_min = np.float32(np.finfo(np.float32).min)
    nodes = [
        n("Gather", ["word_emb", "ids"], ["words"]),
        n("Shape", ["ids"], ["ids_shape"]),
        n("Gather", ["ids_shape", "one"], ["seq_len"]),
        n("Unsqueeze", ["seq_len", "zero_axis"], ["seq_end"]),
        n("Slice", ["position_ids", "zero_1d", "seq_end", "one_1d"], ["pos_ids"]),
        n("Gather", ["pos_emb", "pos_ids"], ["positions"]),  # all constant: folded at load
        n("ConstantOfShape", ["ids_shape"], ["type_ids"], value=numpy_helper.from_array(np.int64([0]))),
        n("Gather", ["type_emb", "type_ids"], ["types"]),
        n("Cast", ["mask"], ["mask_b"], to=BOOL),
        n("Unsqueeze", ["mask_b", "axes12"], ["mask4"]),
        n("Not", ["mask4"], ["pad4"]),
        n("Expand", ["pad4", "score_shape"], ["pad_full"]),
        n("Where", ["pad_full", "fmin", "zero_f"], ["bias"]),
    ]
    inits = {
        "word_emb": _f32(vocab, hidden),
        "pos_emb": _f32(512, hidden),
        "type_emb": _f32(2, hidden),
        "position_ids": np.arange(512, dtype=np.int64)[None],
        "one": np.int64(1),
        "zero_axis": np.int64([0]),
        "zero_1d": np.int64([0]),
        "one_1d": np.int64([1]),
        "axes12": np.int64([1, 2]),
        "score_shape": np.int64([batch, heads, seq, seq]),
        "fmin": f_min,
        "zero_f": np.float32(0),
    }
    ins = [("ids", I64, [batch, seq]), ("mask", I64, [batch, seq])]
    outs = [("words", F32), ("positions", F32), ("types", F32), ("bias", F32)]
    ids = rng.integers(0, vocab, (batch, seq))
    mask = np.ones((batch, seq), np.int64)
    mask[1, 11:] = 0
    words, _, _, bias = _check(_model(nodes, ins, outs, inits), {"ids": ids, "mask": mask})
    np.testing.assert_array_equal(words, inits["word_emb"][ids])
    assert bias.shape == (batch, heads, seq, seq) and (bias[1, :, :, 11:] == f_min).all() and (bias[0] == 0).all()
