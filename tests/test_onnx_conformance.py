"""The ONNX conformance suite, op by op: every node-test case the `onnx` package generates.

A case either passes (outputs equal to the suite's, at its own tolerances capped at rtol 1e-3), or is
skipped because the session refused it with UnsupportedError (the reason is the skip message). A wrong
answer or any other exception fails. `conformance/passing.txt` is the ratchet: a case on that list that
does not pass fails by name, so coverage never silently shrinks; add cases as they start passing
(`python -m tests.conformance.suite --write-passing`).
"""

from __future__ import annotations

import pytest

from tests.conformance.suite import cases, passing_list, run_case

NAMES = sorted(cases())
PASSING = set(passing_list())


def test_passing_list_names_real_cases():
    unknown = sorted(PASSING - set(NAMES))
    assert not unknown, f"passing.txt names cases the suite does not have: {unknown[:10]}"


@pytest.mark.parametrize("name", NAMES)
def test_conformance_case(name):
    outcome = run_case(name)
    if outcome.status == "pass":
        return
    if name in PASSING:
        pytest.fail(f"{name} passed before and now is {outcome.status}: {outcome.detail}")
    if outcome.status in ("unsupported", "nodata"):
        pytest.skip(f"{outcome.status}: {outcome.detail}")
    pytest.fail(f"{outcome.status}: {outcome.detail}")
