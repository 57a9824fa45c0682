"""Run every real model op by op and as a whole graph against onnxruntime; print the table the README shows.

`python -m tests.realmodels.run [-k NAME]` after fetch (`make realmodels` does both). Streaming models carry
their state from call to call, each engine its own. A model matches when every output of every call is
within rtol 1e-3 / atol 1e-4 of onnxruntime's, or else when its decision (decoded text, labels, detections,
speech flags) is the same.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .catalog import MODELS, Feeds, RealModel
from .fetch import cache_dir

RTOL, ATOL = 1e-3, 1e-4


@dataclass
class Outcome:
    model: str
    path: str  # "op by op" or "whole graph"
    status: str  # "match", "same decision", "DIFFERENT", "FAILED"
    max_abs_err: float | None = None
    detail: str = ""
    seconds: float = 0.0


def stream(run: Callable[[Feeds], list[np.ndarray]], names: list[str], model: RealModel, calls: list[Feeds]):
    """Outputs of each call; outputs named in `carry` become the next call's inputs."""
    results, carried = [], {}
    for feeds in calls:
        outs = run({**feeds, **carried})
        results.append(outs)
        by_name = dict(zip(names, outs, strict=True))
        carried = {dst: by_name[src] for src, dst in model.carry.items()}
    return results


def reference(model: RealModel, cache: Path) -> tuple[list[str], list[list[np.ndarray]]]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model.path(cache)), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return names, stream(lambda f: sess.run(None, f), names, model, model.calls(cache))


def op_by_op(model: RealModel, cache: Path, names: list[str]) -> list[list[np.ndarray]]:
    import wasmops.onnx as wo

    sess = wo.InferenceSession(model.path(cache))
    return stream(lambda f: sess.run(names, f), names, model, model.calls(cache))


def whole_graph_path(model: RealModel, cache: Path) -> Path:
    """The model compiled for its first call's shapes (frozen inputs at their values), built once."""
    from wasmops.bindings.graph_session import compiled_graph

    first = model.calls(cache)[0]
    shapes = {k: v.shape for k, v in first.items() if k not in model.frozen}
    values = {k: first[k] for k in model.frozen}
    return compiled_graph(
        model.path(cache), cache / "graphs", model.name, input_shapes=shapes, input_values=values, progress=False
    )


def whole_graph(model: RealModel, cache: Path, names: list[str]) -> list[list[np.ndarray]]:
    import wasmops.graph as wg

    calls = model.calls(cache)
    sess = wg.InferenceSession(whole_graph_path(model, cache))
    return stream(lambda f: sess.run(names, {k: v for k, v in f.items() if k not in model.frozen}), names, model, calls)


def compare(model: RealModel, cache: Path, want: list[list[np.ndarray]], got: list[list[np.ndarray]]) -> tuple:
    """(status, max abs error, detail)."""
    worst, close = 0.0, True
    for w_call, g_call in zip(want, got, strict=True):
        for w, g in zip(w_call, g_call, strict=True):
            g = np.asarray(g)
            if g.shape != w.shape:
                return "DIFFERENT", None, f"shape {g.shape}, onnxruntime {w.shape}"
            if w.size:
                diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
                worst = max(worst, float(diff.max()))
                close &= bool(np.allclose(g, w, rtol=RTOL, atol=ATOL))
    if close:
        return "match", worst, ""
    if model.decision is not None:
        same = all(_equal(model.decision(w, cache), model.decision(g, cache)) for w, g in zip(want, got, strict=True))
        if same:
            return "same decision", worst, f"decision: {model.decision(got[0], cache)!r}"[:120]
    return "DIFFERENT", worst, "outputs and decision differ"


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.mean(a == b) >= 0.999)  # a mask: 1 pixel in 1000 on the edge
    return a == b


def run_model(model: RealModel, cache: Path) -> list[Outcome]:
    names, want = reference(model, cache)
    outcomes = []
    for label, engine in (("op by op", op_by_op), ("whole graph", whole_graph)):
        started = time.perf_counter()
        try:
            got = engine(model, cache, names)
            status, err, detail = compare(model, cache, want, got)
        except Exception as exc:  # reported in the table: one model's failure does not stop the others
            status, err, detail = "FAILED", None, f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        outcomes.append(Outcome(model.name, label, status, err, detail, round(time.perf_counter() - started, 1)))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    by_model: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        by_model.setdefault(o.model, {})[o.path] = o
    families = {m.name: m for m in MODELS}
    rows = ["| model | kind | from | op by op | whole graph |", "|---|---|---|---|---|"]
    for name, paths in by_model.items():
        m = families[name]

        def cell(o: Outcome) -> str:
            err = f" ({o.max_abs_err:.1e})" if o.max_abs_err is not None else ""
            return f"{o.status}{err}" + (f": {o.detail}" if o.status in ("FAILED", "DIFFERENT") else "")

        cells = " | ".join(cell(paths[p]) for p in ("op by op", "whole graph"))
        rows.append(f"| {name} | {m.family} | `{m.source}` | {cells} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only models whose name contains this")
    args = parser.parse_args()
    cache = cache_dir()
    outcomes = []
    for model in MODELS:
        if args.k in model.name:
            print(f"{model.name} ...", flush=True)
            outcomes += run_model(model, cache)
            for o in outcomes[-2:]:
                print(f"  {o.path}: {o.status} {o.max_abs_err} {o.detail} ({o.seconds} s)", flush=True)
    print(table(outcomes))
    (cache / "results.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return 0 if all(o.status in ("match", "same decision") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
