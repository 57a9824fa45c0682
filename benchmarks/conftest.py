"""Benchmarks run against the built op library; numpy keeps its default BLAS threads (reported)."""
