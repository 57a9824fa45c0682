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
    assert got.dtype == want.dtype, f"{case}: dtype {got.dtype} != reference {want.dtype}"
    assert got.shape == want.shape, f"{case}: shape {got.shape} != reference {want.shape}"
    np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol, err_msg=str(case))


def test_every_op_has_cases():
    covered = {c.op for c in CASES}
    missing = sorted(op.name for op in all_ops() if op.name not in covered)
    assert not missing, f"ops without test cases: {missing}"
