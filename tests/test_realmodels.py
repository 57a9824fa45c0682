"""Real trained models (tests/realmodels) in both paths against onnxruntime, when `make realmodels` has fetched
them (the wheels and the exporter's torch are ~1 GB of downloads, so `make test` does not fetch them)."""

from __future__ import annotations

import pytest

from .realmodels.catalog import MODELS
from .realmodels.fetch import cache_dir
from .realmodels.run import compare, op_by_op, reference, whole_graph

pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")


@pytest.fixture(params=MODELS, ids=lambda m: m.name)
def fetched(request):
    model, cache = request.param, cache_dir()
    if not model.path(cache).exists():
        pytest.skip(f"{model.name} is not fetched: `make realmodels` downloads it into {cache}")
    return model, cache


@pytest.mark.parametrize("path", ["op by op", "whole graph"], ids=["op_by_op", "whole_graph"])
def test_real_model_matches_onnxruntime(fetched, path):
    model, cache = fetched
    if path == "whole graph":
        pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
    names, want = reference(model, cache)
    got = (op_by_op if path == "op by op" else whole_graph)(model, cache, names)
    status, err, detail = compare(model, cache, want, got)
    assert status in ("match", "same decision"), f"{model.name} {path}: {status} (max abs error {err}) {detail}"
