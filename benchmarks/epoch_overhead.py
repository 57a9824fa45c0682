"""What epoch interruption (the time limits of kernels/limits.py) costs a kernel: the same calls on a runtime
built with and without it ($WASMOPS_TIME_LIMITS), in alternating fresh processes, median of the medians.

    python -m benchmarks.epoch_overhead [--rounds 3] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, os, sys, time
import numpy as np
import wasmops
wasmops.set_num_threads(int(sys.argv[2]))
rng = np.random.default_rng(0)
a, b = rng.standard_normal((512, 512), dtype=np.float32), rng.standard_normal((512, 512), dtype=np.float32)
x, w = rng.standard_normal((1, 64, 56, 56), dtype=np.float32), rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
cases = {
    "matmul 512x512x512": lambda: wasmops.matmul(a, b),
    "conv2d ResNet 64x56x56 3x3": lambda: wasmops.conv2d(x, w, padding=1),
}
out = {}
for name, fn in cases.items():
    fn(); fn()
    times = []
    for _ in range(int(sys.argv[3])):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    out[name] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            env = dict(os.environ, WASMOPS_TIME_LIMITS="1" if mode == "on" else "0")
            cmd = [sys.executable, "-c", _CHILD, mode, str(args.threads), str(args.repeat)]
            line = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
            for name, seconds in json.loads(line).items():
                results[mode].setdefault(name, []).append(seconds)
    print(f"| kernel ({args.threads} thread(s)) | without epoch checks | with | cost |")
    print("|---|---:|---:|---:|")
    for name in results["on"]:
        off, on = statistics.median(results["off"][name]), statistics.median(results["on"][name])
        print(f"| {name} | {off * 1e3:.2f} ms | {on * 1e3:.2f} ms | {100 * (on / off - 1):+.1f}% |")


if __name__ == "__main__":
    main()
