"""Images per second scoring a dataset with wasmops.ray on a local Ray instance: 1 and 2 Ray workers (one
wasm thread each), next to the same session in this process. `make bench-ray`; needs the [ray] extra.
A Ray figure includes starting the actors and loading one session in each (what scoring a dataset costs).

    python -m benchmarks.ray_throughput [--model squeezenet] [--images 192] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

GRAPHS = Path(__file__).resolve().parents[1] / "build" / "graphs"  # shared with test_models_bench


def main() -> None:
    import ray

    import wasmops
    import wasmops.graph as wg
    import wasmops.ray
    from wasmops.bindings.graph_session import compiled_graph
    from wasmops.models import light_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="squeezenet", help="a light model of wasmops.models (compiled once)")
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    path = compiled_graph(light_model(args.model), GRAPHS, args.model, progress=False)
    sess = wg.InferenceSession(path)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(0).standard_normal((args.images, *inp.shape[1:])).astype(np.float32)
    wasmops.set_num_threads(1)
    sess.run(None, {inp.name: x[:1]})
    t0 = time.perf_counter()
    for row in x:
        sess.run(None, {inp.name: row[None]})
    rows = [("in-process session, 1 thread", args.images / (time.perf_counter() - t0))]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        ds = ray.data.from_numpy(x).rename_columns({"data": inp.name}).materialize()
        for workers in (1, 2):
            t0 = time.perf_counter()
            scored = wasmops.ray.score(ds, path, num_workers=workers, batch_size=args.batch_size).materialize()
            rows.append((f"Ray, {workers} worker(s) x 1 thread", args.images / (time.perf_counter() - t0)))
            assert scored.count() == args.images
    finally:
        ray.shutdown()
    print(f"| {args.model} ({args.images} images of {'x'.join(map(str, inp.shape))}) | images/s |")
    print("|---|---:|")
    for what, rate in rows:
        print(f"| {what} | {rate:.1f} |")


if __name__ == "__main__":
    main()
