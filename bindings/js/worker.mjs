// One worker of a pool (pool.mjs), in a Node worker thread or a Web Worker: instantiate the module over the
// shared memory, take its own shadow stack, and serve parallel-loop tasks in `wasmops_worker` until the pool
// stops it. After a trap in a task it reports the message, fails that launch and serves again (resume = 1),
// as kernels/instances.py `_serve` does.

function serve({ module, memory, task, stackTop, trap }) {
  const { exports: ex } = new WebAssembly.Instance(module, { env: { memory } });
  let resume = 0;
  for (;;) {
    ex.__stack_pointer.value = stackTop;
    try {
      ex.wasmops_worker(task, resume);
      return;
    } catch (err) {
      const text = new TextEncoder().encode(String(err?.message || err).split("\n")[0]).subarray(0, trap.byteLength - 4);
      new Uint8Array(trap, 4, text.length).set(text);
      Atomics.store(new Int32Array(trap, 0, 1), 0, text.length);
      ex.wasmops_worker_failed(task);
      resume = 1;
    }
  }
}

function start(post, msg) {
  try {
    serve(msg);
    post({ done: true });
  } catch (err) {
    post({ error: String(err?.message || err) });
  }
}

if (typeof process !== "undefined" && process.versions?.node && !globalThis.WorkerGlobalScope) {
  const { parentPort } = await import("node:worker_threads");
  parentPort.once("message", (msg) => {
    start((m) => parentPort.postMessage(m), msg);
    parentPort.close();
  });
} else {
  self.onmessage = (e) => start((m) => self.postMessage(m), e.data);
}
