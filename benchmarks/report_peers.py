"""The report's tables against the wasm peers (onnxruntime-web and TF.js in Node): compiled graphs timed
minutes apart (test_model_peer) and timed in alternating blocks (test_model_interleaved)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Results


def peer_lines(results: Results) -> list[str]:
    """Each model's compiled graph against onnxruntime-web and TF.js (wasm, in Node) on one and two threads,
    as ratios of medians and of fastest rounds: on a shared machine other load only ever adds time, so the
    fastest round is the steadier comparison of two engines timed minutes apart."""
    rows = []
    for case, row in results.table.items():
        for threads, ours in ((1, "wasm-graph"), (2, "wasm-graph-2t")):
            for peer in (f"ort-web-{threads}t", f"tfjs-wasm-{threads}t"):
                if ours in row and peer in row:
                    mins = results.mins[case]
                    rows.append(
                        f"| {case} | {peer.rsplit('-', 1)[0]} | {threads} | {row[ours][0] * 1e3:.1f} | "
                        f"{row[peer][0] * 1e3:.1f} | {row[ours][0] / row[peer][0]:.2f} | "
                        f"{mins[ours] / mins[peer]:.2f} |"
                    )
    if not rows:
        return []
    return [
        "Compiled graphs against the wasm peers (wasmops / peer: below 1, wasmops is faster):",
        "",
        "| case | peer | threads | wasmops median ms | peer median ms | ratio of medians | ratio of fastest rounds |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def interleaved_lines(results: Results) -> list[str]:
    """Each compiled graph against a peer timed in alternating blocks, in one process pair: the ratio of
    medians and of fastest runs over the same stretch of time. Below 1, wasmops is faster."""
    rows = []
    for info in results.interleaved:
        run = info["interleaved"]
        ours, theirs = run["wasm_ms"], run["peer_ms"]
        rows.append(
            f"| {info['case']} | {run['peer']} | {run['threads']} | {len(ours)} + {len(theirs)} | "
            f"{statistics.median(ours):.1f} | {statistics.median(theirs):.1f} | "
            f"{statistics.median(ours) / statistics.median(theirs):.2f} | {min(ours) / min(theirs):.2f} |"
        )
    if not rows:
        return []
    return [
        "Compiled graphs against the wasm peers, interleaved (blocks of inferences alternating between the two "
        "engines, the peer kept loaded in Node):",
        "",
        "| case | peer | threads | runs (wasmops + peer) | wasmops median ms | peer median ms | ratio of medians "
        "| ratio of fastest runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]
