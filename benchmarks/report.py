"""`python -m benchmarks.report results.json [--out DIR]`: tables (stdout + DIR/REPORT.md) and plots.

Ratios come from one pytest-benchmark run (engines measured side by side), using medians. The plots: GFLOP/s
per op against the measured one-core roofline (benchmarks/roofline.py), latency per model, and the speed-up
of every engine measured on both one and two threads.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .report_peers import interleaved_lines, peer_lines

HERE = Path(__file__).parent

#: case -> engine -> (median seconds, flops)
Table = dict[str, dict[str, tuple[float, int]]]

#: ops whose wasm figure is compared with the compute roofline (the rest are bound by memory or calls)
ROOFLINE_OPS = ("conv2d", "dense", "matmul")
#: the roofline the report draws: the relaxed-SIMD library's multiply-add ceiling
ROOFLINE_ISA = "relaxed-simd"
ROOFLINE_FRACTION = 0.6
#: (one-thread engine, two-thread engine): the pairs of the thread-scaling figure
SCALING_PAIRS = [
    ("wasm", "wasm-2t"),
    ("wasm-graph", "wasm-graph-2t"),
    ("onnxruntime", "onnxruntime-2t"),
    ("ort-web-1t", "ort-web-2t"),
    ("tfjs-wasm-1t", "tfjs-wasm-2t"),
]

ENGINE_ORDER = [
    "wasm",
    "wasm-2t",
    "tvm-native",
    "numpy",
    "wasm-graph",
    "wasm-graph-2t",
    "wasm-hand",
    "wasm-graph-hand",
    "wasm-graph-hand-2t",
    "wasm-plan",
    "wasm-plan-2t",
    "wasm-steps",
    "onnxruntime",
    "onnxruntime-2t",
    "ort-web-1t",
    "ort-web-2t",
    "tfjs-wasm-1t",
    "tfjs-wasm-2t",
    "wasm-aot",
    "wasm-aot-2t",
    "wasm-pyfunc",
    "mindspore-native",
]


@dataclass
class Results:
    table: Table = field(default_factory=lambda: defaultdict(dict))
    ops: dict[str, str] = field(default_factory=dict)  # case -> op (model cases: the model's name)
    roofline: dict[str, float] = field(default_factory=dict)  # ISA -> measured one-core GFLOP/s
    mins: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))  # case -> engine -> s
    interleaved: list[dict] = field(default_factory=list)  # test_model_interleaved's extra_info, in run order

    @property
    def peak(self) -> float | None:
        return self.roofline.get(ROOFLINE_ISA)


def load(path: Path) -> Results:
    """Every benchmark of a pytest-benchmark JSON: timings by case and engine, and the roofline peaks."""
    results = Results()
    for bench in json.loads(path.read_text())["benchmarks"]:
        info = bench["extra_info"]
        if info.get("op") == "roofline":  # best round: other load on the core only ever slows a round down
            results.roofline[info["isa"]] = info["flops"] / bench["stats"]["min"] / 1e9
            continue
        if "interleaved" in info:  # two engines' times in one benchmark: their own table (report_peers)
            results.interleaved.append(info)
            continue
        median = info.get("external_median_s", bench["stats"]["median"])  # peers time themselves (in Node)
        results.table[info["case"]][info["engine"]] = (median, info["flops"])
        peer_min = info.get("peer", {}).get("min_ms")
        results.mins[info["case"]][info["engine"]] = peer_min / 1e3 if peer_min else bench["stats"]["min"]
        results.ops[info["case"]] = info.get("op", "")
    return results


def ordered(engines: set[str]) -> list[str]:
    return [e for e in ENGINE_ORDER if e in engines] + sorted(engines - set(ENGINE_ORDER))


def two_thread_engines(table: Table) -> list[str]:
    return ordered({e for row in table.values() for e in row if e.endswith("-2t")})


def header(table: Table, machine: str) -> str:
    threaded = two_thread_engines(table)
    threads = "every engine on one thread"
    if threaded:
        threads += f" except {', '.join(threaded)} (two threads)"
    return f"Machine: {machine}. Medians of one `make bench` run, {threads}."


def gflops(row: dict[str, tuple[float, int]], engine: str) -> float:
    seconds, flops = row[engine]
    return flops / seconds / 1e9


def markdown(results: Results, machine: str) -> str:
    """One table per set of engines (ops: wasm / native TVM / numpy; models: plan / steps / onnxruntime; ...)."""
    lines = [header(results.table, machine), ""]
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for case, row in results.table.items():
        groups[tuple(ordered(set(row)))].append(case)
    for engines, cases in groups.items():
        lines += [*table_lines(results, engines, cases), ""]
    lines += tuning_lines(results.table)
    lines += peer_lines(results)
    lines += interleaved_lines(results)
    return "\n".join(lines)


def tuning_lines(table: Table) -> list[str]:
    """Hand-scheduled vs tuned (the default compile, tuning records applied), per case that has both, on one
    and two threads, and the tuned build against onnxruntime-web where it ran in the same session."""
    pairs = [
        ("wasm-hand", "wasm", "", 1),
        ("wasm-graph-hand", "wasm-graph", "ort-web-1t", 1),
        ("wasm-graph-hand-2t", "wasm-graph-2t", "ort-web-2t", 2),
    ]
    cases = [c for c, row in table.items() if any(h in row and t in row for h, t, *_ in pairs)]
    if not cases:
        return []
    head = "| case | build | threads | hand ms | tuned ms | hand / tuned | tuned / ort-web | hand / ort-web |"
    lines = [
        "Hand-scheduled vs tuned (wasm: the op library, its shape-class entries built with the op-tile records; "
        "wasm-graph: the default compile, with the tuning records that match):",
        "",
        head,
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        row = table[case]
        for hand, tuned, peer, threads in pairs:
            if hand not in row or tuned not in row:
                continue
            h, t = row[hand][0], row[tuned][0]
            web = [f"{x / row[peer][0]:.2f}" if peer in row else "-" for x in (t, h)]
            build = tuned.removesuffix("-2t")
            lines.append(
                f"| {case} | {build} | {threads} | {h * 1e3:.2f} | {t * 1e3:.2f} | {h / t:.2f} | {web[0]} | {web[1]} |"
            )
    return [*lines, ""]


def table_lines(results: Results, engines: tuple[str, ...], cases: list[str]) -> list[str]:
    """Times are medians in ms; the first engine's GFLOP/s where the case has a FLOP count (and, for wasm on
    conv2d / dense / matmul, its share of the measured roofline, and wasm-graph's); every other engine as a
    ratio first / other (below 1: the first engine is faster). FLOPs are those of the direct computation, so
    a Winograd conv's figure is an effective rate."""
    first = engines[0]
    with_roof = first == "wasm" and results.peak is not None and any(results.ops[c] in ROOFLINE_OPS for c in cases)
    graph_roof = with_roof and "wasm-graph" in engines
    head = ["case", *(f"{e} ms" for e in engines), f"{first} GFLOP/s"]
    head += ["% of roofline"] if with_roof else []
    head += ["wasm-graph GFLOP/s", "wasm-graph % of roofline"] if graph_roof else []
    head += [f"{first} / {e}" for e in engines[1:]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for case in cases:
        row = results.table[case]
        t0, flops = row[first]
        cells = [f"{row[e][0] * 1e3:.3f}" for e in engines]
        cells.append(f"{gflops(row, first):.2f}" if flops > 10_000 else "-")
        cells += [_roofline_share(results, case)] if with_roof else []
        if graph_roof:
            cells += [f"{gflops(row, 'wasm-graph'):.2f}", _roofline_share(results, case, "wasm-graph")]
        cells += [f"{t0 / row[e][0]:.2f}" for e in engines[1:]]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return lines


def _roofline_share(results: Results, case: str, engine: str = "wasm") -> str:
    if results.ops[case] not in ROOFLINE_OPS or results.peak is None or engine not in results.table[case]:
        return "-"
    return f"{100 * gflops(results.table[case], engine) / results.peak:.0f} %"


def roofline_section(roofline: dict[str, float]) -> str:
    """How the roofline is derived, with this run's figures."""
    if not roofline:
        return ""
    figures = ", ".join(f"{isa} {gf:.1f} GFLOP/s" for isa, gf in sorted(roofline.items()))
    return (
        "## How the roofline is derived\n\n"
        "Measured, not read off a spec sheet: wasm SIMD is 128 bits wide and wasmtime's Cranelift decides what "
        "each wasm instruction becomes, so the ceiling a wasm kernel can reach is what wasm code reaches. "
        "`benchmarks/roofline.c` updates 12 independent f32x4 accumulators with one multiply-add each per loop "
        "iteration (enough chains to hide the latency, few enough to stay in registers); it is compiled at "
        "bench time with zig's clang (`-O2 -msimd128 -mrelaxed-simd`) and run under wasmtime with the op "
        "library's settings (relaxed SIMD, deterministic). FLOPs = iterations x 12 x 4 lanes x 2; peak = FLOPs "
        "/ the best of N timed calls (pytest-benchmark rounds). Two kernels: `f32x4.relaxed_madd` "
        '(relaxed-simd: the line in the GFLOP/s plot and the "% of roofline" column) and `f32x4.mul` + '
        "`f32x4.add` (simd128). A third, gemm-tile, is the ceiling of a GEMM microkernel rather than a peak: "
        "the best register tile found for wasmtime (3 rows x 12 columns, 9 accumulators) on a panel that stays "
        "in L1, with no packing, edges or epilogue (the dotted line in the plot). Cranelift lowers "
        "`relaxed_madd` to `vfmadd213ps`, which overwrites a multiplicand, so each accumulator update costs a "
        "register copy and a move on the loop's back edge besides the FMA: no conv or dense kernel can beat "
        f"that tile. This run, one core: {figures}.\n"
    )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, out: Path, ax=None, title: str = "") -> None:
    """Every plot ends alike: the legend right of the axes (if any), the title, a tight layout, the PNG."""
    if ax is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot(results: Results, out: Path) -> bool:
    """GFLOP/s per op per engine, with the measured one-core roofline (and 60 % of it) as vertical lines."""
    table = results.table
    cases = [c for c, row in table.items() if "wasm" in row and row["wasm"][1] > 10_000]  # per-op throughput
    engines = [e for e in ("wasm", "wasm-2t", "wasm-graph", "tvm-native", "numpy") if any(e in table[c] for c in cases)]
    if not cases:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(14, 0.2 * len(cases) * len(engines) + 1.8))
    height = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        vals = [gflops(table[c], engine) if engine in table[c] else 0 for c in cases]
        ax.barh([k + i * height for k in range(len(cases))], vals, height, label=engine)
    if results.peak is not None:
        peak = results.peak
        ax.axvline(peak, color="black", label=f"one-core {ROOFLINE_ISA} roofline (measured) {peak:.1f}")
        ax.axvline(ROOFLINE_FRACTION * peak, color="black", ls="--", label=f"{ROOFLINE_FRACTION:.0%} of the roofline")
    if "gemm-tile" in results.roofline:
        tile = results.roofline["gemm-tile"]
        ax.axvline(tile, color="black", ls=":", label=f"best GEMM tile under wasmtime (measured) {tile:.1f}")
    ax.set_yticks([k + height * (len(engines) - 1) / 2 for k in range(len(cases))], cases)
    ax.invert_yaxis()
    ax.set_xlabel("GFLOP/s (higher is better)")
    _save(plt, fig, out, ax, "wasmops per-op throughput")
    return True


def plot_models(table: Table, out: Path) -> bool:
    """Latency per model per engine (one bar each): the figure the model table is read for."""
    plt = _pyplot()
    cases = [c for c in table if c.startswith("model ")]
    if not cases:
        return False
    fig, axes = plt.subplots(len(cases), 1, figsize=(9, 2.2 + 0.45 * max(len(table[c]) for c in cases)), squeeze=False)
    for ax, case in zip(axes[:, 0], cases, strict=True):
        engines = ordered(set(table[case]))
        ms = [table[case][e][0] * 1e3 for e in engines]
        colors = ["tab:blue" if e.startswith("wasm") else "tab:gray" for e in engines]
        ax.barh(engines, ms, color=colors)
        for y, v in enumerate(ms):
            ax.text(v, y, f" {v:.0f}", va="center")
        ax.invert_yaxis()
        ax.set_xlabel("ms per inference (lower is better); wasmops in blue")
        ax.set_title(case)
    _save(plt, fig, out)
    return True


def speedups(table: Table) -> list[tuple[str, str, float]]:
    """(case, engine, one-thread time / two-thread time) for every case measured on both counts."""
    return [
        (case, two.removesuffix("-2t"), row[one][0] / row[two][0])
        for case, row in table.items()
        for one, two in SCALING_PAIRS
        if one in row and two in row
    ]


def plot_scaling(table: Table, out: Path) -> bool:
    """Speed-up of two threads over one, per case and engine, against the ideal 2x and a good 1.7x."""
    rows = speedups(table)
    if not rows:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(rows) + 1.5))
    labels = [f"{case} [{engine}]" for case, engine, _ in rows]
    values = [s for *_, s in rows]
    colors = ["tab:blue" if engine.startswith("wasm") else "tab:gray" for _, engine, _ in rows]
    ax.barh(labels, values, color=colors)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.2f}x", va="center", fontsize="small")
    ax.axvline(2.0, color="black", label="2x (ideal)")
    ax.axvline(1.7, color="black", ls="--", label="1.7x")
    ax.invert_yaxis()
    ax.set_xlabel("speed-up, 2 threads over 1 (higher is better); wasmops in blue")
    ax.set_xlim(0, max(2.3, 1.15 * max(values)))
    _save(plt, fig, out, ax, "thread scaling")
    return True


def figures(results: Results, out_dir: Path) -> str:
    """Write every plot that has data into out_dir; the markdown that shows them."""
    text = ""
    if plot(results, out_dir / "ops_gflops.png"):
        text += "\n![GFLOP/s per op](ops_gflops.png)\n"
    if plot_models(results.table, out_dir / "models_latency.png"):
        text += "\n![latency per model per engine](models_latency.png)\n"
    if plot_scaling(results.table, out_dir / "thread_scaling.png"):
        text += "\n![speed-up of two threads over one](thread_scaling.png)\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, default=HERE, help="where REPORT.md and the plots go (default: here)")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    machine = (
        f"{data['machine_info'].get('cpu', {}).get('brand_raw', '?')}, python {data['machine_info']['python_version']}"
    )
    results = load(args.results)
    text = markdown(results, machine)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    body = text + figures(results, args.out)
    roof = roofline_section(results.roofline)
    (args.out / "REPORT.md").write_text("# Benchmark report\n\n" + body + ("\n" + roof if roof else ""))


if __name__ == "__main__":
    main()
