"""Export all-MiniLM-L6-v2 (mean-pooled sentence embedding) to ONNX with torch's exporters.

Run by fetch.py inside its own venv (torch, transformers): `python export_minilm.py WEIGHTS_DIR OUT_DIR`.
Writes minilm-dynamo.onnx, minilm-torchscript.onnx and minilm.tokens.npz (real sentences, tokenised).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from transformers import AutoModel, AutoTokenizer

SENTENCES = [
    "WebAssembly runs the same operators in the browser and on the server.",
    "A quick brown fox jumps over the lazy dog.",
    "The voice activity detector keeps its state between chunks of audio.",
]


class MeanPooled(torch.nn.Module):
    """The sentence-transformers head: the mean of the token states under the attention mask."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def main(weights: Path, out: Path) -> None:
    tokens = AutoTokenizer.from_pretrained(weights)(SENTENCES, padding=True, return_tensors="np")
    ids, mask = tokens["input_ids"].astype(np.int64), tokens["attention_mask"].astype(np.int64)
    np.savez(out / "minilm.tokens.npz", input_ids=ids, attention_mask=mask)
    net = MeanPooled(AutoModel.from_pretrained(weights).eval())
    example = (torch.from_numpy(ids), torch.from_numpy(mask))
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["sentence_embedding"]}
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    dynamic = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    path = out / "minilm-dynamo.onnx"
    torch.onnx.export(net, example, path, opset_version=17, dynamo=True, dynamic_shapes=dynamic, **names)
    onnx.save(onnx.load(path), path)  # weights inside the file (the exporter writes them beside it)
    Path(f"{path}.data").unlink(missing_ok=True)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    torch.onnx.export(
        net, example, out / "minilm-torchscript.onnx", opset_version=17, dynamo=False, dynamic_axes=axes, **names
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
