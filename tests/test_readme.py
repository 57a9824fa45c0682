"""The README is checked against the code: its generated operator list matches the registry, every python
snippet runs as pasted (each block on its own, in a fresh process and an empty folder), and every
environment variable the code reads is documented."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wasmops.registry.coverage import README_BEGIN, README_END, readme_block

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def test_readme_operator_list_is_current():
    text = README.read_text()
    assert README_BEGIN in text and README_END in text, "README lost its generated operator list"
    block = text[text.index(README_BEGIN) : text.index(README_END) + len(README_END)]
    assert block == readme_block(), "README's operator list is stale: paste `wasmops ops --readme` into it"


def python_blocks() -> list[tuple[str, str]]:
    """(section heading + index, code) of every ```python block."""
    blocks, heading, count = [], "top", {}
    lines = README.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = re.sub(r"[^a-z0-9]+", "-", line.lstrip("# ").lower()).strip("-")
        if line.strip() == "```python":
            end = lines.index("```", i + 1)
            count[heading] = count.get(heading, 0) + 1
            blocks.append((f"{heading}-{count[heading]}", "\n".join(lines[i + 1 : end]) + "\n"))
            i = end
        i += 1
    return blocks


#: what a block needs beyond the runtime, by the imports it makes -> the extra that brings it
_NEEDS = {
    "mindspore": "mindspore",
    "onnx": "onnx",
    "tvm": "apache-tvm (the [build] extra)",
    "ray": "ray (the [ray] extra)",
}


def test_the_readme_has_python_snippets():
    assert len(python_blocks()) >= 5


@pytest.mark.parametrize("name,code", python_blocks(), ids=[n for n, _ in python_blocks()])
def test_readme_snippet_runs_as_pasted(name, code, tmp_path):
    for module, what in _NEEDS.items():
        uses = re.search(rf"^\s*(import|from) {module}\b", code, re.M) or (module == "tvm" and "compile_graph(" in code)
        if uses and importlib.util.find_spec(module) is None:
            pytest.skip(f"this snippet needs {what}, which is not installed")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert out.returncode == 0, f"README snippet {name} failed:\n{code}\n--- stderr ---\n{out.stderr[-3000:]}"


def _variables_read_by_the_code() -> set[str]:
    found = set()
    for folder in ("wasmops", "kernels", "registry", "bindings", "ops"):
        for path in (ROOT / folder).glob("*.py"):
            found |= set(re.findall(r"environ(?:\.get)?[\(\[]\s*\"(WASMOPS_\w+)\"", path.read_text()))
    return found


def test_every_environment_variable_is_documented():
    names = _variables_read_by_the_code()
    assert {"WASMOPS_LIBRARY", "WASMOPS_BUILD_CACHE", "WASMOPS_LOG"} <= names, names  # the scan finds them
    text = README.read_text()
    undocumented = sorted(n for n in names if f"| `{n}` |" not in text)
    assert not undocumented, f"environment variables missing from the README's table: {undocumented}"
