/* The one-core FP32 compute ceiling under wasmtime, measured (benchmarks/roofline.py compiles and times it).
 *
 * ACC independent f32x4 accumulators, each updated once per iteration by a multiply-add: enough
 * independent chains to hide the multiply-add latency, few enough to stay in x86's 16 vector registers
 * (ACC + the two constants). Each iteration performs ACC * 4 lanes * 2 FLOPs. The accumulators converge
 * to 1.0 (a * 0.999 + 0.001), so no value overflows or goes subnormal however long the loop runs.
 *
 * relaxed_madd: one wasm f32x4.relaxed_madd per update (a fused multiply-add where the host has one).
 * mul_add:      f32x4.mul then f32x4.add (plain SIMD128); built with -ffp-contract=off so the compiler
 *               cannot fuse the pair into a relaxed_madd behind our back.
 */
#include <wasm_simd128.h>

#define ACC 12
#define REP(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define INIT(i) v128_t a##i = wasm_f32x4_splat(seed + 0.001f * (float)(i));
#define RELAXED(i) a##i = wasm_f32x4_relaxed_madd(a##i, m, c);
#define PLAIN(i) a##i = wasm_f32x4_add(wasm_f32x4_mul(a##i, m), c);
#define SUM(i) s = wasm_f32x4_add(s, a##i);

int accumulators(void) { return ACC; }

/* One kernel per update form: the loops differ only in the multiply-add. */
#define KERNEL(name, UPDATE)                                                   \
    float name(int iterations, float seed) {                                   \
        const v128_t m = wasm_f32x4_splat(0.999f), c = wasm_f32x4_splat(0.001f); \
        REP(INIT)                                                              \
        for (int i = 0; i < iterations; i++) {                                 \
            REP(UPDATE)                                                        \
        }                                                                      \
        v128_t s = wasm_f32x4_splat(0.0f);                                     \
        REP(SUM)                                                               \
        return wasm_f32x4_extract_lane(s, 0);                                  \
    }

KERNEL(relaxed_madd, RELAXED)
KERNEL(mul_add, PLAIN)
