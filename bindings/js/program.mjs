// The op library in JS, and op-by-op programs exported by `wasmops export-program` (bindings/program_export.py)
// run on it: the same kernel calls, argument records and plan runner (`wasmops_run_plan`) as the Python
// session (kernels/plan.py, kernels/runtime.py `_prepare`), so the outputs are bitwise Python's on the same
// library build.

import { Pool, defaultThreads } from "./pool.mjs";
import { TYPED, baseName, bytesOf, checkFeeds, readBytes, readTensor, size } from "./tensor.mjs";
import { LibraryError, checkIsa, engineFeatures, readManifest, sha256Hex } from "./wasm.mjs";

const PROGRAM_MAGIC = "WASMOPSP";
const ALIGN = 64;
const DL_CODES = { f: 2, i: 0, u: 1, b: 6 }; // DLPack type codes by numpy kind
const TYPE_INT = 1;
const TYPE_FLOAT = 3;
const TYPE_DLTENSOR = 7;
const DLTENSOR_BYTES = 40;

/**
 * Load the op library: `source` is a .wasm path / URL / bytes, or a folder (path or URL ending in "/") holding
 * `wasmops-relaxed.wasm` and `wasmops.wasm`, of which the relaxed-SIMD build is taken when this engine runs it.
 * Default: the library shipped with the package. Options: `threads` (default: every core).
 */
export async function loadOpLibrary(source = null, { threads = null } = {}) {
  let data = null;
  let name;
  const folder = source ?? new URL("../../kernels/lib/", import.meta.url);
  if (folder instanceof URL || (typeof folder === "string" && folder.endsWith("/"))) {
    const files = engineFeatures().relaxedSimd ? ["wasmops-relaxed.wasm", "wasmops.wasm"] : ["wasmops.wasm"];
    for (const file of files) {
      const where = folder instanceof URL ? new URL(file, folder) : folder + file;
      data = await readBytes(where instanceof URL ? where.href : where);
      name = file;
      if (data !== null) break;
    }
    if (data === null) throw new LibraryError(`no op library in ${folder} (looked for ${files.join(", ")}): run \`make build\``);
  } else {
    data = await readBytes(source);
    name = baseName(source, "wasmops.wasm");
    if (data === null) throw new LibraryError(`no op library at ${source}`);
  }
  const manifest = await readManifest(data, "wasmops.manifest", "not an op library built by `wasmops build`");
  checkIsa(manifest.isa, name);
  const pool = await Pool.create(data, name);
  if (pool.exports.wasmops_num_kernels() !== manifest.kernels.length) {
    throw new LibraryError("the module's kernel table does not match its manifest");
  }
  await pool.setThreads(threads ?? (await defaultThreads()));
  return new OpLibrary(name, manifest, pool);
}

/** One instance of the op library (its memory and thread pool); programs are loaded onto it. */
export class OpLibrary {
  constructor(name, manifest, pool) {
    this.name = name;
    this.manifest = manifest;
    this.pool = pool;
    /** kernel name -> [table index, params] */
    this.kernels = new Map(manifest.kernels.map(([kernel, , params], i) => [kernel, [i, params]]));
  }

  get isa() {
    return this.manifest.isa;
  }

  async setThreads(n) {
    await this.pool.setThreads(n);
  }

  async close() {
    await this.pool.close();
  }
}

function dtypeCode(dtype) {
  const Typed = TYPED[dtype];
  if (!Typed) throw new LibraryError(`program tensor dtype ${dtype} is not supported`);
  const kind = dtype === "bool" ? "b" : dtype[0];
  return [DL_CODES[kind], Typed.BYTES_PER_ELEMENT * 8];
}

function readProgramHeader(data, name) {
  if (data.length < 48 || new TextDecoder().decode(data.subarray(0, 8)) !== PROGRAM_MAGIC) {
    throw new LibraryError(`${name} is not a wasmops program (export one with \`wasmops export-program\`)`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(8, true) !== 1) throw new LibraryError(`${name}: unsupported program format ${view.getUint32(8, true)}`);
  const length = view.getUint32(44, true);
  if (48 + length > data.length) throw new LibraryError(`${name} is truncated`);
  const doc = JSON.parse(new TextDecoder().decode(data.subarray(48, 48 + length)));
  const start = 48 + length + ((64 - ((48 + length) % 64)) % 64);
  return [doc, data.subarray(start)];
}

/**
 * Load an exported program onto `library` (an OpLibrary, or options for `loadOpLibrary`: {library: source,
 * threads}). Refuses a corrupt file and a library that lacks a kernel the program calls (or has it with
 * other parameters).
 */
export async function loadProgram(source, { library = null, threads = null } = {}) {
  const name = baseName(source, "program");
  const data = await readBytes(source);
  if (data === null) throw new LibraryError(`no program at ${source}`);
  if (data.length < 48) throw new LibraryError(`${name} is not a wasmops program (too short)`);
  const digest = Array.from(data.subarray(12, 44), (b) => b.toString(16).padStart(2, "0")).join("");
  if ((await sha256Hex(data.subarray(44))) !== digest) {
    throw new LibraryError(`${name}: content hash mismatch: the program was modified or corrupted after it was exported`);
  }
  const [doc, region] = readProgramHeader(data, name);
  if (region.length !== doc.constant_bytes) throw new LibraryError(`${name} is truncated (constants region)`);
  checkRegions(doc, name);
  const owned = !(library instanceof OpLibrary);
  const lib = owned ? await loadOpLibrary(library, { threads }) : library;
  try {
    const indexes = doc.kernels.map(([kernel, params]) => {
      const found = lib.kernels.get(kernel);
      if (!found) throw new LibraryError(`${name} calls kernel ${kernel}, which ${lib.name} does not have (export it with this library)`);
      if (JSON.stringify(found[1]) !== JSON.stringify(params)) {
        throw new LibraryError(`${name} calls kernel ${kernel} with parameters (${params}); ${lib.name} has (${found[1]})`);
      }
      return found[0];
    });
    return new ProgramSession(name, doc, region, lib, indexes, owned);
  } catch (err) {
    if (owned) await lib.close();
    throw err;
  }
}

/** Every tensor of the program lies inside its region (arena or constants): a kernel never gets a stray address. */
function checkRegions(doc, name) {
  const limit = [doc.arena_bytes, doc.constant_bytes];
  const check = ([space, offset, shape, dtype], where) => {
    const Typed = TYPED[dtype];
    const end = offset + size(shape) * (Typed ? Typed.BYTES_PER_ELEMENT : Infinity);
    if (!(space === 0 || space === 1) || !Number.isInteger(offset) || offset < 0 || !(end <= limit[space])) {
      throw new LibraryError(`${name}: ${where} lies outside its region (${dtype}[${shape}] at ${offset} of space ${space})`);
    }
  };
  doc.steps.forEach((s, i) => s.tensors.forEach((t, j) => check(t, `step ${i} (${s.label}) tensor ${j}`)));
  for (const e of [...doc.inputs, ...doc.outputs]) check([e.space, e.offset, e.shape, e.compute], `tensor ${JSON.stringify(e.name)}`);
}

/** An exported program laid out in an op library's memory. One run at a time; usable again after any error. */
export class ProgramSession {
  constructor(name, doc, region, library, indexes, owned) {
    this.name = name;
    this.manifest = doc;
    this.library = library;
    this.owned = owned; // loaded for this program alone: closed with it
    const pool = library.pool;
    this.allocs = [];
    const alloc = (n) => {
      const ptr = pool.alloc(Math.max(n, ALIGN));
      this.allocs.push(ptr);
      return ptr;
    };
    this.arena = alloc(doc.arena_bytes);
    this.constants = alloc(region.length);
    pool.bytes().set(region, this.constants);
    let metaBytes = 12 * doc.steps.length;
    for (const s of doc.steps) {
      metaBytes += 16 * (s.tensors.length + s.scalars.length);
      for (const t of s.tensors) metaBytes += DLTENSOR_BYTES + 8 * t[2].length;
    }
    const meta = alloc(metaBytes);
    const view = new DataView(pool.memory.buffer);
    let at = meta;
    const table = [];
    for (const s of doc.steps) {
      table.push([indexes[s.kernel], at, s.tensors.length + s.scalars.length]);
      at = this.encode(view, at, s);
    }
    this.table = at;
    for (const [index, args, n] of table) {
      view.setInt32(at, index, true);
      view.setUint32(at + 4, args, true);
      view.setInt32(at + 8, n, true);
      at += 12;
    }
    this.inputs = doc.inputs.map((e) => ({ name: e.name, dtype: e.dtype, shape: [...e.shape] }));
    this.outputs = doc.outputs.map((e) => ({ name: e.name, dtype: e.dtype, shape: [...e.shape] }));
  }

  address(space, offset) {
    return (space === 0 ? this.arena : this.constants) + offset;
  }

  /** One step's argument records at `at` (kernels/runtime.py `_prepare`): TVMFFIAny array, then DLTensors. */
  encode(view, at, step) {
    const n = step.tensors.length + step.scalars.length;
    let record = at + 16 * n;
    let arg = at;
    for (const [space, offset, shape, dtype] of step.tensors) {
      view.setInt32(arg, TYPE_DLTENSOR, true);
      view.setInt32(arg + 4, 0, true);
      view.setUint32(arg + 8, record, true);
      view.setUint32(arg + 12, 0, true);
      arg += 16;
      const [code, bits] = dtypeCode(dtype);
      view.setUint32(record, this.address(space, offset), true); // data
      view.setInt32(record + 4, 1, true); // device: CPU
      view.setInt32(record + 8, 0, true);
      view.setInt32(record + 12, shape.length, true);
      view.setUint8(record + 16, code);
      view.setUint8(record + 17, bits);
      view.setUint16(record + 18, 1, true); // lanes
      view.setUint32(record + 20, record + DLTENSOR_BYTES, true); // shape
      view.setUint32(record + 24, 0, true); // strides: compact
      view.setUint32(record + 28, 0, true);
      view.setBigUint64(record + 32, 0n, true); // byte_offset
      shape.forEach((d, i) => view.setBigInt64(record + DLTENSOR_BYTES + 8 * i, BigInt(d), true));
      record += DLTENSOR_BYTES + 8 * shape.length;
    }
    for (const [kind, text] of step.scalars) {
      view.setInt32(arg, kind === "f" ? TYPE_FLOAT : TYPE_INT, true);
      view.setInt32(arg + 4, 0, true);
      if (kind === "f") {
        for (let i = 0; i < 8; i++) view.setUint8(arg + 8 + i, parseInt(text.slice(2 * i, 2 * i + 2), 16));
      } else {
        view.setBigInt64(arg + 8, BigInt(text), true);
      }
      arg += 16;
    }
    return record;
  }

  get threads() {
    return this.library.pool.threads;
  }

  async setThreads(n) {
    await this.library.setThreads(n);
  }

  /** Run on `feeds` ({name: tensor or typed array}, exactly the model's inputs) -> {name: tensor}. */
  async run(feeds) {
    const checked = checkFeeds(feeds, this.inputs);
    const pool = this.library.pool;
    const computed = this.manifest.inputs.map((e, i) => toCompute(checked[i], e));
    const mem = pool.bytes();
    this.manifest.inputs.forEach((e, i) => mem.set(bytesOf(computed[i]), this.address(e.space, e.offset)));
    const steps = this.manifest.steps;
    pool.call(pool.exports.wasmops_run_plan, [this.table, steps.length], () => {
      const i = pool.exports.wasmops_failed_step();
      return i >= 0 && i < steps.length ? `${steps[i].label} (${this.manifest.kernels[steps[i].kernel][0]}): plan step ${i}` : `plan step ${i}`;
    });
    const result = {};
    for (const e of this.manifest.outputs) {
      const raw = readTensor(pool.memory, this.address(e.space, e.offset), e.shape, e.compute);
      result[e.name] = fromCompute(raw, e.dtype);
    }
    return result;
  }

  /** Free the program's memory (and the op library, if it was loaded for this program alone). */
  async close() {
    for (const ptr of this.allocs) this.library.pool.free(ptr);
    this.allocs = [];
    if (this.owned) await this.library.close();
  }
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A feed in the dtype it computes in (registry/dtypes.py `to_compute`): int64 / uint32 narrow with a range check. */
function toCompute(t, entry) {
  if (t.dtype === entry.compute) return t.data;
  if (t.dtype === "int64" || t.dtype === "uint32") {
    for (const v of t.data) {
      if (v < INT32_MIN || v > INT32_MAX) {
        throw new RangeError(
          `input ${JSON.stringify(entry.name)}: value ${v} (${t.dtype}) does not fit int32, the integer dtype the op ` +
            `library computes in (range [${INT32_MIN}, ${INT32_MAX}])`,
        );
      }
    }
  }
  const out = new TYPED[entry.compute](size(t.shape));
  if (t.dtype === "int64") t.data.forEach((v, i) => (out[i] = Number(v)));
  else out.set(t.data);
  return out;
}

/** An output in its declared dtype (numpy's astype: int32 widens to int64, narrower integers wrap). */
function fromCompute(t, dtype) {
  if (t.dtype === dtype) return t;
  const out = new TYPED[dtype](t.data.length);
  if (dtype === "int64") t.data.forEach((v, i) => (out[i] = BigInt(v)));
  else out.set(t.data);
  return { data: out, shape: t.shape, dtype };
}
