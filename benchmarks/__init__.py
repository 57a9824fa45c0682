"""Benchmarks (pytest-benchmark): wasm kernels against numpy and native TVM; `make bench` runs them."""
