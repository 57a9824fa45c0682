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
        table[info["case"]][info["engine"]] = (bench["stats"]["median"], info["flops"])
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
    "wasm-plan",
    "wasm-steps",
    "onnxruntime",
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
    (HERE / "REPORT.md").write_text("# Benchmark report\n\n" + text + "\n![GFLOP/s per op](ops_gflops.png)\n")


if __name__ == "__main__":
    main()
