"""The one-core FP32 compute roofline of this machine under wasmtime, measured rather than read off a spec sheet.

`python -m benchmarks.roofline` prints both peaks; `test_roofline` (test_ops_bench.py) records them in the
benchmark JSON, where `benchmarks.report` reads them.

Derivation. A spec sheet gives the CPU's native peak (e.g. two 256-bit FMAs per cycle), but wasm code
never sees it: wasm SIMD is 128 bits wide, and wasmtime's code generator (Cranelift) decides what each wasm
instruction becomes, e.g. whether f32x4.relaxed_madd is one fused multiply-add (and with
`wasm_relaxed_simd_deterministic`, whether it is a real FMA or a slow fallback), and whether constants are
loaded from memory. So the ceiling a wasm kernel can reach is measured with wasm:

* roofline.c holds a loop of a known iteration count that updates 12 independent f32x4 accumulators with
  one multiply-add each: 12 chains hide the instruction latency, and 12 + 2 constants fit x86's 16 vector
  registers, so the loop is bound by the multiply-add throughput alone;
* it is compiled at bench time with zig's clang (`-O2 -msimd128 -mrelaxed-simd`, freestanding, no libc)
  and run under wasmtime with the engine settings the op library uses (SIMD, relaxed SIMD, deterministic
  relaxed SIMD);
* FLOPs = iterations x 12 accumulators x 4 lanes x 2 (multiply and add); the peak is FLOPs / the best of
  N timed calls (best-of-N: anything else running on the core only ever slows a call down).

Two peaks: "relaxed-simd" (f32x4.relaxed_madd, the instruction the relaxed-SIMD op library's GEMM inner
loops use) and "simd128" (f32x4.mul then f32x4.add, for the plain-SIMD128 library). The report's roofline
is the relaxed one. A third kernel, "gemm-tile", is no peak: the best GEMM register tile found for wasmtime
(3 x 12, data in L1) shows how much of the roofline a conv/dense inner loop can reach at all once Cranelift
has compiled it (about 55 % on the machine this was written on).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from wasmops.kernels.builder import zig_env

SOURCE = Path(__file__).with_suffix(".c")
#: ISA -> the exported kernel of roofline.c that measures it
KERNELS = {"relaxed-simd": "relaxed_madd", "simd128": "mul_add", "gemm-tile": "gemm_tile"}
#: the kernels that measure a peak; "gemm-tile" measures the ceiling of a GEMM microkernel under that peak
PEAKS = ("relaxed-simd", "simd128")
LANES = 4  # f32x4
ITERATIONS = 1 << 24  # ~0.2 GFLOP per call per accumulator: tens of ms, far above the call overhead


@dataclass(frozen=True)
class Peak:
    isa: str
    flops: int
    seconds: float  # best of N

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9


@functools.cache
def build() -> bytes:
    """roofline.c compiled to a wasm module (once per process)."""
    exports = [f"-Wl,--export={name}" for name in ("accumulators", "tile_accumulators", *KERNELS.values())]
    flags = ["--target=wasm32-freestanding", "-O2", "-msimd128", "-mrelaxed-simd", "-ffp-contract=off"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "roofline.wasm"
        cmd = [sys.executable, "-m", "ziglang", "cc", *flags, "-nostdlib", "-Wl,--no-entry", *exports]
        env = zig_env(Path(tmp))  # zig's object cache goes with the temporary folder
        proc = subprocess.run([*cmd, str(SOURCE), "-o", str(out)], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"compiling {SOURCE.name} failed:\n{proc.stderr[-4000:]}")
        return out.read_bytes()


@functools.cache
def _instance() -> tuple[wasmtime.Store, wasmtime.Instance]:
    config = wasmtime.Config()
    config.wasm_simd = True
    config.wasm_relaxed_simd = True
    config.wasm_relaxed_simd_deterministic = True  # as kernels/runtime.py configures the op library
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    return store, wasmtime.Instance(store, wasmtime.Module(engine, build()), [])


def accumulators(isa: str = "relaxed-simd") -> int:
    store, instance = _instance()
    return int(instance.exports(store)["tile_accumulators" if isa == "gemm-tile" else "accumulators"](store))


def flops(iterations: int = ITERATIONS, isa: str = "relaxed-simd") -> int:
    """FLOPs of one kernel call: every iteration does one multiply-add (2 FLOPs) per lane per accumulator."""
    return iterations * accumulators(isa) * LANES * 2


def kernel(isa: str, iterations: int = ITERATIONS) -> Callable[[], float]:
    """One timed unit: a call of the `isa` kernel running `iterations` loop iterations."""
    store, instance = _instance()
    func = instance.exports(store)[KERNELS[isa]]
    return lambda: func(store, iterations, 0.5)


def measure(isa: str, iterations: int = ITERATIONS, repeat: int = 7) -> Peak:
    """The `isa` peak: FLOPs over the best of `repeat` timed calls (after one warm-up call)."""
    run = kernel(isa, iterations)
    run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return Peak(isa, flops(iterations, isa), best)


def main() -> None:
    for isa in KERNELS:
        peak = measure(isa)
        gflop, ms = peak.flops / 1e9, peak.seconds * 1e3
        print(f"{isa:>13}: {peak.gflops:6.2f} GFLOP/s on one core ({gflop:.2f} GFLOP in {ms:.1f} ms, best of 7)")


if __name__ == "__main__":
    main()
