"""`python -m benchmarks.report results.json`: a table (stdout + benchmarks/REPORT.md) and a GFLOP/s plot.

Ratios come from one pytest-benchmark run (engines measured side by side), using medians.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent


def load(path: Path) -> dict[str, dict[str, tuple[float, int]]]:
    """case -> engine -> (median seconds, flops)."""
    table: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    for bench in json.loads(path.read_text())["benchmarks"]:
        info = bench["extra_info"]
        median = info.get("external_median_s", bench["stats"]["median"])  # peers time themselves (in Node)
        table[info["case"]][info["engine"]] = (median, info["flops"])
    return table


def markdown(table: dict[str, dict[str, tuple[float, int]]], machine: str) -> str:
    """One table per set of engines (ops: wasm / native TVM / numpy; models: plan / steps / onnxruntime; ...).

    Times are medians in ms; the first engine's GFLOP/s where the case has a FLOP count; every other engine
    as a ratio first / other (below 1: the first engine is faster)."""
    lines = [f"Machine: {machine}. Medians of one `make bench` run, every engine on one thread.", ""]
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for case, row in table.items():
        groups[tuple(e for e in ENGINE_ORDER if e in row) + tuple(sorted(set(row) - set(ENGINE_ORDER)))].append(case)
    for engines, cases in groups.items():
        first = engines[0]
        head = ["case", *(f"{e} ms" for e in engines), f"{first} GFLOP/s", *(f"{first} / {e}" for e in engines[1:])]
        lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for case in cases:
            row = table[case]
            t0, flops = row[first]
            cells = [f"{row[e][0] * 1e3:.3f}" for e in engines]
            cells.append(f"{flops / t0 / 1e9:.2f}" if flops > 10_000 else "-")
            cells += [f"{t0 / row[e][0]:.2f}" for e in engines[1:]]
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


ENGINE_ORDER = [
    "wasm",
    "tvm-native",
    "numpy",
    "wasm-graph",
    "wasm-plan",
    "wasm-steps",
    "onnxruntime",
    "ort-web-1t",
    "ort-web-2t",
    "tfjs-wasm-1t",
    "tfjs-wasm-2t",
    "wasm-aot",
    "wasm-pyfunc",
    "mindspore-native",
]


def plot(table: dict[str, dict[str, tuple[float, int]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c, row in table.items() if "wasm" in row and row["wasm"][1] > 10_000]  # per-op throughput
    engines = ["wasm", "tvm-native", "numpy"]
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(cases) + 1.5))
    height = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        vals = [table[c][engine][1] / table[c][engine][0] / 1e9 if engine in table[c] else 0 for c in cases]
        ax.barh([k + i * height for k in range(len(cases))], vals, height, label=engine)
    ax.set_yticks([k + height for k in range(len(cases))], cases)
    ax.invert_yaxis()
    ax.set_xlabel("GFLOP/s (higher is better)")
    ax.legend()
    ax.set_title("wasmops per-op throughput")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def plot_models(table: dict[str, dict[str, tuple[float, int]]], out: Path) -> bool:
    """Latency per model per engine (one bar each): the figure the model table is read for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in table if c.startswith("model ")]
    if not cases:
        return False
    fig, axes = plt.subplots(len(cases), 1, figsize=(9, 2.2 + 0.45 * max(len(table[c]) for c in cases)), squeeze=False)
    for ax, case in zip(axes[:, 0], cases, strict=True):
        engines = [e for e in ENGINE_ORDER if e in table[case]] + sorted(set(table[case]) - set(ENGINE_ORDER))
        ms = [table[case][e][0] * 1e3 for e in engines]
        colors = ["tab:blue" if e.startswith("wasm") else "tab:gray" for e in engines]
        ax.barh(engines, ms, color=colors)
        for y, v in enumerate(ms):
            ax.text(v, y, f" {v:.0f}", va="center")
        ax.invert_yaxis()
        ax.set_xlabel("ms per inference (lower is better); wasmops in blue")
        ax.set_title(case)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    machine = (
        f"{data['machine_info'].get('cpu', {}).get('brand_raw', '?')}, python {data['machine_info']['python_version']}"
    )
    table = load(args.results)
    text = markdown(table, machine)
    print(text)
    plot(table, HERE / "ops_gflops.png")
    figures = "\n![GFLOP/s per op](ops_gflops.png)\n"
    if plot_models(table, HERE / "models_latency.png"):
        figures += "\n![latency per model per engine](models_latency.png)\n"
    (HERE / "REPORT.md").write_text("# Benchmark report\n\n" + text + figures)


if __name__ == "__main__":
    main()
