// Tensors in JS: {data: TypedArray, shape: number[], dtype: string}, with numpy's dtype names, and reading
// the bytes a module or program needs from a path, a URL or memory.

export const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array, // one byte per element, 0 or 1, as numpy stores it
};

export function size(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

/** A tensor {data, shape, dtype}; `data` must be the dtype's typed array with size(shape) elements. */
export function tensor(data, shape, dtype) {
  const Typed = TYPED[dtype];
  if (!Typed) throw new TypeError(`dtype ${dtype} is not supported (supported: ${Object.keys(TYPED).join(", ")})`);
  if (!(data instanceof Typed)) throw new TypeError(`a ${dtype} tensor needs a ${Typed.name}, got ${data?.constructor?.name}`);
  if (data.length !== size(shape)) throw new RangeError(`${data.length} elements do not fill shape [${shape}]`);
  return { data, shape: [...shape], dtype };
}

/**
 * A feed checked against what the model expects ({name, dtype, shape}): a tensor object or a bare typed
 * array of the right type and length (the expected shape is taken then).
 */
export function checkFeed(feed, want) {
  const t = ArrayBuffer.isView(feed) ? { data: feed, shape: want.shape, dtype: want.dtype } : feed;
  if (!t || !ArrayBuffer.isView(t.data)) throw new TypeError(`input ${JSON.stringify(want.name)}: expected a tensor {data, shape, dtype} or a typed array`);
  if (t.dtype !== want.dtype) {
    throw new TypeError(`input ${JSON.stringify(want.name)} has dtype ${t.dtype}; the model expects ${want.dtype}`);
  }
  if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i])) {
    throw new RangeError(`input ${JSON.stringify(want.name)} has shape [${t.shape}]; the model expects [${want.shape}]`);
  }
  try {
    return tensor(t.data, t.shape, t.dtype);
  } catch (err) {
    err.message = `input ${JSON.stringify(want.name)}: ${err.message}`;
    throw err;
  }
}

/** `feeds` ({name: tensor or typed array}) checked to be exactly `inputs` ([{name, dtype, shape}]): tensors in their order. */
export function checkFeeds(feeds, inputs) {
  const names = Object.keys(feeds);
  const want = inputs.map((e) => e.name);
  const missing = want.filter((n) => !names.includes(n));
  const unknown = names.filter((n) => !want.includes(n));
  if (missing.length || unknown.length) {
    const expected = inputs.map((e) => `${e.name}: ${e.dtype}[${e.shape}]`).join(", ");
    throw new RangeError(`feeds must be exactly the model inputs ${expected}; missing [${missing}], unexpected [${unknown}]`);
  }
  return inputs.map((e) => checkFeed(feeds[e.name], e));
}

/** The bytes of a tensor's data (a view, no copy). */
export function bytesOf(data) {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A copy of `count` elements of `dtype` at byte `at` of linear memory. */
export function readTensor(memory, at, shape, dtype) {
  const Typed = TYPED[dtype];
  const out = new Typed(size(shape));
  bytesOf(out).set(new Uint8Array(memory.buffer, at, out.byteLength));
  return { data: out, shape: [...shape], dtype };
}

const isNode = typeof process !== "undefined" && Boolean(process.versions?.node);

/** Bytes from a Uint8Array / ArrayBuffer (as is), a file path (Node) or a URL (fetch). */
export async function readBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const text = String(source);
  if (isNode && !/^(https?|blob|data):/.test(text)) {
    const { readFile } = await import("node:fs/promises");
    const { fileURLToPath } = await import("node:url");
    const path = text.startsWith("file:") ? fileURLToPath(text) : text;
    try {
      const buf = await readFile(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      if (err.code === "ENOENT") return null;
      throw err;
    }
  }
  const response = await fetch(source);
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${text}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The name a path or URL ends with, for messages. */
export function baseName(source, fallback) {
  if (typeof source !== "string" && !(source instanceof URL)) return fallback;
  return String(source).split(/[\\/]/).pop() || fallback;
}
