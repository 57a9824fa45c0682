"""Every op against its numpy reference, case by case (tests/cases/*); tolerances are per case."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops
from wasmops.ops import all_ops

from .cases import all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op_matches_reference(case, runtime):
    fn = getattr(wasmops, case.op)
    got = fn(*case.inputs, **case.attrs)
    want = all_ops()[case.op].reference(*case.inputs, **case.attrs)
    if isinstance(want, tuple):  # a multi-output op (batch_norm_train, adam_update, ...): each result
        assert isinstance(got, tuple) and len(got) == len(want), f"{case}: {len(want)} results expected"
    else:
        got, want = (got,), (want,)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype, f"{case} result {i}: dtype {g.dtype} != reference {w.dtype}"
        assert g.shape == w.shape, f"{case} result {i}: shape {g.shape} != reference {w.shape}"
        np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol, err_msg=f"{case} result {i}")


def test_every_op_has_cases():
    covered = {c.op for c in CASES}
    missing = sorted(op.name for op in all_ops() if op.name not in covered)
    assert not missing, f"ops without test cases: {missing}"
