"""Peer engines for the benchmark report: onnxruntime-web and TensorFlow.js (wasm/XNNPACK), run in Node.

They are what a web page would otherwise use to run the same model in WebAssembly, so they are the fair
peers for wasmops. They live in npm, not PyPI, so this module drives `peers/bench.mjs` through a
subprocess (stdlib only: the Python side needs nothing new) and reads the one JSON line it prints.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / "peers"
BENCH = PEERS_DIR / "bench.mjs"
ENGINES = ("ort-web", "tfjs-wasm")


def node_available() -> bool:
    """True when both `node` and `npm` are on PATH, so callers can skip peers instead of failing."""
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install(quiet: bool = True) -> None:
    """Install the pinned npm packages once; node_modules is not committed, so a fresh clone needs this."""
    if (PEERS_DIR / "node_modules").is_dir():
        return
    if not node_available():
        raise RuntimeError("node/npm not found on PATH: cannot install the peer benchmarks")
    cmd = ["npm", "install", "--prefix", str(PEERS_DIR), "--no-audit", "--no-fund"]
    out = subprocess.run(cmd, capture_output=quiet, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"npm install failed ({out.returncode}):\n{_tail(out.stderr)}")


def run_peer(
    engine: str, model: Path, threads: int, iters: int = 10, warmup: int = 2, feeds: dict | None = None
) -> dict:
    """Time `iters` inferences of `model` in one fresh Node process (own heap and thread pool) per call.

    Returns bench.mjs's JSON (engine, threads, times_ms, median_ms, min_ms, version, ...); a key "error"
    in it means the run finished but something asked for was not in effect (e.g. threads in Node).
    tfjs-wasm cannot read ONNX: it builds ResNet-50 v1 itself, so `model` only names the ONNX input there.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown peer engine {engine!r}; expected one of {ENGINES}")
    install()
    cmd = ["node", str(BENCH), "--engine", engine, "--model", str(Path(model).resolve())]
    cmd += ["--threads", str(threads), "--iters", str(iters), "--warmup", str(warmup)]
    if feeds is not None:  # every input, as ONNX Runtime Web tensors (float32 / int32 / int64)
        doc = {
            k: {"dtype": str(v.dtype), "shape": list(v.shape), "data": base64.b64encode(v.tobytes()).decode()}
            for k, v in feeds.items()
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(doc, f)
        cmd += ["--feeds", f.name]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=PEERS_DIR)
    finally:
        if feeds is not None:
            Path(f.name).unlink(missing_ok=True)
    if out.returncode != 0:
        raise RuntimeError(f"{engine} benchmark failed ({out.returncode}):\n{_tail(out.stderr)}")
    lines = out.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"{engine}: no JSON on stdout:\n{_tail(out.stdout)}\n{_tail(out.stderr)}") from exc


class PeerServer:
    """One peer kept loaded in Node (bench.mjs --serve), timing blocks of inferences on request, so a caller
    can interleave them with its own: on a shared, noisy machine both engines then meet the same moments.

        with PeerServer("ort-web", path, threads=2) as peer:
            times = peer.run(3)          # ms, one per inference
        peer.summary                     # bench.mjs's JSON over every block (median_ms, version, ...)
    """

    def __init__(self, engine: str, model: Path, threads: int, warmup: int = 2):
        if engine not in ENGINES:
            raise ValueError(f"unknown peer engine {engine!r}; expected one of {ENGINES}")
        install()
        cmd = ["node", str(BENCH), "--engine", engine, "--model", str(Path(model).resolve()), "--serve"]
        cmd += ["--threads", str(threads), "--warmup", str(warmup)]
        self.engine, self.summary = engine, None
        self._log = tempfile.TemporaryFile("w+")  # stderr to a file: a full pipe would stall Node
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=PEERS_DIR
        )
        self._read()  # {"ready": true} once the model is loaded and warmed up

    def _read(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            self._log.seek(0)
            raise RuntimeError(f"{self.engine} peer exited ({self._proc.returncode}):\n{_tail(self._log.read())}")
        return json.loads(line)

    def run(self, k: int) -> list[float]:
        """Time k inferences now; their wall times in ms."""
        self._proc.stdin.write(f"run {int(k)}\n")
        self._proc.stdin.flush()
        return self._read()["times_ms"]

    def close(self) -> dict:
        """End the peer; bench.mjs's summary of every block (also kept as `summary`)."""
        if self.summary is None and self._proc.poll() is None:
            self._proc.stdin.write("end\n")
            self._proc.stdin.flush()
            self.summary = self._read()
            self._proc.wait(timeout=60)
        self._log.close()
        return self.summary

    def __enter__(self) -> PeerServer:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and self._proc.poll() is None:
            self._proc.kill()
        self.close()


def _tail(text: str | None, lines: int = 20) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])
