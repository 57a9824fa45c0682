"""Differential fuzzing of every op against its numpy reference (hypothesis): `make fuzz`, and a short
profile in `make test` (tests/test_fuzz.py)."""
