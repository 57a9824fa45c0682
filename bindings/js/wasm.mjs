// Reading a wasmops module before it runs: its custom sections, content hash, memory import, and which wasm
// features this engine has. The JS twin of kernels/manifest.py and kernels/graph_format.py (their formats are
// the contract; nothing here may drift from them). Plain ES module: Node >= 20 and browsers, no dependencies.

/** The file is not a usable wasmops module (corrupt, truncated, wrong format, wrong weights). */
export class LibraryError extends Error {
  constructor(message) {
    super(message);
    this.name = "LibraryError";
  }
}

/** A kernel refused its arguments or failed; the message names the kernel or step. */
export class KernelError extends Error {
  constructor(message, step = null) {
    super(message);
    this.name = "KernelError";
    this.step = step;
  }
}

/**
 * An index of a whole graph's Gather / Scatter step outside its tensor (the graph's own check refused it, as
 * kernels/graph_runtime.py GraphIndexError does): the message names the step, the op and the valid range.
 */
export class GraphIndexError extends KernelError {
  constructor(message, step = null) {
    super(message, step);
    this.name = "GraphIndexError";
  }
}

/** The wasm code trapped (out-of-bounds access, unreachable, ...); the pool recovered and stays usable. */
export class WasmTrap extends KernelError {
  constructor(message, step = null) {
    super(message, step);
    this.name = "WasmTrap";
  }
}

/** The message of a graph's index checks (kernels/graph_index_checks.py MESSAGE). */
export const INDEX_MESSAGE = "index out of range";

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const decoder = new TextDecoder();

function readLeb(data, at) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (at >= data.length) throw new LibraryError("truncated module (section header runs past the end)");
    const byte = data[at++];
    value += (byte & 0x7f) * scale; // no bit ops: sizes may pass 2^31
    scale *= 128;
    if (!(byte & 0x80)) return [value, at];
  }
}

/**
 * Split a module into its bytes without the named custom section, and that section's payload (or null),
 * as kernels/manifest.py `split_sections` does (the content hash covers exactly the first).
 */
export function splitSections(data, section) {
  if (data.length < 8 || MAGIC.some((b, i) => data[i] !== b)) {
    throw new LibraryError("not a wasm module (bad magic number or version)");
  }
  const want = new TextEncoder().encode(section);
  const kept = [data.subarray(0, 8)];
  let payload = null;
  let at = 8;
  while (at < data.length) {
    const start = at;
    const id = data[at];
    const [size, body] = readLeb(data, at + 1);
    const end = body + size;
    if (end > data.length) throw new LibraryError("truncated module (a section runs past the end)");
    if (id === 0) {
      const [nameLen, nameAt] = readLeb(data, body);
      const name = data.subarray(nameAt, nameAt + nameLen);
      if (name.length === want.length && name.every((b, i) => b === want[i])) {
        payload = data.subarray(nameAt + nameLen, end);
        at = end;
        continue;
      }
    }
    kept.push(data.subarray(start, end));
    at = end;
  }
  const total = kept.reduce((n, part) => n + part.length, 0);
  const body = new Uint8Array(total);
  let off = 0;
  for (const part of kept) {
    body.set(part, off);
    off += part.length;
  }
  return [body, payload];
}

/** The sha256 of bytes, as lowercase hex (WebCrypto: Node >= 20 and secure browser contexts). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Read a module's JSON manifest section `section` and check its content hash covers every other byte,
 * as the Python loaders do: a truncated or edited module is refused before it is compiled.
 */
export async function readManifest(data, section, what) {
  const [body, raw] = splitSections(data, section);
  if (raw === null) throw new LibraryError(`no ${section} manifest: ${what}`);
  let doc;
  try {
    doc = JSON.parse(decoder.decode(raw));
  } catch (err) {
    throw new LibraryError(`corrupt manifest: ${err.message}`);
  }
  if (doc.format !== 1) throw new LibraryError(`unsupported manifest format ${JSON.stringify(doc.format)}`);
  if ((await sha256Hex(body)) !== doc.content_hash) {
    throw new LibraryError("content hash mismatch: the module was modified or corrupted after it was built");
  }
  return doc;
}

/** The limits {initial, maximum, shared} of the module's one import, `env.memory` (read from its import section). */
export function memoryImport(data) {
  let at = 8;
  while (at < data.length) {
    const id = data[at];
    const [size, body] = readLeb(data, at + 1);
    if (id === 2) {
      let [count, p] = readLeb(data, body);
      const found = [];
      for (; count > 0; count--) {
        let len;
        [len, p] = readLeb(data, p);
        const mod = decoder.decode(data.subarray(p, p + len));
        p += len;
        [len, p] = readLeb(data, p);
        const field = decoder.decode(data.subarray(p, p + len));
        p += len;
        const kind = data[p++];
        if (kind !== 2) {
          found.push(`${mod}.${field}`);
          break; // anything but a memory: refused below, no need to decode its type
        }
        const flags = data[p++];
        let initial;
        let maximum;
        [initial, p] = readLeb(data, p);
        if (flags & 1) [maximum, p] = readLeb(data, p);
        found.push({ name: `${mod}.${field}`, initial, maximum, shared: Boolean(flags & 2) });
      }
      if (found.length !== 1 || typeof found[0] === "string" || !found[0].shared) {
        const names = found.map((f) => (typeof f === "string" ? f : f.name)).join(", ");
        throw new LibraryError(`the module must import exactly one shared memory (it imports: ${names || "nothing"})`);
      }
      return found[0];
    }
    at = body + size;
  }
  throw new LibraryError("the module imports no memory: it was not built by this wasmops for a shared memory");
}

// Tiny probe modules: () -> v128 over three v128.const operands, then one instruction.
function probe(opcode) {
  const konst = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const body = [0x00, ...konst, ...konst, ...konst, ...opcode, 0x0b];
  return new Uint8Array([
    ...MAGIC,
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // type: () -> v128
    ...[0x03, 0x02, 0x01, 0x00], // one function of type 0
    ...[0x0a, body.length + 2, 0x01, body.length, ...body],
  ]);
}

const features = {
  simd128: WebAssembly.validate(probe([0x1a, 0x1a])), // drop, drop: plain v128 values
  relaxedSimd: WebAssembly.validate(probe([0xfd, 0x85, 0x02])), // f32x4.relaxed_madd
  threads: typeof SharedArrayBuffer !== "undefined",
};

/** What this engine runs: {simd128, relaxedSimd, threads}. Node 20 has relaxed SIMD only with a flag. */
export function engineFeatures() {
  return { ...features };
}

/** Throw a clear error if this engine cannot run a module built for `isa` ('simd128' or 'relaxed-simd'). */
export function checkIsa(isa, name) {
  if (!features.simd128) throw new LibraryError(`${name}: this engine has no wasm SIMD (every wasmops build needs simd128)`);
  if (isa === "relaxed-simd" && !features.relaxedSimd) {
    const node = typeof process !== "undefined" && process.versions?.node;
    throw new LibraryError(
      `${name} was built with relaxed SIMD, which this engine does not run` +
        (node ? " (Node 20: start node with --experimental-wasm-relaxed-simd)" : "") +
        "; compile it with `wasmops compile --no-relaxed` (or use the simd128 op library) to run it here",
    );
  }
  if (isa !== "simd128" && isa !== "relaxed-simd") throw new LibraryError(`${name}: unknown isa ${JSON.stringify(isa)}`);
}

/** The NUL-terminated string at `ptr` in linear memory (the kernels' error messages). */
export function cString(memory, ptr) {
  const bytes = new Uint8Array(memory.buffer);
  let end = ptr >>> 0;
  while (end < bytes.length && bytes[end]) end++;
  return decoder.decode(bytes.slice(ptr >>> 0, end));
}
