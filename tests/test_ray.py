"""The Ray recipe's tests (tests/ray_cases.py), run in a pytest process of their own.

`ray.init` loads Ray's core worker into the driver, and it installs a SIGSEGV handler that does not chain to
wasmtime's (wasmtime turns a wasm out-of-bounds access into a trap from its SIGSEGV handler): in a process
whose wasmtime engine already exists, every later wasm trap then kills the process. The main test process
makes traps on purpose (tests/test_runtime.py), so Ray runs elsewhere. Ray's actors are not affected: their
worker installs its handler before wasmops creates an engine, and wasmtime chains to it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray recipe needs the [ray] extra (pip install 'wasmops[ray]')")
pytest.importorskip("ray.data", reason="the Ray recipe needs ray[data]")


def test_ray_recipe_in_its_own_process():
    cases = Path(__file__).with_name("ray_cases.py")
    root = cases.parents[1]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(cases.relative_to(root))]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    assert " passed" in done.stdout and " failed" not in done.stdout, done.stdout[-2000:]
