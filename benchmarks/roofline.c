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
 * gemm_tile:    not a peak but the ceiling of a GEMM microkernel: the best register tile found for
 *               wasmtime (3 rows x 12 columns: 9 accumulators, 3 column vectors and a broadcast per step),
 *               on a panel that stays in L1, with no packing, edges or epilogue. Cranelift lowers
 *               relaxed_madd to a vfmadd213ps that overwrites a multiplicand, so an accumulator update
 *               costs a register copy and a move on the loop's back edge besides the FMA.
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

#define GK 256 /* reduction steps per pass: panels of 3 KiB (A) and 12 KiB (B) */
#define TILE(X) X(0) X(1) X(2)
static float ga[GK * 3], gb[GK * 12];

int tile_accumulators(void) { return 9; }

#define TILE_INIT(i) v128_t c##i##0 = z, c##i##1 = z, c##i##2 = z;
#define TILE_STEP(i)                                      \
    {                                                     \
        const v128_t a = wasm_v128_load32_splat(pa + i); \
        c##i##0 = wasm_f32x4_relaxed_madd(a, b0, c##i##0); \
        c##i##1 = wasm_f32x4_relaxed_madd(a, b1, c##i##1); \
        c##i##2 = wasm_f32x4_relaxed_madd(a, b2, c##i##2); \
    }
#define TILE_SUM(i) s = wasm_f32x4_add(s, wasm_f32x4_add(c##i##0, wasm_f32x4_add(c##i##1, c##i##2)));

/* `iterations` reduction steps in passes of GK (iterations is a multiple of GK), 9 multiply-adds a step. */
float gemm_tile(int iterations, float seed) {
    for (int i = 0; i < GK * 3; i++) ga[i] = seed + 0.001f * (float)(i % 7);
    for (int i = 0; i < GK * 12; i++) gb[i] = seed - 0.001f * (float)(i % 5);
    const v128_t z = wasm_f32x4_splat(0.0f);
    v128_t s = z;
    for (int pass = 0; pass < iterations / GK; pass++) {
        TILE(TILE_INIT)
        for (int k = 0; k < GK; k++) {
            const float *pa = ga + 3 * k, *pb = gb + 12 * k;
            const v128_t b0 = wasm_v128_load(pb), b1 = wasm_v128_load(pb + 4), b2 = wasm_v128_load(pb + 8);
            TILE(TILE_STEP)
        }
        TILE(TILE_SUM)
    }
    return wasm_f32x4_extract_lane(s, 0);
}
