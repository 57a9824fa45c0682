"""The ONNX node-test suite through the whole-graph path: `compile_graph` -> `wasmops.graph.InferenceSession`.

Used by tests/test_graph_conformance.py and, as a script, to print where the suite stands next to onnxruntime:

    python -m tests.conformance.graph_suite [--sample K] [-k SUBSTRING] [--failures] [--write-passing] [--jobs N]

Each case is compiled once (kept under build/conformance-graphs/, keyed by the model and the compiler's
sources, as `compiled_graph` does; a refusal is kept beside it as a `.refused` file) and classified:
"pass", "refused" (GraphCompileError / UnsupportedError: the message names the node, operator and reason),
"wrong" (ran and differs from the expected outputs at the case's tolerances) or "error" (anything else: a
bug to fix). The comparison and the tolerances are the op-by-op suite's (tests/conformance/suite.py).
"""

from __future__ import annotations

import argparse
import collections
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import onnx

from tests.conformance.suite import AGAINST_ONNXRUNTIME, MAX_RTOL, case_data, cases, compare, ort_session
from tests.conformance.suite import run_case as run_ort_case

GRAPH_PASSING_LIST = Path(__file__).parent / "graph_passing.txt"
#: $WASMOPS_GRAPH_CONFORMANCE_DIR moves it (two runs at once each need their own)
_DEFAULT_DIR = Path(__file__).resolve().parents[2] / "build" / "conformance-graphs"
BUILD_DIR = Path(os.environ.get("WASMOPS_GRAPH_CONFORMANCE_DIR") or _DEFAULT_DIR)
#: `make test` runs every SAMPLE_STEP-th case (sorted by name): about 4 minutes on 2 cores from a cold cache
SAMPLE_STEP = 8


@dataclass
class GraphOutcome:
    status: str  # pass | refused | wrong | error | nodata
    detail: str = ""
    seconds: float = 0.0  # compile (or cache lookup) + run


def passing_list() -> list[str]:
    return [line.strip() for line in GRAPH_PASSING_LIST.read_text().splitlines() if line.strip()]


def _slow_to_compile(name: str) -> bool:
    """An expanded function body on float16 inputs (attention): LLVM takes minutes on its fused float16
    kernels (every float16 value converted per element), too long for `make test`; the full run has them."""
    model = cases()[name].model
    f16 = any(vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16 for vi in model.graph.input)
    return name.startswith("test_attention") and name.endswith("_expanded") and f16


def sample(step: int = SAMPLE_STEP) -> list[str]:
    """Every `step`-th case name, sorted (deterministic for one onnx version), less the slow compiles."""
    return [n for n in sorted(cases())[::step] if step == 1 or not _slow_to_compile(n)]


def _compile(name: str) -> Path:
    """The case's compiled module (cached); a cached refusal is raised again without recompiling."""
    from wasmops.bindings.graph_session import compiled_graph, compiled_path
    from wasmops.kernels.graph_compiler import GraphCompileError

    model = cases()[name].model
    path = compiled_path(model, BUILD_DIR, name, progress=False)
    refused = path.with_suffix(".refused")
    if refused.exists():
        raise GraphCompileError(refused.read_text())
    try:
        return compiled_graph(model, BUILD_DIR, name, progress=False)
    except _refusals() as exc:
        refused.parent.mkdir(parents=True, exist_ok=True)
        refused.write_text(str(exc))
        raise


def _refusals() -> tuple[type[Exception], ...]:
    from wasmops.kernels.graph_compiler import GraphCompileError
    from wasmops.registry.table import UnsupportedError

    return (GraphCompileError, UnsupportedError)


def run_case(name: str) -> GraphOutcome:
    """Compile and run one case through the whole-graph path and classify the result."""
    import wasmops.graph as wg

    started = time.perf_counter()
    case = cases()[name]
    if not case.data_sets:
        return GraphOutcome("nodata", "the case has no data set")
    inputs, expected = case_data(name)
    try:
        path = _compile(name)
    except _refusals() as exc:
        return GraphOutcome("refused", str(exc).strip(), time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - classified, reported by the caller
        return GraphOutcome("error", f"compile: {type(exc).__name__}: {exc}", time.perf_counter() - started)
    try:
        sess = wg.InferenceSession(path)
        feeds = {arg.name: x for arg, x in zip(sess.get_inputs(), inputs, strict=False)}
        with np.errstate(all="ignore"):
            got = sess.run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        return GraphOutcome("error", f"run: {type(exc).__name__}: {exc}", time.perf_counter() - started)
    if name in AGAINST_ONNXRUNTIME:
        expected = ort_session(case.model.SerializeToString()).run(None, feeds)
    why = compare(got, expected, min(case.rtol, MAX_RTOL), case.atol)
    return GraphOutcome("wrong" if why else "pass", why, time.perf_counter() - started)


def _run_many(names: list[str], jobs: int) -> dict[str, GraphOutcome]:
    from tqdm import tqdm

    outcomes: dict[str, GraphOutcome] = {}
    counts: collections.Counter = collections.Counter()
    with tqdm(total=len(names), desc="graph conformance", unit="case") as bar:

        def record(name: str, outcome: GraphOutcome) -> None:
            outcomes[name] = outcome
            counts[outcome.status] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update()

        if jobs <= 1:
            for name in names:
                bar.set_description_str(name[:40])
                record(name, run_case(name))
        else:  # spawn: TVM's runtime does not survive a fork
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(run_case, name): name for name in names}
                for future in as_completed(futures):
                    record(futures[future], future.result())
    return {name: outcomes[name] for name in names}


def _ort_status(name: str) -> str:
    """onnxruntime's outcome on the same case (the op-by-op suite's runner with an onnxruntime session)."""
    try:
        return run_ort_case(name, ort_session).status
    except Exception:  # noqa: BLE001 - sequence outputs the comparison cannot take: not a pass
        return "error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1, metavar="K", help="only every K-th case (sorted by name)")
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("--failures", action="store_true", help="list every case that is not a pass")
    parser.add_argument("--write-passing", action="store_true", help=f"add new passes to {GRAPH_PASSING_LIST.name}")
    parser.add_argument("--jobs", type=int, default=1, help="compile in this many processes")
    parser.add_argument("--slowest", type=int, default=0, metavar="N", help="list the N slowest cases")
    args = parser.parse_args()
    names = [n for n in sample(args.sample) if args.k in n]
    outcomes = _run_many(names, args.jobs)
    ort = {n: _ort_status(n) for n in names}
    if args.failures:
        for name, o in outcomes.items():
            if o.status != "pass":
                print(f"{o.status:8s} {name}: {' '.join(o.detail.split())[:300]}")
    if args.slowest:
        for name, o in sorted(outcomes.items(), key=lambda kv: -kv[1].seconds)[: args.slowest]:
            print(f"{o.seconds:7.1f} s  {o.status:8s} {name}")
    reasons = collections.Counter(" ".join(o.detail.split())[:100] for o in outcomes.values() if o.status == "refused")
    print("most common refusals:")
    for reason, n in reasons.most_common(20):
        print(f"  {n:4d}  {reason}")
    counts = collections.Counter(o.status for o in outcomes.values())
    ort_pass = {n for n, s in ort.items() if s == "pass"}
    both = sum(1 for n in ort_pass if outcomes[n].status == "pass")
    print(f"\n{len(names)} cases    {'wasmops whole graph':>20s} {'onnxruntime':>12s}")
    for status in ("pass", "refused", "wrong", "error", "nodata"):
        ort_n = sum(1 for s in ort.values() if (s if s != "unsupported" else "refused") == status)
        print(f"  {status:10s} {counts.get(status, 0):20d} {ort_n:12d}")
    print(f"  passes among onnxruntime's {len(ort_pass)} passes: {both}")
    print(f"  total seconds: {sum(o.seconds for o in outcomes.values()):.0f}")
    if args.write_passing:
        ran = set(names)
        kept = {n for n in passing_list() if n not in ran} if GRAPH_PASSING_LIST.exists() else set()
        kept |= {n for n, o in outcomes.items() if o.status == "pass"}
        GRAPH_PASSING_LIST.write_text("".join(f"{n}\n" for n in sorted(kept)))


if __name__ == "__main__":
    main()
