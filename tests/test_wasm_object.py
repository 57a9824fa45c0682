"""kernels/wasm_object: static kernels written with their constant address offsets folded into the loads.

The IR rewrite marks only instruction GEPs with no flags and a constant non-negative offset; a conv kernel
built that way computes what a float64 numpy conv computes and what the stock object computes, bit for
bit, in less code (each folded offset drops an `i32.const` + `i32.add`).
"""

from __future__ import annotations

import numpy as np
import pytest

tvm = pytest.importorskip("tvm", reason="building kernels needs the [build] extra (apache-tvm)")

from wasmops.kernels import wasm_object  # noqa: E402
from wasmops.kernels.tune import builder  # noqa: E402
from wasmops.kernels.tune import conv_space as sp  # noqa: E402
from wasmops.kernels.tune.runner import LoadedKernel  # noqa: E402

IR = """\
  %a = getelementptr i8, ptr %p, i32 16
  %b = getelementptr i8, ptr %p, i32 -16
  %c = getelementptr i8, ptr %p, i32 %i
  %d = getelementptr inbounds i8, ptr %p, i32 32
  %e = load i32, ptr getelementptr (i8, ptr @g, i32 16), align 4
  %f = getelementptr <4 x float>, ptr %q.1, i32 3, !dbg !53
  %g = getelementptr i8, <4 x ptr> %v, i32 16
  %h = getelementptr float, ptr %r, i32 7
"""


def test_only_flagless_constant_non_negative_offsets_are_marked():
    out, marked = wasm_object.fold_offsets(IR)
    lines = dict(line.strip().split(" = ", 1) for line in out.splitlines())
    assert marked == 3
    assert lines["%a"] == "getelementptr inbounds nuw i8, ptr %p, i32 16"
    assert lines["%f"] == "getelementptr inbounds nuw <4 x float>, ptr %q.1, i32 3, !dbg !53"
    assert lines["%h"] == "getelementptr inbounds nuw float, ptr %r, i32 7"
    for kept in ("%b", "%c", "%d", "%e", "%g"):  # negative, variable, flagged, constant expression, vector
        assert lines[kept] == dict(line.strip().split(" = ", 1) for line in IR.splitlines())[kept]


def _run(path, config, variant):
    args, want = sp.inputs(config, variant)
    kernel = LoadedKernel(path, [(a.shape, a.dtype) for a in args], data=args)
    try:
        kernel.call()
        return kernel.buffers()[-1], want
    finally:
        kernel.close()


@pytest.mark.parametrize(
    "config",
    [
        ((1, 32, 8, 8), (16, 32, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 1x1, 64 pixels: input x-tiled
        ((1, 16, 9, 11), (12, 16, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),  # im2col columns, x-tiled
    ],
    ids=["1x1", "3x3 s2"],
)
def test_folded_kernel_matches_numpy_and_the_stock_build_in_less_code(config, tmp_path):
    variant = sp.cs.choose(*config)
    func = sp.conv_kernel(config, variant)
    folded = builder.compile_kernel(func, "relaxed-simd", tmp_path / "folded.wasm", fold_offsets=True)
    stock = builder.compile_kernel(func, "relaxed-simd", tmp_path / "stock.wasm", fold_offsets=False)
    got, want = _run(folded, config, variant)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # fp32 FMA sums vs float64
    assert np.array_equal(got, _run(stock, config, variant)[0])  # same arithmetic, other addressing
    assert folded.stat().st_size < stock.stat().st_size
