// Run a whole graph compiled by `wasmops compile` (kernels/graph_compiler.py) in Node or a browser: the JS
// twin of kernels/graph_runtime.py. `loadGraph` is the one place the load protocol lives (manifest and
// content hash, engine features, side weight file and its pairing, instance and thread pool): a change of the
// compiled graph format is one edit here and one in kernels/graph_format.py.

import { Pool, defaultThreads } from "./pool.mjs";
import { baseName, bytesOf, checkFeeds, readBytes, readTensor } from "./tensor.mjs";
import { LibraryError, checkIsa, readManifest, sha256Hex } from "./wasm.mjs";

const SECTION = "wasmops.graph";
const WEIGHTS_MAGIC = "WASMOPSW";
const WEIGHTS_HEADER = 8 + 4 + 32 + 8; // magic, format (u32), sha256 of the payload, payload bytes (u64)

/** The payload of a side weight file, refused unless it is the one the module was compiled with (graph_format.read_weights). */
async function readWeights(data, name, sha256, nbytes) {
  if (data.length < WEIGHTS_HEADER) throw new LibraryError(`${name} is not a wasmops weight file (too short)`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = new TextDecoder().decode(data.subarray(0, 8));
  if (magic !== WEIGHTS_MAGIC || view.getUint32(8, true) !== 1) throw new LibraryError(`${name} is not a wasmops weight file`);
  const digest = Array.from(data.subarray(12, 44), (b) => b.toString(16).padStart(2, "0")).join("");
  if (digest !== sha256) {
    throw new LibraryError(
      `${name} holds weights ${digest.slice(0, 16)}..., but the module was compiled with ${sha256.slice(0, 16)}...: ` +
        "it belongs to a different model",
    );
  }
  const payload = data.subarray(WEIGHTS_HEADER);
  const size = Number(view.getBigUint64(44, true));
  if (size !== nbytes || payload.length !== nbytes || (await sha256Hex(payload)) !== sha256) {
    throw new LibraryError(`${name} is truncated or corrupted (weights hash mismatch)`);
  }
  return payload;
}

function defaultWeights(source) {
  if (typeof source !== "string" && !(source instanceof URL)) return null;
  const text = String(source);
  return /\.wasm$/.test(text) ? text.replace(/\.wasm$/, ".weights") : `${text}.weights`;
}

/**
 * Load a compiled graph: `source` is a path (Node), a URL or the module's bytes. Options: `weights` (the
 * side weight file's path, URL or bytes; default: next to the module), `threads` (default: every core),
 * `name` (for messages). Refuses a truncated or edited module, weights from another model, and a build this
 * engine cannot run (relaxed SIMD on Node 20 without its flag), each with a LibraryError saying so.
 */
export async function loadGraph(source, { weights = null, threads = null, name = null } = {}) {
  name = name || baseName(source, "model.wasm");
  const data = await readBytes(source);
  if (data === null) throw new LibraryError(`no compiled model at ${source}: run \`wasmops compile\` first`);
  const doc = await readManifest(data, SECTION, "not a model compiled by `wasmops compile`");
  checkIsa(doc.isa, name);
  let payload = null;
  if (doc.weights.mode === "file") {
    const where = weights ?? defaultWeights(source);
    if (where === null) throw new LibraryError(`${name} keeps its weights in a side file: pass it as weights`);
    const raw = await readBytes(where);
    const wname = baseName(where, "weights");
    if (raw === null) throw new LibraryError(`the model keeps its weights in a side file and ${where} does not exist`);
    payload = await readWeights(raw, wname, doc.weights.sha256, doc.weights.bytes);
  } else if (weights !== null) {
    throw new LibraryError(`${name} embeds its weights; it takes no weight file`);
  }
  const pool = await Pool.create(data, name);
  const ex = pool.exports;
  if (payload !== null) pool.bytes().set(payload, ex.wasmops_graph_weights() >>> 0);
  const addresses = [...doc.inputs, ...doc.outputs].map((_, i) => ex.wasmops_graph_io(i) >>> 0);
  const session = new GraphSession(name, doc, pool, addresses);
  await pool.setThreads(threads ?? (await defaultThreads()));
  // the weights ship in their source layout: pack them once into the layouts the kernels read
  const init = doc.init_steps ?? [];
  if (init.length) pool.call(ex.wasmops_graph_init, [], () => session.stepName(init, "weight-packing step"));
  return session;
}

/** A loaded compiled graph. One run at a time; usable again after any error. */
export class GraphSession {
  constructor(name, manifest, pool, addresses) {
    this.name = name;
    this.manifest = manifest;
    this.pool = pool;
    this.addresses = addresses;
    /** [{name, dtype, shape}] in the module's order */
    this.inputs = manifest.inputs.map((e) => ({ name: e.name, dtype: e.dtype, shape: [...e.shape] }));
    this.outputs = manifest.outputs.map((e) => ({ name: e.name, dtype: e.dtype, shape: [...e.shape] }));
  }

  get threads() {
    return this.pool.threads;
  }

  /** Use n threads from the next run on (results do not depend on n). */
  async setThreads(n) {
    await this.pool.setThreads(n);
  }

  /**
   * Run on `feeds` ({name: tensor or typed array}, exactly the model's inputs); resolves to
   * {name: {data, shape, dtype}} for every output. A failing kernel or a trap rejects with a
   * KernelError / WasmTrap naming the step (GraphIndexError for an index out of range); the session stays
   * usable.
   */
  async run(feeds) {
    const checked = checkFeeds(feeds, this.inputs);
    const mem = this.pool.bytes();
    checked.forEach((t, i) => mem.set(bytesOf(t.data), this.addresses[i]));
    const ex = this.pool.exports;
    this.pool.call(ex.wasmops_graph_run, [], () => this.stepName(), true);
    const result = {};
    this.outputs.forEach((e, i) => {
      result[e.name] = readTensor(this.pool.memory, this.addresses[this.inputs.length + i], e.shape, e.dtype);
    });
    return result;
  }

  stepName(steps = this.manifest.steps, what = "step") {
    const step = this.pool.exports.wasmops_failed_step();
    return `${this.name} ${what} ${step}${step >= 0 && step < steps.length ? ` (${steps[step]})` : ""}`;
  }

  /** Stop the worker threads (a Node process can exit with them running, a page should close them). */
  async close() {
    await this.pool.close();
  }
}
