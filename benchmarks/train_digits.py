"""Train LeNet-5 and the small ResNet on scikit-learn's digits on wasm kernels and on MindSpore CPU.

Same initial weights, same batches, MindSpore's Momentum optimiser, GRAPH_MODE, wasm on the aot
backend. Writes the loss curves side by side (--plot, default docs/training_digits.png), and prints the
held-out accuracies, the largest loss difference and a step-time table (Markdown) for the README:
MindSpore CPU, wasm on 1 thread (the whole run) and on 2 threads (--timed-steps more steps).

    .venv/bin/python -m benchmarks.train_digits --epochs 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _run(trainer, data, epochs: int) -> tuple[np.ndarray, float, float]:
    from tests.ms_train_nets import batches

    losses, start = [], time.perf_counter()
    for x, y in batches(data, 32, epochs):
        losses.append(trainer.step(x, y))
    per_step = (time.perf_counter() - start) / len(losses)
    return np.array(losses), trainer.accuracy(data.x_test, data.y_test)[0], per_step


def _timed(trainer, data, steps: int) -> float:
    from tests.ms_train_nets import batches

    feed = list(batches(data, 32, 1))[:steps]
    trainer.step(*feed[0])
    start = time.perf_counter()
    for x, y in feed:
        trainer.step(x, y)
    return (time.perf_counter() - start) / len(feed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--timed-steps", type=int, default=20)
    parser.add_argument("--plot", type=Path, default=Path("docs/training_digits.png"))
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tests.ms_nets import numpy2_warmup, set_mode
    from tests.ms_train_nets import Trainer, load_digits_16, twin
    from wasmops import set_num_threads
    from wasmops.mindspore import to_wasm

    numpy2_warmup()
    set_mode("graph")
    data = load_digits_16()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    rows = []
    for ax, kind in zip(axes, ("lenet5", "resnet"), strict=True):
        native, copy = twin(kind)
        wasm = to_wasm(copy, backend="aot", train=True)
        set_num_threads(1)
        ln, an, tn = _run(Trainer(native, lr=args.lr), data, args.epochs)
        lw, aw, tw = _run(Trainer(wasm, lr=args.lr), data, args.epochs)
        set_num_threads(2)
        _, copy2 = twin(kind)
        tw2 = _timed(Trainer(to_wasm(copy2, backend="aot", train=True), lr=args.lr), data, args.timed_steps)
        gap = float(np.abs(lw - ln).max())
        print(f"{kind}: held-out accuracy MindSpore {an:.3f}, wasm {aw:.3f}; largest loss difference {gap:.2e}")
        rows.append((kind, tn, tw, tw2))
        steps = np.arange(1, len(ln) + 1)
        ax.plot(steps, ln, label=f"MindSpore CPU (accuracy {an:.1%})", lw=2.5, alpha=0.6)
        ax.plot(steps, lw, label=f"wasm kernels (accuracy {aw:.1%})", lw=1, ls="--", color="k")
        ax.set(title=f"{kind}, digits 16x16, batch 32", xlabel="step", ylabel="training loss")
        ax.legend()
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"wrote {args.plot}\n")
    print("| network | MindSpore CPU | wasm, 1 thread | wasm, 2 threads |")
    print("|---|---|---|---|")
    for kind, tn, tw, tw2 in rows:
        print(f"| {kind} | {tn * 1e3:.0f} ms | {tw * 1e3:.0f} ms | {tw2 * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()
