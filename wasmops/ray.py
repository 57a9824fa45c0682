"""Score datasets on Ray: every Ray actor holds one wasmops session, `ray.data.Dataset.map_batches` feeds it.

```python
import ray
import wasmops.ray

ray.init()  # or ray.init(address="auto") on a cluster
ds = ray.data.from_numpy(images).rename_columns({"data": "data_0"})  # one column per model input
scored = wasmops.ray.score(ds, "squeezenet.wasm", num_workers=2)  # a compiled graph, or an .onnx (op by op)
probs = scored.to_pandas()["softmaxout_1"]
```

A session is built once per actor (loading a module costs much more than scoring a batch) and runs every
batch that actor gets; Ray schedules actors over the cluster's CPUs, `threads` wasm threads each. The model
file must be readable at the same path on every node (a shared file system, or a copy per node). Needs the
`[ray]` extra (``pip install 'wasmops[ray]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class SessionScorer:
    """A Ray Data callable class: one session (a compiled `.wasm` graph, or an `.onnx` model run op by op).

    Each batch is a dict of numpy columns; the columns named like the model's inputs hold one sample per row
    (the model's input shape without its batch dim). The model's outputs come back as columns of the same
    names, one row per sample, next to the batch's other columns (ids, labels). A model compiled for batch
    n > 1 scores n rows per run (a batch must then hold a multiple of n rows); a symbolic batch dim (op by
    op) scores the whole batch in one run."""

    def __init__(self, model: str | Path, threads: int = 1, weights: str | Path | None = None):
        import wasmops

        wasmops.set_num_threads(threads)
        path = Path(model)
        if path.suffix == ".wasm":
            from wasmops.graph import InferenceSession as GraphSession

            self.session = GraphSession(path, weights=weights)
        elif weights is not None:
            raise ValueError(f"weights= is for compiled .wasm graphs; {path.name} is not one")
        else:
            from wasmops.onnx import InferenceSession

            self.session = InferenceSession(str(path))
        self.inputs = {a.name: a.shape for a in self.session.get_inputs()}
        self.outputs = [a.name for a in self.session.get_outputs()]

    def _chunk(self) -> int | None:
        """Rows per run: the model's fixed batch dim, or None (symbolic: the whole batch in one run)."""
        dims = {shape[0] if shape else 1 for shape in self.inputs.values()}
        fixed = {d for d in dims if isinstance(d, int)}
        return fixed.pop() if len(fixed) == 1 and len(dims) == 1 else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = sorted(set(self.inputs) - set(batch))
        if missing:
            raise KeyError(f"the batch has no column for the model input(s) {missing}; columns: {sorted(batch)}")
        rows = len(next(iter(batch.values())))
        chunk = self._chunk() or rows
        if rows % chunk:
            raise ValueError(f"the model runs {chunk} samples at a time; use a batch_size that is a multiple of it")
        results = [
            self.session.run(None, {name: batch[name][start : start + chunk] for name in self.inputs})
            for start in range(0, rows, chunk)
        ]
        out = {k: v for k, v in batch.items() if k not in self.inputs}
        for i, name in enumerate(self.outputs):
            out[name] = np.concatenate([r[i] for r in results])
        return out


def score(
    dataset,
    model: str | Path,
    *,
    num_workers: int = 1,
    threads: int = 1,
    batch_size: int = 32,
    weights: str | Path | None = None,
):
    """`dataset` (a ray.data.Dataset with a column per model input) scored by `num_workers` Ray actors, each
    holding one session of `model` running `threads` wasm threads: a lazy Dataset with the output columns."""
    return dataset.map_batches(
        SessionScorer,
        fn_constructor_kwargs={"model": str(Path(model).resolve()), "threads": threads, "weights": weights},
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=num_workers,
        num_cpus=threads,
    )


__all__ = ["SessionScorer", "score"]
