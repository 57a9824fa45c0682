"""A training step (forward + backward + optimiser update) on the digits nets: wasm vs MindSpore CPU.

LeNet-5 and the small ResNet with BatchNorm (tests/ms_train_nets.py), batch 32 of 1x16x16, GRAPH_MODE,
MindSpore's Momentum optimiser; wasm runs every translated layer and its gradients on the aot backend
with 1 and 2 threads. benchmarks/train_digits.py draws the loss curves.
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")
pytest.importorskip("sklearn", reason="the digits data ships with scikit-learn (the dev extra)")

from tests.ms_nets import set_mode  # noqa: E402
from tests.ms_train_nets import Trainer, batches, load_digits_16, twin  # noqa: E402
from wasmops import get_num_threads, set_num_threads  # noqa: E402
from wasmops.mindspore import to_wasm  # noqa: E402

ENGINES = ["mindspore-native", "wasm-aot", "wasm-aot-2t"]


pytestmark = pytest.mark.usefixtures("mindspore_context")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["lenet5", "resnet"])
def test_training_step(benchmark, kind, engine):
    set_mode("graph")
    x, y = next(batches(load_digits_16(), 32, 1))
    native, copy = twin(kind)
    net = native if engine == "mindspore-native" else to_wasm(copy, backend="aot", train=True)
    trainer = Trainer(net, lr=0.01)
    threads = get_num_threads()
    set_num_threads(2 if engine.endswith("2t") else 1)
    case = f"mindspore training step {kind} 32x1x16x16"
    benchmark.group = case
    benchmark.extra_info.update(case=case, engine=engine, flops=0, op=kind, ops=1)
    try:
        trainer.step(x, y)  # compiles the graphs / builds the wasm programs
        loss = benchmark.pedantic(trainer.step, args=(x, y), rounds=20, warmup_rounds=2)
    finally:
        set_num_threads(threads)
    assert np.isfinite(loss)
