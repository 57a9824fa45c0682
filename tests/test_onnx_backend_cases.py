"""The `onnx` package's pytorch-converted and pytorch-operator cases: every case whose operators the
registry supports must match the stored expected outputs; unsupported ones are skipped with the reason.

`MIN_PASSING` is the coverage floor: the count test fails if fewer cases pass than that, so a regression
in any translator shows up even when its cases would otherwise be skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import wasmops.onnx as wo

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
CASES = sorted(
    p.parent for kind in ("pytorch-converted", "pytorch-operator") for p in (DATA / kind).glob("*/model.onnx")
)
MIN_PASSING = 99  # raised as coverage grows; see test_coverage_floor
RTOL, ATOL = 1e-3, 1e-4
_results: dict[str, str] = {}


def _load(case: Path):
    model = onnx.load(str(case / "model.onnx"))
    data = case / "test_data_set_0"
    inputs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(data.glob("input_*.pb"))]
    outputs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(data.glob("output_*.pb"))]
    return model, inputs, outputs


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_backend_case(case):
    model, inputs, expected = _load(case)
    try:
        sess = wo.InferenceSession(model)
    except wo.UnsupportedError as exc:
        _results[case.name] = "skipped"
        pytest.skip(f"unsupported: {str(exc).splitlines()[-1].strip()}")
    feeds = {arg.name: x for arg, x in zip(sess.get_inputs(), inputs, strict=True)}
    try:
        got = sess.run(None, feeds)
    except wo.UnsupportedError as exc:
        _results[case.name] = "skipped"
        pytest.skip(f"unsupported for these shapes: {exc}")
    for g, w in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    _results[case.name] = "passed"


def test_coverage_floor():
    if len(_results) < len(CASES):
        pytest.skip("run together with the backend cases")
    passed = sum(r == "passed" for r in _results.values())
    assert passed >= MIN_PASSING, f"only {passed} backend cases pass; the floor is {MIN_PASSING}"
