// The thread pool of a wasmops module in JS: one shared WebAssembly.Memory, the calling instance, and n - 1
// worker instances (Node worker_threads or Web Workers), with the protocol of kernels/instances.py: each
// worker gets its own shadow stack and blocks in `wasmops_worker`; TVM's parallel loops hand it fixed task
// slices (kernels/wasm_support.c), so results do not depend on the thread count. A trap (in the caller or a
// worker) becomes an exception naming the call, and the pool stays usable.
// In a browser the calling instance must live in a Worker itself (a page's main thread may not Atomics.wait).

import {
  GraphIndexError,
  INDEX_MESSAGE,
  KernelError,
  LibraryError,
  WasmTrap,
  cString,
  memoryImport,
} from "./wasm.mjs";

export const WORKER_STACK = 1 << 20; // each worker's shadow stack, as in the Python runtime
export const WORKER_TRAPPED = -3; // a kernel's status when a worker trapped in its share of a parallel loop
export const MAX_THREADS = 64;
const TRAP_BYTES = 1024;
const isNode = typeof process !== "undefined" && Boolean(process.versions?.node);

// a page's main thread may not block (memory.atomic.wait): a pool with workers runs its calls from a Worker
const onPageThread = !isNode && typeof globalThis.WorkerGlobalScope === "undefined";

/** Why this context cannot run n > 1 threads ("" if it can). */
function threadsRefusal() {
  if (typeof SharedArrayBuffer === "undefined") {
    // browsers hide it outside cross-origin isolation (and show it where a flag enables it regardless)
    return "threads need a shared memory the workers can see: serve the page cross-origin isolated (COOP same-origin, COEP require-corp)";
  }
  if (onPageThread) return "a page's main thread may not wait for workers: load the model in a Web Worker to use threads";
  return "";
}

/** Threads by default: the cores this host reports (1 where threads cannot run, e.g. a page's main thread). */
export async function defaultThreads() {
  if (isNode) {
    const os = await import("node:os");
    return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  }
  return threadsRefusal() ? 1 : Math.max(1, globalThis.navigator?.hardwareConcurrency || 1);
}

async function spawnWorker() {
  const url = new URL("./worker.mjs", import.meta.url);
  if (isNode) {
    const { Worker } = await import("node:worker_threads");
    // a script given by -e / stdin runs with --input-type, which a worker's file may not take; the V8 flags
    // (--experimental-wasm-relaxed-simd) are process-wide and may not be repeated: then the worker gets none
    const evaluated = process.execArgv.some((a) => a.startsWith("--input-type"));
    const worker = new Worker(url, evaluated ? { execArgv: [] } : {});
    return {
      post: (msg) => worker.postMessage(msg),
      listen: (fn) => {
        worker.on("message", fn);
        worker.on("error", (err) => fn({ error: String(err?.message || err) }));
        worker.on("exit", () => fn({ done: true }));
        worker.unref(); // after the listeners (they ref it again): a worker in wasm must not keep the process alive
      },
      terminate: () => worker.terminate(),
      ref: () => worker.ref(), // while the pool waits for it to leave
    };
  }
  const worker = new Worker(url, { type: "module" });
  return {
    post: (msg) => worker.postMessage(msg),
    listen: (fn) => {
      worker.onmessage = (e) => fn(e.data);
      worker.onerror = (e) => fn({ error: String(e.message || e) });
    },
    terminate: () => worker.terminate(),
    ref: () => {},
  };
}

function isTrap(err) {
  return err instanceof WebAssembly.RuntimeError || err instanceof RangeError; // RangeError: stack exhausted
}

/** A module's instances over one shared memory. Not reentrant: one call at a time. */
export class Pool {
  /**
   * @param {Uint8Array} bytes the module (already checked by the caller's manifest)
   * @param {string} name for messages
   */
  static async create(bytes, name) {
    const limits = memoryImport(bytes);
    let memory;
    try {
      memory = new WebAssembly.Memory({ initial: limits.initial, maximum: limits.maximum, shared: true });
    } catch (err) {
      throw new LibraryError(`${name}: cannot create its shared memory (${err.message}); in a browser the page must be cross-origin isolated`);
    }
    let module;
    let instance;
    try {
      module = await WebAssembly.compile(bytes);
      instance = await WebAssembly.instantiate(module, { env: { memory } });
    } catch (err) {
      throw new LibraryError(`cannot instantiate ${name}: ${err.message}`);
    }
    return new Pool(name, module, memory, instance);
  }

  constructor(name, module, memory, instance) {
    this.name = name;
    this.module = module;
    this.memory = memory;
    this.exports = instance.exports;
    this.stackTop = this.exports.__stack_pointer.value;
    this.threads = 1; // the calling instance plus running workers
    this.workers = [];
    this.stacks = [];
    // a worker's trap message (length, UTF-8 bytes); no SharedArrayBuffer outside cross-origin isolation: 1 thread
    this.trapBuffer = typeof SharedArrayBuffer === "undefined" ? null : new SharedArrayBuffer(4 + TRAP_BYTES);
  }

  /** Bytes of linear memory (a fresh view: memory may have grown). */
  bytes() {
    return new Uint8Array(this.memory.buffer);
  }

  alloc(nbytes) {
    const ptr = this.exports.wasmops_alloc(nbytes) >>> 0;
    if (!ptr) throw new RangeError(`${this.name}: wasm linear memory exhausted allocating ${nbytes} bytes`);
    return ptr;
  }

  free(ptr) {
    this.exports.wasmops_free(ptr | 0);
  }

  /** Match the pool to n threads (n - 1 workers); resolves once every worker is inside wasm. */
  async setThreads(n) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
      throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}], got ${n}`);
    }
    if (n === this.threads) return;
    await this.stop();
    if (n <= 1) return;
    const why = threadsRefusal();
    if (why) throw new LibraryError(`${this.name}: ${n} threads: ${why}`);
    const ex = this.exports;
    ex.wasmops_restart_workers();
    const failures = [];
    for (let task = 1; task < n; task++) {
      const stack = this.alloc(WORKER_STACK);
      this.stacks.push(stack);
      const worker = await spawnWorker();
      const entry = { worker, done: null };
      entry.done = new Promise((resolve) => {
        worker.listen((msg) => {
          if (msg?.error) failures.push(msg.error);
          if (msg?.done || msg?.error) resolve();
        });
      });
      worker.post({ module: this.module, memory: this.memory, task, stackTop: stack + WORKER_STACK, trap: this.trapBuffer });
      this.workers.push(entry);
    }
    const deadline = Date.now() + 30000;
    while (ex.wasmops_workers_ready() < n - 1) {
      if (failures.length || Date.now() > deadline) {
        await this.stop(true);
        throw new LibraryError(`${this.name}: worker threads did not start${failures.length ? `: ${failures[0]}` : ""}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    ex.wasmops_set_threads(n);
    this.threads = n;
  }

  /** Send the workers home (they leave wasm and end) and free their stacks. */
  async stop(force = false) {
    if (!this.workers.length) return;
    this.exports.wasmops_stop_workers();
    this.threads = 1;
    for (const { worker } of this.workers) worker.ref();
    // forced (a worker failed to start): a terminated Web Worker never answers, a Node one resolves on exit
    await Promise.all(this.workers.map((w) => (force ? w.worker.terminate() : w.done)));
    for (const stack of this.stacks) this.free(stack);
    this.workers = [];
    this.stacks = [];
  }

  /** Stop the workers; the pool is not used afterwards. */
  async close() {
    await this.stop();
  }

  workerTrap() {
    const len = Atomics.load(new Int32Array(this.trapBuffer, 0, 1), 0);
    return new TextDecoder().decode(new Uint8Array(this.trapBuffer, 4, len).slice());
  }

  /**
   * Call an export that returns a kernel status; a trap, a worker's trap or a non-zero status becomes a
   * WasmTrap / KernelError whose message starts with `where()` (read after the failure: it may ask wasm
   * which step failed); with `indexChecks` (a whole graph), an index check's refusal is a GraphIndexError.
   * After a trap the workers finish the abandoned launch and the stack is reset.
   */
  call(fn, args, where, indexChecks = false) {
    let rc;
    try {
      rc = fn(...args);
    } catch (err) {
      if (!isTrap(err)) throw err;
      this.exports.wasmops_recover(); // a trap unwinds without finishing a parallel launch or the stack
      this.exports.__stack_pointer.value = this.stackTop;
      throw new WasmTrap(`${where()}: wasm trap: ${String(err.message).split("\n")[0]}`);
    }
    if (rc === WORKER_TRAPPED) throw new WasmTrap(`${where()}: wasm trap in a worker thread: ${this.workerTrap()}`);
    if (rc !== 0) {
      const message = cString(this.memory, this.exports.wasmops_last_error());
      if (indexChecks && message.includes(INDEX_MESSAGE)) throw new GraphIndexError(`${where()}: ${message}`);
      throw new KernelError(`${where()}: ${message || `kernel returned status ${rc}`}`);
    }
  }
}
