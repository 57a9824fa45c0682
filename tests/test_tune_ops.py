"""The op library's tunable tiles (ops/_tile_sizes, kernels/tune/op_tune, op_records, builder): every tile a
kernel allows computes the op (float64 numpy reference, the ops' own, not the tuner's check), every
shape-class entry of the built library is right on shapes of its class, `wasmops tune --ops` saves records
and `wasmops build` compiles the entries with them.

Short on purpose: odd small shapes; `wasmops tune --ops` on the benchmark shapes is where speed is measured.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

tvm = pytest.importorskip("tvm", reason="building tiles needs the [build] extra (apache-tvm)")

import wasmops  # noqa: E402
from wasmops.kernels import manifest  # noqa: E402
from wasmops.kernels.builder import build_library  # noqa: E402
from wasmops.kernels.tune import op_records, op_tune  # noqa: E402
from wasmops.kernels.tune import records as rec  # noqa: E402
from wasmops.kernels.tune.op_workloads import WORKLOADS, Workload, _conv, _dense  # noqa: E402
from wasmops.ops import all_ops  # noqa: E402
from wasmops.ops._tile_sizes import HAND, NR, PANEL_TILES, TILES, Tile, shape_class  # noqa: E402

#: odd sizes (rows and columns that no tile divides, packed weights whose panels a tile overruns) per class
SMALL = (
    _dense("dense", 7, 33, 45),
    _dense("dense few", 3, 20, 37),
    _dense("dense narrow", 9, 16, 13),
    Workload("matmul", "matmul", ((2, 7, 9), (2, 9, 45))),
    Workload("matmul few", "matmul", ((3, 9), (9, 40))),
    Workload("matmul narrow", "matmul", ((2, 11, 9), (9, 21))),
    _conv("conv s1", (1, 7, 20, 40), 11, 3, padding=1),
    _conv("conv s1 narrow", (1, 5, 12, 20), 9, 3),
    _conv("conv s2", (1, 5, 40, 70), 7, 3, stride=2, padding=1),
    _conv("conv s2 narrow", (1, 5, 30, 50), 13, 3, stride=2),
    _conv("conv 1x1", (1, 9, 6, 7), 13, 1),
    _conv("conv 1x1 narrow", (1, 9, 3, 5), 10, 1),
    _conv("conv im2col", (1, 6, 9, 9), 10, 3, padding=1),
    _conv("conv im2col narrow", (1, 6, 5, 5), 10, 3, padding=1),
    _conv("conv s1 few", (1, 5, 10, 40), 3, 3),
    _conv("conv s2 few", (1, 5, 20, 70), 4, 3, stride=2),
    _conv("conv 1x1 few", (1, 9, 6, 7), 2, 1),
    _conv("conv im2col few", (1, 6, 9, 9), 3, 3, padding=1),
)


@pytest.fixture(autouse=True)
def _no_package_records(tmp_path, monkeypatch):
    """The package's and the user's op-tile records are left out: these tests choose the tiles."""
    monkeypatch.setattr(rec, "PACKAGE_DIR", tmp_path / "no-package-records")
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(tmp_path / "user-records"))


def _reference_error(case, got) -> float:
    want = case.want
    return float(np.max(np.abs(np.asarray(got, np.float64) - want))) / max(1.0, float(np.max(np.abs(want))))


def test_small_workloads_reach_every_entry_of_every_tunable_kernel():
    entries = {e for _, k in all_ops().kernels() if k.tiles for e in k.entries()[1:]}
    assert set(op_tune.entry_cases(SMALL)) == entries


@pytest.mark.parametrize("kernel", ["f32_dense_packed", "f32_matmul", "f32_conv2d_nchw_s1_packed", "f32_conv2d_nchw"])
def test_every_tile_computes_the_op(kernel, tmp_path):
    """Each tile the kernel allows, built alone and run by the op's plan on every small case reaching it."""
    cases = {e: c for e, c in op_tune.entry_cases(SMALL).items() if e.rsplit("__", 1)[0] == kernel}
    assert cases
    k = op_tune._kernel(next(iter(cases)))
    for tile in k.tiles:
        for entry, entry_cases in cases.items():
            cand = op_tune._Candidate(entry, tile, entry_cases, "relaxed-simd", tmp_path)
            try:
                assert not cand.problem, f"{entry} {tile.name}: {cand.problem}"
                for case in entry_cases:  # checked here too, independently of the tuner's own check
                    assert _reference_error(case, cand.runtime.run(case.call)) < 1e-5, (entry, tile, case.workload)
            finally:
                cand.close()


def test_the_library_entries_compute_their_class(runtime):
    """Every shape-class entry of the built library (with whatever tiles it was built with) on its own class."""
    for entry, cases in op_tune.entry_cases(SMALL).items():
        for case in cases:
            assert case.call.kernel == entry
            assert _reference_error(case, runtime.run(case.call)) < 1e-5, (entry, case.workload.label)


def test_shape_classes_and_tiles():
    assert shape_class(1, 4096) == shape_class(4, 100) == "few"
    assert shape_class(5, 31) == "narrow" and shape_class(5, 32) == "bulk"
    assert HAND in TILES and HAND in PANEL_TILES and all(NR % t.cols == 0 for t in PANEL_TILES)
    assert Tile.parse("r6c8") == Tile(6, 8) and Tile(6, 8).name == "r6c8"
    with pytest.raises(ValueError, match="not a tile name"):
        Tile.parse("6x8")
    # the plans pick the entry from the output's shape
    assert wasmops.dense(np.ones((3, 16), np.float32), np.ones((40, 16), np.float32)).shape == (3, 40)


def test_benchmark_layer_shapes_are_tuning_workloads():
    bench = pytest.importorskip("benchmarks.test_ops_bench", reason="the benchmarks folder (a source checkout)")
    tuned = {(w.op, w.shapes) for w in WORKLOADS}
    for name, op, args, attrs, _ in bench.CASES:
        if op in ("dense", "matmul", "conv2d") and "__" in all_ops()[op].plan(*args, **attrs).kernel:
            assert (op, tuple(a.shape for a in args)) in tuned, name  # a case that runs a tunable entry


def test_tune_ops_saves_records_the_build_uses(tmp_path, caplog):
    work = (_dense("dense few", 3, 20, 37),)
    results = op_tune.tune_ops(isa="simd128", budget_s=300, progress=False, only=["f32_dense__few"], workloads=work)
    (res,) = results
    assert res.entry == "f32_dense__few" and res.tried == len(TILES) and res.hand_ms > 0
    path = rec.user_dir() / op_records.file_name("simd128")
    (saved,) = json.loads(path.read_text())["records"]
    assert saved["key"] == "f32_dense__few" and saved["tile"] == (res.best.name if res.kept else HAND.name)
    # a record of our own choosing, and one the kernel does not allow (f32_dense_packed reads 16-wide panels)
    bad = op_records.TileRecord("f32_dense_packed__bulk", "r1c32", 1.0, 0.5, 1, 8)
    op_records.save([op_records.TileRecord("f32_dense__few", "r3c8", 1.0, 0.5, 1, 8), bad], "simd128")
    assert op_records.load("simd128") == {"f32_dense__few": Tile(3, 8), "f32_dense_packed__bulk": Tile(1, 32)}
    with caplog.at_level(logging.WARNING, logger="wasmops.build"):
        (lib,) = build_library(tmp_path / "lib", ["dense"], ("simd128",), cache_dir=tmp_path / "c", progress=False)
    assert "f32_dense_packed__bulk=r1c32" in caplog.text
    _, man = manifest.read(lib)
    assert man.info["tiles"] == {"f32_dense__few": "r3c8"}
    from wasmops.kernels.runtime import Runtime

    rt = Runtime(lib, time_limits=False)
    try:
        (case,) = op_tune.entry_cases(work)["f32_dense__few"]
        assert _reference_error(case, rt.run(case.call)) < 1e-5
    finally:
        rt.instances.stop()


def test_unreadable_records_are_ignored_with_a_warning(tmp_path):
    path = rec.user_dir() / op_records.file_name("simd128")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "kind": "op-tiles", "isa": "simd128", "records": [{"key": "x", "tile": "big"}]}')
    with pytest.warns(rec.RecordWarning, match="unreadable"):
        assert op_records.load("simd128") == {}
