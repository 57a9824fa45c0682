/* MindSpore CPU "aot" custom ops that run wasmops programs through wasmtime's C API, with no Python per call.
 *
 * Python (bindings/ms_aot.py) instantiates the op library, hands this shim the store context and the
 * wasmops_run_plan / wasmops_last_error functions, and gives every Custom op a slot: entry point
 * wasmops_slot_<i>. A slot holds one or more variants, one per input signature seen when MindSpore inferred
 * the op's output: where each input goes in wasm memory, which inputs were constants folded into the
 * program (their bytes must match), where the output is read from and the program's step table. A call
 * copies the inputs in, runs the whole program in one call into wasm and copies the output out.
 *
 * The wasmtime wheel ships _libwasmtime.so without headers: the few prototypes needed are declared here
 * and wasmtime's own structs are only passed through as opaque pointers that Python owns.
 *
 * Variant record (int64 words): [length, nparam, table, steps, then per param (inputs, then the output):
 * kind (0 input, 1 constant input, 2 output), dtype code, ndim, dims..., then addr, nbytes for kinds 0/2
 * or nbytes, data words... for kind 1].
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct {
  size_t size;
  char *data;
} wasm_byte_vec_t;
typedef union {
  int32_t i32;
  int64_t i64;
  float f32;
  double f64;
  uint8_t v128[16];
  void *funcref;
} wasmtime_val_raw_t;

extern wasmtime_error_t *wasmtime_func_call_unchecked(wasmtime_context_t *store, const void *func,
                                                      wasmtime_val_raw_t *args_and_results, size_t len,
                                                      wasm_trap_t **trap);
extern uint8_t *wasmtime_sharedmemory_data(const void *memory);
extern wasmtime_error_t *wasmtime_global_set(wasmtime_context_t *store, const void *global, const void *val);
extern void wasmtime_error_message(const wasmtime_error_t *error, wasm_byte_vec_t *message);
extern void wasmtime_error_delete(wasmtime_error_t *error);
extern void wasm_trap_message(const wasm_trap_t *trap, wasm_byte_vec_t *out);
extern void wasm_trap_delete(wasm_trap_t *trap);
extern void wasm_byte_vec_delete(wasm_byte_vec_t *vec);

#define NUM_SLOTS 2000

typedef struct {
  const int64_t *records;
  int64_t count;
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static wasmtime_context_t *ctx;
static const void *run_plan, *last_error, *recover, *memory, *stack_global, *stack_value;
static slot_t slots[NUM_SLOTS];
static char error_text[1024];

void wasmops_lock(void) { pthread_mutex_lock(&lock); }
void wasmops_unlock(void) { pthread_mutex_unlock(&lock); }
const char *wasmops_aot_last_error(void) { return error_text; }
int wasmops_aot_num_slots(void) { return NUM_SLOTS; }

void wasmops_aot_init(void *context, const void *plan_func, const void *error_func, const void *recover_func,
                      const void *mem, const void *global, const void *top) {
  ctx = context;
  run_plan = plan_func;
  last_error = error_func;
  recover = recover_func;
  memory = mem;
  stack_global = global;
  stack_value = top;
}

/* Called by Python with the lock held: the record array stays alive (Python owns it) until replaced. */
void wasmops_aot_set_slot(int slot, const int64_t *records, int64_t count) {
  if (slot >= 0 && slot < NUM_SLOTS) {
    slots[slot].records = records;
    slots[slot].count = count;
  }
}

static int dtype_code(const char *name) {
  static const char *names[] = {"float32", "int32", "int64", "float64", "float16", "bool",
                                "int8",    "uint8", "int16", "bfloat16", NULL};
  for (int i = 0; names[i]; i++)
    if (strcmp(name, names[i]) == 0) return i + 1;
  return 0;
}

static const int64_t *find_variant(const slot_t *s, int nparam, void **params, int *ndims, int64_t **shapes,
                                   const char **dtypes) {
  const int64_t *rec = s->records;
  for (int64_t v = 0; v < s->count; v++, rec += rec[0]) {
    if (rec[1] != nparam) continue;
    const int64_t *p = rec + 4;
    int ok = 1;
    for (int i = 0; i < nparam && ok; i++) {
      int64_t kind = p[0], ndim = p[2];
      ok = p[1] == dtype_code(dtypes[i]) && ndim == ndims[i];
      for (int64_t d = 0; d < ndim && ok; d++) ok = p[3 + d] == shapes[i][d];
      p += 3 + ndim;
      if (kind == 1) {
        ok = ok && memcmp(p + 1, params[i], (size_t)p[0]) == 0;
        p += 1 + (p[0] + 7) / 8;
      } else {
        p += 2;
      }
    }
    if (ok) return rec;
  }
  return NULL;
}

static void take_message(const char *what, wasmtime_error_t *error, wasm_trap_t *trap) {
  wasm_byte_vec_t msg = {0, NULL};
  if (trap) {
    wasm_trap_message(trap, &msg);
    wasm_trap_delete(trap);
  } else {
    wasmtime_error_message(error, &msg);
    wasmtime_error_delete(error);
  }
  snprintf(error_text, sizeof error_text, "%s: %.*s", what, (int)(msg.size > 900 ? 900 : msg.size),
           msg.data ? msg.data : "");
  if (msg.data) wasm_byte_vec_delete(&msg);
  /* a trap unwinds without finishing a parallel launch or restoring the shadow stack: settle both */
  wasm_trap_t *t = NULL;
  wasmtime_error_t *e = wasmtime_func_call_unchecked(ctx, recover, NULL, 0, &t);
  if (t) wasm_trap_delete(t);
  if (e) wasmtime_error_delete(e);
  e = wasmtime_global_set(ctx, stack_global, stack_value);
  if (e) wasmtime_error_delete(e);
}

static int call_slot(int slot, int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  int rc = 0;
  wasmops_lock();
  const int64_t *rec = ctx ? find_variant(&slots[slot], nparam, params, ndims, shapes, dtypes) : NULL;
  if (!rec) {
    snprintf(error_text, sizeof error_text,
             "wasmops slot %d: no wasm program for these input shapes / dtypes / constants", slot);
    rc = 2;
    goto done;
  }
  uint8_t *mem = wasmtime_sharedmemory_data(memory);
  const int64_t *p = rec + 4;
  int64_t out_addr = 0, out_bytes = 0;
  for (int i = 0; i < nparam; i++) {
    int64_t kind = p[0];
    p += 3 + p[2];
    if (kind == 0) memcpy(mem + p[0], params[i], (size_t)p[1]);
    if (kind == 2) out_addr = p[0], out_bytes = p[1];
    p += kind == 1 ? 1 + (p[0] + 7) / 8 : 2;
  }
  wasmtime_val_raw_t raw[2];
  raw[0].i32 = (int32_t)rec[2];
  raw[1].i32 = (int32_t)rec[3];
  wasm_trap_t *trap = NULL;
  wasmtime_error_t *error = wasmtime_func_call_unchecked(ctx, run_plan, raw, 2, &trap);
  if (error || trap) {
    take_message("wasm trap", error, trap);
    rc = 3;
    goto done;
  }
  if (raw[0].i32 != 0) {
    wasmtime_val_raw_t r[1];
    trap = NULL;
    error = wasmtime_func_call_unchecked(ctx, last_error, r, 1, &trap);
    if (error || trap) {
      take_message("wasmops_last_error", error, trap);
    } else {
      mem = wasmtime_sharedmemory_data(memory);
      snprintf(error_text, sizeof error_text, "kernel failed: %.900s", (const char *)(mem + (uint32_t)r[0].i32));
    }
    rc = 4;
    goto done;
  }
  memcpy(params[nparam - 1], mem + out_addr, (size_t)out_bytes);
done:
  if (rc) fprintf(stderr, "wasmops aot: %s\n", error_text);
  wasmops_unlock();
  return rc;
}

#define SLOT(i)                                                                                            \
  int wasmops_slot_##i(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,      \
                       void *stream, void *extra) {                                                        \
    (void)stream;                                                                                          \
    (void)extra;                                                                                           \
    return call_slot(i, nparam, params, ndims, shapes, dtypes);                                            \
  }
/* slots 0..1999 with decimal names: SLOT10(4) defines 40..49, SLOT100(2) 200..299, SLOT1000(1) 1000..1999 */
#define SLOT10(p) SLOT(p##0) SLOT(p##1) SLOT(p##2) SLOT(p##3) SLOT(p##4) SLOT(p##5) SLOT(p##6) SLOT(p##7) SLOT(p##8) SLOT(p##9)
#define SLOT100(p) SLOT10(p##0) SLOT10(p##1) SLOT10(p##2) SLOT10(p##3) SLOT10(p##4) SLOT10(p##5) SLOT10(p##6) \
  SLOT10(p##7) SLOT10(p##8) SLOT10(p##9)
SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7) SLOT(8) SLOT(9)
SLOT10(1) SLOT10(2) SLOT10(3) SLOT10(4) SLOT10(5) SLOT10(6) SLOT10(7) SLOT10(8) SLOT10(9)
#define SLOT1000(p) SLOT100(p##0) SLOT100(p##1) SLOT100(p##2) SLOT100(p##3) SLOT100(p##4) SLOT100(p##5) \
  SLOT100(p##6) SLOT100(p##7) SLOT100(p##8) SLOT100(p##9)
SLOT100(1) SLOT100(2) SLOT100(3) SLOT100(4) SLOT100(5) SLOT100(6) SLOT100(7) SLOT100(8) SLOT100(9)
SLOT1000(1)
