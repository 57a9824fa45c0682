"""The README's operator list is generated from the ops and the registry: it must match them."""

from __future__ import annotations

from pathlib import Path

from wasmops.registry.coverage import README_BEGIN, README_END, readme_block

README = Path(__file__).parents[1] / "README.md"


def test_readme_operator_list_is_current():
    text = README.read_text()
    assert README_BEGIN in text and README_END in text, "README lost its generated operator list"
    block = text[text.index(README_BEGIN) : text.index(README_END) + len(README_END)]
    assert block == readme_block(), "README's operator list is stale: paste `wasmops ops --readme` into it"
