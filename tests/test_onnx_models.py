"""Real architectures through wasmops.onnx.InferenceSession against onnxruntime (rtol 1e-3, atol 1e-4).

The `onnx` package's light models get seeded random weights (wasmops.models.light_model), so outputs depend
on every layer; the logits that feed the final Softmax are compared too.
"""

from __future__ import annotations

import numpy as np
import pytest

import wasmops.onnx as wo
from wasmops.models import LIGHT_MODELS, light_model

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for graph tests")
MODELS = list(LIGHT_MODELS)
RTOL, ATOL = 1e-3, 1e-4


@pytest.mark.parametrize("name", MODELS)
def test_light_model_matches_onnxruntime(name):
    model = light_model(name)
    sess = wo.InferenceSession(model)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(1).standard_normal(inp.shape).astype(np.float32)
    got = sess.run(None, {inp.name: x})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {inp.name: x})
    assert len(got) == len(want) >= 1
    for g, w, out in zip(got, want, sess.get_outputs(), strict=True):
        assert g.shape == w.shape, out.name
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"{name}: output {out.name}")
    assert np.std(want[-1]) > 1e-3, "the random weights should make the logits input-dependent"
    steps, timings = sess.run_steps(None, {inp.name: x})  # node by node gives the same numbers
    np.testing.assert_array_equal(steps[0], got[0])
    assert len(timings) > 5 and all(t.label.startswith("node ") and t.seconds >= 0 for t in timings)
