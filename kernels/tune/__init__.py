"""Auto-tuning of whole-graph kernels on the wasm target (MetaSchedule with a wasm builder and runner).

builder: a candidate PrimFunc -> a one-kernel wasm module, compiled and linked as compiled graphs are.
runner: the module under the project's wasmtime runtime, timed robustly on a noisy machine.
records: the JSON database of tuned schedules (package + user cache dir) that compile_graph reads.
driver: a model's fused kernels tuned against their hand schedules; only faster ones become records.

Build-time only (TVM, ziglang); `records` loads without TVM until a record is applied.
"""
