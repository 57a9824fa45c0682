"""Constant weights packed once on the host (graph translation sets PACK_CONSTANTS): every conv2d and dense
case of tests/cases/gemm.py runs on the `_packed` kernel variants and matches the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from wasmops.ops import all_ops
from wasmops.ops.spec import PACK_CONSTANTS, Call

from .cases.gemm import CASES

PACKABLE = [c for c in CASES if c.op in ("conv2d", "dense")]


@pytest.mark.parametrize("case", PACKABLE, ids=str)
def test_packed_weight_kernels_match_reference(case, runtime):
    op = all_ops()[case.op]
    token = PACK_CONSTANTS.set(True)
    try:
        plan = op.plan(*case.inputs, **case.attrs)
    finally:
        PACK_CONSTANTS.reset(token)
    chain = [plan] if isinstance(plan, Call) else plan
    # depthwise reads its KH x KW taps per channel as they are, one-row dense its weight rows: no packed variant
    # (a tunable kernel's entry names its shape class after "__")
    kernels = [c.kernel.split("__")[0] for c in chain]
    assert all(k.endswith(("_packed", "_depthwise", "_row")) for k in kernels), kernels
    got = runtime.run(plan)
    want = op.reference(*case.inputs, **case.attrs)
    np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol, err_msg=str(case))
