// numpy's .npy format (versions 1-3, little-endian, C order) for the dtypes models feed and return: enough for
// `run.mjs` and tests to exchange tensors with Python. Anything else is refused by name, never misread.

import { TYPED, size, tensor } from "./tensor.mjs";

const DESCR = {
  "<f4": "float32",
  "<f8": "float64",
  "<i4": "int32",
  "<i8": "int64",
  "<u4": "uint32",
  "<i2": "int16",
  "<u2": "uint16",
  "|i1": "int8",
  "|u1": "uint8",
  "|b1": "bool",
};
const BY_DTYPE = Object.fromEntries(Object.entries(DESCR).map(([d, t]) => [t, d]));
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parse .npy bytes into a tensor {data, shape, dtype}. */
export function readNpy(bytes, name = "array") {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${name} is not a .npy file`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerLen, start] = major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  if (major < 1 || major > 3) throw new Error(`${name}: .npy version ${major} is not supported`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`${name}: bad .npy header ${header}`);
  const dtype = DESCR[descr.replace(/^=/, "<")];
  if (!dtype) throw new Error(`${name}: dtype ${descr} is not supported (supported: ${Object.keys(BY_DTYPE).join(", ")})`);
  if (fortran === "True") throw new Error(`${name}: Fortran-ordered arrays are not supported (save it with np.ascontiguousarray)`);
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const Typed = TYPED[dtype];
  const count = size(shape);
  const at = start + headerLen;
  if (bytes.length - at < count * Typed.BYTES_PER_ELEMENT) throw new Error(`${name}: truncated .npy data`);
  const data = new Typed(count);
  new Uint8Array(data.buffer).set(bytes.subarray(at, at + data.byteLength));
  return tensor(data, shape, dtype);
}

/** A tensor as .npy bytes (version 1.0, header padded to 64 bytes as numpy writes it). */
export function writeNpy(t) {
  const descr = BY_DTYPE[t.dtype];
  if (!descr) throw new Error(`dtype ${t.dtype} cannot be written to .npy here`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const head = new TextEncoder().encode(header);
  const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(10 + head.length + data.length);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, head.length, true);
  out.set(head, 10);
  out.set(data, 10 + head.length);
  return out;
}
