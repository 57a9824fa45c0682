"""`tune_graph`: auto-tune a model's whole-graph kernels on the wasm target (kernels/tune), so that the next
`compile_graph` of the model (or of any model with the same kernels) uses the faster schedules.

Records go to the user's cache dir (kernels/tune/records.py `user_dir`); compile_graph reads them by default.
Build-time only (TVM, ziglang; xgboost for the learned cost model: the [tune] extra).
"""

from __future__ import annotations

from pathlib import Path


def tune_graph(
    model,
    *,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    isa: str = "relaxed-simd",
    trials: int = 64,
    budget_minutes: float = 30.0,
    threads: int = 1,
    progress: bool = True,
    records_path: str | Path | None = None,
    only: list[str] | None = None,
    convs: bool = True,
    meta: bool = True,
) -> list:
    """Tune `model` (ONNX path, bytes or ModelProto) for `isa`; returns one KernelResult per distinct kernel
    (name, steps, hand_ms, tuned_ms, kept, note), heaviest first.

    `only`: tune just the kernels whose names contain one of these strings (names as in the table).
    `convs`: search each conv over our own schedule's decisions (conv-variant records); `meta`: MetaSchedule
    on the other kernels, in the time the convs left.
    `trials`: MetaSchedule trials per kernel; `budget_minutes`: the search time for all kernels (the
    heaviest get the most); `threads`: the threads kernels are timed on. `input_shapes` as compile_graph's."""
    from ..kernels.tune.driver import tune_model
    from .graph_session import onnx_model
    from .graph_static import specialise

    proto = onnx_model(model)
    if input_shapes:
        proto = specialise(proto, input_shapes, None)
    return tune_model(
        proto,
        isa=isa,
        trials=trials,
        budget_s=budget_minutes * 60,
        threads=threads,
        progress=progress,
        records_path=Path(records_path) if records_path else None,
        only=only,
        convs=convs,
        meta=meta,
    )


def compare_model(model, *, isa: str = "relaxed-simd", threads: int = 1, rounds: int = 3) -> tuple[float, float]:
    """The whole model compiled twice, hand schedules only and with the records that match, run alternately on
    seeded inputs: (hand ms, tuned ms), each the fastest run. The search chooses one kernel at a time, timed
    alone; this is what the records do together, inside the model (a kernel's weights then come from memory)."""
    import tempfile
    import time
    from functools import partial

    import numpy as np

    from ..kernels.tune.runner import alternate
    from .graph_session import InferenceSession, compile_graph, onnx_model
    from .session_options import SessionOptions

    proto = onnx_model(model)
    options = SessionOptions()
    options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory(prefix="wasmops-tunecheck-") as tmp:
        sessions = []
        for tuned in (False, True):
            path = compile_graph(proto, Path(tmp) / f"tuned-{tuned}.wasm", isa=isa, progress=False, tuned=tuned)
            sessions.append(InferenceSession(path, sess_options=options))
        rng = np.random.default_rng(0)
        feeds = {
            e["name"]: rng.uniform(-1, 1, e["shape"]).astype(e["dtype"])
            if np.dtype(e["dtype"]).kind == "f"
            else np.zeros(e["shape"], e["dtype"])
            for e in sessions[0].module.inputs
        }

        def fastest_of_three(sess) -> float:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                sess.run(None, feeds)
                times.append(time.perf_counter() - start)
            return min(times)

        for sess in sessions:
            sess.run(None, feeds)  # warm-up: module load, worker start
        best = alternate({i: partial(fastest_of_three, sess) for i, sess in enumerate(sessions)}, rounds)
    return best[0] * 1e3, best[1] * 1e3
