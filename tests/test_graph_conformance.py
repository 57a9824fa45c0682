"""The ONNX conformance suite through the whole-graph path (compile_graph -> wasmops.graph.InferenceSession).

`make test` runs a fixed sample (every SAMPLE_STEP-th case by name, about 4 minutes on 2 cores with its
compiles; the builds are kept under build/conformance-graphs/ so a rerun takes seconds); `make
conformance-graphs` runs every case. A case passes (outputs equal to the suite's at its own tolerances, capped
at rtol 1e-3) or is skipped because the compiler refused it (GraphCompileError / UnsupportedError naming the
node, operator and reason: the skip message). A wrong answer or any other exception fails.
`conformance/graph_passing.txt` is the ratchet: a listed case that stops passing fails by name
(`python -m tests.conformance.graph_suite --write-passing` adds new passes).
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")

from tests.conformance.graph_suite import passing_list, run_case, sample  # noqa: E402
from tests.conformance.suite import cases  # noqa: E402

#: WASMOPS_GRAPH_CONFORMANCE=all runs every case (what `make conformance-graphs` does)
NAMES = sorted(cases()) if os.environ.get("WASMOPS_GRAPH_CONFORMANCE") == "all" else sample()
PASSING = set(passing_list())


def test_graph_passing_list_names_real_cases():
    unknown = sorted(PASSING - set(cases()))
    assert not unknown, f"graph_passing.txt names cases the suite does not have: {unknown[:10]}"


@pytest.mark.parametrize("name", NAMES)
def test_graph_conformance_case(name):
    outcome = run_case(name)
    if outcome.status == "pass":
        return
    if name in PASSING:
        pytest.fail(f"{name} passed through the whole-graph path before and now is {outcome.status}: {outcome.detail}")
    if outcome.status in ("refused", "nodata"):
        pytest.skip(f"{outcome.status}: {outcome.detail}")
    pytest.fail(f"{outcome.status}: {outcome.detail}")
