"""LSTM / GRU / RNN in whole graphs: kernels.onnx_recurrent unrolls them into plain ONNX ops before Relax.

ONNX level (no compile): the rewrite, run by onnxruntime, matches the ONNX node-test suite's expected outputs
for every recurrent case (rtol 1e-4), and matches onnxruntime on the original node for generated layers
covering every attribute (rtol 1e-4, atol 1e-6). Whole graph: models compiled by `wasmops.graph` match
onnxruntime (rtol 1e-3, atol 1e-4), including LSTM state carried across calls.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from wasmops.kernels.graph_compiler import GraphCompileError
from wasmops.kernels.onnx_recurrent import expand_recurrent

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for the rewrite")

RTOL, ATOL = 1e-4, 1e-6
GRAPH_RTOL, GRAPH_ATOL = 1e-3, 1e-4
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    names = {i.name for i in model.graph.input}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v for k, v in feeds.items() if k in names})


# ---- the ONNX node-test suite ---------------------------------------------------------------------------
def _suite_cases() -> dict:
    """The suite's recurrent cases: importing onnx's lstm / gru / rnn case modules generates just those (the
    whole suite takes ~30 s to generate); if the suite was already collected, they are in its list."""
    import onnx.backend.test.case.node as node_cases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for name in ("lstm", "gru", "rnn"):
            importlib.import_module(f"onnx.backend.test.case.node.{name}")
    prefixes = ("test_lstm", "test_gru", "test_simple_rnn", "test_rnn")
    return {c.name: c for c in node_cases._NodeTestCases if c.name.startswith(prefixes)}


SUITE = _suite_cases()


def test_suite_has_the_recurrent_cases():
    assert len(SUITE) >= 18, sorted(SUITE)
    assert {"test_lstm_with_peepholes", "test_gru_seq_length", "test_rnn_seq_length"} <= set(SUITE)


def _with_constants(model: onnx.ModelProto, feeds: dict, keep: set[str]) -> onnx.ModelProto:
    """The model with every graph input not in `keep` turned into an initializer holding its fed value."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inputs = [i for i in model.graph.input if i.name in keep]
    for i in model.graph.input:
        if i.name not in keep:
            model.graph.initializer.append(numpy_helper.from_array(feeds[i.name], i.name))
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model


@pytest.mark.parametrize("weights", ["inputs", "constants"])
@pytest.mark.parametrize("name", sorted(SUITE))
def test_suite_case_rewritten_matches_expected(name, weights):
    """sequence_lens must be a constant to be compiled, so it becomes one; W, R, initial states and P stay
    graph inputs ('inputs': the rewrite's tensor path) or become constants too (folded at rewrite time)."""
    case = SUITE[name]
    inputs, expected = case.data_sets[0]
    feeds = dict(zip([i.name for i in case.model.graph.input], inputs, strict=True))
    node = case.model.graph.node[0]
    keep = {node.input[0]} | ({n for i, n in enumerate(node.input) if i != 4} if weights == "inputs" else set())
    model = _with_constants(case.model, feeds, keep)
    rewritten = expand_recurrent(model)
    onnx.checker.check_model(rewritten)
    assert not {n.op_type for n in rewritten.graph.node} & set(GATES)
    got = _run(rewritten, feeds)
    assert len(got) == len(expected)
    for g, w in zip(got, expected, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=name)


# ---- generated layers: onnxruntime on the original vs on the rewrite --------------------------------------
def recurrent_model(
    op: str,
    *,
    steps: int = 5,
    batch: int = 3,
    inputs: int = 4,
    hidden: int = 6,
    direction: str = "forward",
    layout: int = 0,
    bias: bool = True,
    seq_lens: list[int] | None = None,
    state_inputs: bool = False,
    peepholes: bool = False,
    outputs: tuple[str, ...] = ("Y", "Y_h"),
    opset: int = 22,
    seed: int = 0,
    **attrs,
) -> tuple[onnx.ModelProto, dict]:
    """One recurrent node with seeded random weights (constants); X, and initial_h / initial_c when
    `state_inputs`, are graph inputs. Returns the model and its feeds."""
    rng = np.random.default_rng(seed)
    dirs, gates = 2 if direction == "bidirectional" else 1, GATES[op]

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    x_shape = (batch, steps, inputs) if layout else (steps, batch, inputs)
    s_shape = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    inits = [numpy_helper.from_array(rand(dirs, gates * hidden, inputs), "W")]
    inits.append(numpy_helper.from_array(rand(dirs, gates * hidden, hidden), "R"))
    names = ["X", "W", "R", "", "", "", "", ""]
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    feeds = {"X": rand(*x_shape) * 2}
    if bias:
        inits.append(numpy_helper.from_array(rand(dirs, 2 * gates * hidden), "B"))
        names[3] = "B"
    if seq_lens is not None:
        inits.append(numpy_helper.from_array(np.asarray(seq_lens, np.int32), "seq_lens"))
        names[4] = "seq_lens"
    if state_inputs:
        for i, state in ((5, "h0"), (6, "c0")) if op == "LSTM" else ((5, "h0"),):
            graph_inputs.append(helper.make_tensor_value_info(state, TensorProto.FLOAT, s_shape))
            feeds[state] = rand(*s_shape)
            names[i] = state
    if peepholes:
        inits.append(numpy_helper.from_array(rand(dirs, 3 * hidden), "P"))
        names[7] = "P"
    while not names[-1]:
        names.pop()
    if layout:
        attrs["layout"] = layout
    out_names = [n if n in outputs else "" for n in ("Y", "Y_h", "Y_c")[: 3 if op == "LSTM" else 2]]
    node = helper.make_node(
        op, names, out_names, name=f"{op.lower()}0", hidden_size=hidden, direction=direction, **attrs
    )
    y_shape = (batch, steps, dirs, hidden) if layout else (steps, dirs, batch, hidden)
    shapes = {"Y": y_shape, "Y_h": s_shape, "Y_c": s_shape}
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shapes[n]) for n in outputs]
    graph = helper.make_graph([node], "recurrent", graph_inputs, outs)
    graph.initializer.extend(inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), feeds


GENERATED = {
    "lstm_bidirectional_states_peepholes": dict(
        op="LSTM", direction="bidirectional", state_inputs=True, peepholes=True, outputs=("Y", "Y_h", "Y_c")
    ),
    "lstm_reverse_layout1_masked": dict(
        op="LSTM", direction="reverse", layout=1, state_inputs=True, seq_lens=[5, 2, 4], outputs=("Y", "Y_h", "Y_c")
    ),
    "lstm_bidirectional_masked": dict(op="LSTM", direction="bidirectional", seq_lens=[1, 5, 3], outputs=("Y", "Y_c")),
    "lstm_input_forget_clip_peepholes": dict(op="LSTM", input_forget=1, clip=0.7, peepholes=True, state_inputs=True),
    "lstm_activations": dict(
        op="LSTM",
        direction="bidirectional",
        activations=["HardSigmoid", "LeakyRelu", "Softsign", "Sigmoid", "ScaledTanh", "Elu"],
        activation_alpha=[0.3, 0.05, 0.8, 0.9],
        activation_beta=[0.4, 1.3],
    ),
    "lstm_no_bias_only_y_h": dict(op="LSTM", bias=False, outputs=("Y_h",)),
    "gru_bidirectional_linear_before_reset": dict(
        op="GRU", direction="bidirectional", linear_before_reset=1, state_inputs=True
    ),
    "gru_reverse_layout1_clip_masked": dict(op="GRU", direction="reverse", layout=1, clip=0.5, seq_lens=[3, 5, 1]),
    "gru_linear_before_reset_masked": dict(op="GRU", linear_before_reset=1, seq_lens=[4, 2, 5], state_inputs=True),
    "gru_activations": dict(
        op="GRU",
        activations=["Affine", "Softplus"],
        activation_alpha=[0.4],
        activation_beta=[0.1],
    ),
    "rnn_bidirectional_relu_layout1": dict(
        op="RNN", direction="bidirectional", layout=1, activations=["Relu", "ThresholdedRelu"], activation_alpha=[0.2]
    ),
    "rnn_reverse_masked_states": dict(op="RNN", direction="reverse", seq_lens=[2, 5, 3], state_inputs=True),
    "rnn_opset9_clip_thresholded": dict(
        op="RNN", opset=9, clip=0.6, activations=["ThresholdedRelu"], activation_alpha=[0.1], seq_lens=[5, 1, 3]
    ),
    "lstm_opset9_clip_bidirectional": dict(op="LSTM", opset=9, clip=0.4, direction="bidirectional", state_inputs=True),
}


def _reference(spec: dict, feeds: dict) -> list[np.ndarray]:
    """onnxruntime on the original node; for layout 1 (onnxruntime has no batch-first recurrent kernels), on
    its layout-0 twin (same seed: same weights) with the feeds and results transposed."""
    if not spec.get("layout"):
        return _run(recurrent_model(**spec)[0], feeds)
    twin, _ = recurrent_model(**{**spec, "layout": 0})
    results = _run(twin, {k: np.ascontiguousarray(v.transpose(1, 0, 2)) for k, v in feeds.items()})
    outputs = [o.name for o in twin.graph.output]
    return [
        r.transpose(2, 0, 1, 3) if n == "Y" else r.transpose(1, 0, 2) for n, r in zip(outputs, results, strict=True)
    ]


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_layer_rewritten_matches_onnxruntime(name):
    model, feeds = recurrent_model(**GENERATED[name])
    want = _reference(GENERATED[name], feeds)
    rewritten = expand_recurrent(model)
    onnx.checker.check_model(rewritten)
    assert not {n.op_type for n in rewritten.graph.node} & set(GATES)
    got = _run(rewritten, feeds)
    assert [o.name for o in rewritten.graph.output] == [o.name for o in model.graph.output]
    for g, w, out in zip(got, want, model.graph.output, strict=True):
        assert g.shape == w.shape, out.name
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"{name}: {out.name}")


def test_double_lstm_matches_the_onnx_reference():
    """onnxruntime has no double LSTM: onnx's reference evaluator is the oracle for float64."""
    from onnx.reference import ReferenceEvaluator

    model, feeds = recurrent_model("LSTM", outputs=("Y", "Y_h", "Y_c"), state_inputs=True)
    for t in model.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for vi in [*model.graph.input, *model.graph.output]:
        vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    feeds = {k: v.astype(np.float64) for k, v in feeds.items()}
    want = ReferenceEvaluator(model).run(None, feeds)
    got = _run(expand_recurrent(model), feeds)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_rewrite_shape_one_projection_per_direction_and_only_used_outputs():
    """X W^T for all steps is one MatMul per direction; per step only h R^T; Y is not built when unread."""
    model, _ = recurrent_model("LSTM", steps=8, direction="bidirectional", outputs=("Y_h",))
    nodes = expand_recurrent(model).graph.node
    matmuls = [n for n in nodes if n.op_type == "MatMul"]
    assert len(matmuls) == 2 + 2 * 8 - 2  # 2 projections; h0 = 0 makes step 0's h R^T vanish
    assert not any(n.op_type == "Concat" and len(n.input) == 8 for n in nodes)  # no Y
    assert len(nodes) < 2 * 8 * 20


def test_model_without_recurrent_nodes_is_returned_unchanged():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph)
    assert expand_recurrent(model) is model


def _refused(model: onnx.ModelProto, *words: str) -> None:
    with pytest.raises(GraphCompileError) as err:
        expand_recurrent(model)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_refusals_name_the_node_and_the_reason():
    model, _ = recurrent_model("LSTM")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "seq"
    _refused(model, "lstm0", "seq_length", "not static")

    model, _ = recurrent_model("GRU", layout=1)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    _refused(model, "gru0", "batch_size")

    model, _ = recurrent_model("RNN", seq_lens=[5, 5, 5])  # sequence_lens fed at run time
    seq = next(t for t in model.graph.initializer if t.name == "seq_lens")
    model.graph.initializer.remove(seq)
    model.graph.input.append(helper.make_tensor_value_info("seq_lens", TensorProto.INT32, [3]))
    _refused(model, "rnn0", "sequence_lens", "graph input")

    _refused(recurrent_model("RNN", seq_lens=[5, 0, 2])[0], "rnn0", "sequence_lens [5, 0, 2]")
    _refused(recurrent_model("RNN", activations=["Gelu"])[0], "rnn0", "'gelu' is not supported")
    _refused(recurrent_model("RNN", activations=["Affine"])[0], "rnn0", "activation_alpha")


def test_full_constant_sequence_lens_add_no_masks():
    model, feeds = recurrent_model("GRU", seq_lens=[5, 5, 5])
    rewritten = expand_recurrent(model)
    assert "Where" not in {n.op_type for n in rewritten.graph.node}
    np.testing.assert_allclose(_run(rewritten, feeds)[0], _run(model, feeds)[0], rtol=RTOL, atol=ATOL)


# ---- whole graphs: compiled by wasmops.graph, run in wasm, against onnxruntime ---------------------------
def _stacked_bidirectional_lstm_rnn() -> tuple[onnx.ModelProto, dict]:
    """A bidirectional LSTM whose Y (T, 2, B, H), made (T, B, 2H), feeds a ReLU RNN: a stacked tagger."""
    lstm, feeds = recurrent_model(
        "LSTM", steps=6, batch=2, inputs=16, hidden=24, direction="bidirectional", outputs=("Y", "Y_c"), seed=1
    )
    rnn, _ = recurrent_model("RNN", steps=6, batch=2, inputs=48, hidden=16, activations=["Relu"], seed=2)
    g = lstm.graph
    g.node.extend(
        [
            helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", ["Yt", "flat"], ["X2"]),
        ]
    )
    g.initializer.append(numpy_helper.from_array(np.asarray([6, 2, 48], np.int64), "flat"))
    node = rnn.graph.node[0]
    node.input[:] = ["X2", "W2", "R2", "B2"]
    node.output[:] = ["", "rnn_h"]
    for t in rnn.graph.initializer:
        t.name = t.name + "2"
    g.node.append(node)
    g.initializer.extend(rnn.graph.initializer)
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in (("rnn_h", [1, 2, 16]),)])
    g.output.append(helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, [2, 2, 24]))
    return lstm, feeds


#: PyTorch's GRU (linear_before_reset), batch-first, both directions, constant shorter sequence lengths
GRU_SPEC = dict(
    op="GRU",
    steps=5,
    batch=3,
    inputs=12,
    hidden=20,
    direction="bidirectional",
    layout=1,
    linear_before_reset=1,
    seq_lens=[5, 3, 1],
    state_inputs=True,
    seed=3,
)


def _gru_bidirectional_masked() -> tuple[onnx.ModelProto, dict]:
    return recurrent_model(**GRU_SPEC)


def _streaming_lstm() -> tuple[onnx.ModelProto, dict]:
    """A streaming detector: LSTM with peepholes and state in / state out, then a sigmoid head on Y."""
    model, feeds = recurrent_model(
        "LSTM", steps=4, batch=1, inputs=32, hidden=40, state_inputs=True, peepholes=True,
        outputs=("Y", "Y_h", "Y_c"), seed=4,
    )  # fmt: skip
    g = model.graph
    head = (np.random.default_rng(5).standard_normal((40, 1)) * 0.3).astype(np.float32)
    g.initializer.append(numpy_helper.from_array(head, "head"))
    g.node.extend(
        [
            helper.make_node("MatMul", ["Y", "head"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["prob"]),
        ]
    )
    g.output.insert(0, helper.make_tensor_value_info("prob", TensorProto.FLOAT, [4, 1, 1, 1]))
    g.output.remove(next(o for o in g.output if o.name == "Y"))
    return model, feeds


#: one layer per non-default activation the ONNX spec lists, all reading the same X
ACTIVATION_SPECS = [
    dict(op="LSTM", activations=["HardSigmoid", "Elu", "Softplus"], activation_alpha=[0.3, 0.9], activation_beta=[0.4]),
    dict(op="GRU", activations=["Softsign", "ScaledTanh"], activation_alpha=[0.8], activation_beta=[1.2], clip=0.9),
    dict(op="RNN", activations=["LeakyRelu"], activation_alpha=[0.1]),
    dict(op="RNN", activations=["ThresholdedRelu"], activation_alpha=[0.2]),
    dict(op="RNN", activations=["Affine"], activation_alpha=[0.5], activation_beta=[0.1]),
]


def _activation_zoo() -> tuple[onnx.ModelProto, dict]:
    """Five recurrent nodes side by side on one input, their weights and outputs renamed apart."""
    model, feeds = recurrent_model(**ACTIVATION_SPECS[0], steps=3, batch=2, inputs=8, hidden=16, outputs=("Y_h",))
    g = model.graph
    g.output[0].name = g.node[0].output[1] = "Y_h0"
    for k, spec in enumerate(ACTIVATION_SPECS[1:], 1):
        other, _ = recurrent_model(**spec, steps=3, batch=2, inputs=8, hidden=16, outputs=("Y_h",), seed=k)
        node, out = other.graph.node[0], other.graph.output[0]
        node.input[1:] = [n + str(k) if n else n for n in node.input[1:]]
        node.output[1] = out.name = f"Y_h{k}"
        node.name += str(k)
        for t in other.graph.initializer:
            t.name += str(k)
        g.node.append(node)
        g.initializer.extend(other.graph.initializer)
        g.output.append(out)
    return model, feeds


def _opset9_lstm() -> tuple[onnx.ModelProto, dict]:
    """Old exports: attribute forms of Clip and Split, slices as Gathers (TVM reads only Slice's input form)."""
    return recurrent_model(
        "LSTM", opset=9, clip=0.4, direction="bidirectional", state_inputs=True, peepholes=True,
        outputs=("Y", "Y_h", "Y_c"), seed=7,
    )  # fmt: skip


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
    import wasmops.graph as wg

    root = tmp_path_factory.mktemp("recurrent")
    cache: dict = {}

    def get(build):
        if build not in cache:
            model, feeds = build()
            path = wg.compile_graph(model, root / f"{build.__name__.strip('_')}.wasm", progress=False)
            cache[build] = (model, feeds, wg.InferenceSession(path))
        return cache[build]

    return get


@pytest.mark.parametrize(
    "build,reference",
    [
        (_stacked_bidirectional_lstm_rnn, lambda model, feeds: _run(model, feeds)),
        (_gru_bidirectional_masked, lambda model, feeds: _reference(GRU_SPEC, feeds)),
        (_activation_zoo, lambda model, feeds: _run(model, feeds)),
        (_opset9_lstm, lambda model, feeds: _run(model, feeds)),
    ],
    ids=["lstm_bidirectional_then_rnn", "gru_bidirectional_batch_first_masked", "every_activation", "opset9_lstm"],
)
def test_whole_graph_matches_onnxruntime(compiled, build, reference):
    model, feeds, sess = compiled(build)
    got = sess.run(None, feeds)
    want = reference(model, feeds)
    assert [o.name for o in sess.get_outputs()] == [o.name for o in model.graph.output]
    for g, w, out in zip(got, want, model.graph.output, strict=True):
        assert g.shape == w.shape, out.name
        np.testing.assert_allclose(g, w, rtol=GRAPH_RTOL, atol=GRAPH_ATOL, err_msg=out.name)


def test_whole_graph_lstm_state_across_calls(compiled):
    """Y_h / Y_c of one call are the next call's initial_h / initial_c, on both sides, for four calls."""
    model, feeds, sess = compiled(_streaming_lstm)
    rng = np.random.default_rng(6)
    ours = ref = {"h0": feeds["h0"], "c0": feeds["c0"]}
    for call in range(4):
        x = (rng.standard_normal(feeds["X"].shape) * (0.5 + call)).astype(np.float32)
        got = sess.run(None, {"X": x, **ours})
        want = _run(model, {"X": x, **ref})
        for g, w, out in zip(got, want, model.graph.output, strict=True):
            np.testing.assert_allclose(g, w, rtol=GRAPH_RTOL, atol=GRAPH_ATOL, err_msg=f"call {call}: {out.name}")
        ours, ref = {"h0": got[1], "c0": got[2]}, {"h0": want[1], "c0": want[2]}
