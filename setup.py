"""Only here so that a wheel cannot be built without the op library (pyproject.toml holds the metadata).

A wheel is the runtime-only install (numpy + wasmtime), which cannot build the library itself (that needs
TVM): a wheel without kernels/lib/wasmops.wasm would fail on its first call, so it is refused here.
"""

from pathlib import Path

from setuptools import setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

LIBRARY = Path(__file__).resolve().parent / "kernels" / "lib" / "wasmops.wasm"


class bdist_wheel_with_library(bdist_wheel):
    def run(self):
        if not LIBRARY.is_file():
            raise SystemExit(
                f"wasmops: no op library at {LIBRARY}: a wheel without it cannot run. "
                "Build it first (`make build`, or `make wheel` which does both)."
            )
        super().run()


setup(cmdclass={"bdist_wheel": bdist_wheel_with_library})
