// Peer benchmark: latency of one ResNet-50 inference in Node with a browser-class WebAssembly engine.
//
//   node bench.mjs --model <path.onnx> --threads <n> --iters <k> --warmup <w> --engine ort-web|tfjs-wasm
//                  [--shape 1,3,224,224] [--feeds feeds.json] [--serve]
//
// --serve: after the warm-up, print {"ready": true} and time blocks on request: each stdin line "run <k>"
// answers {"times_ms": [...]} (k inferences); "end" prints the summary of every block. The caller then
// interleaves the peer's blocks with its own, so both see the same moments of a noisy machine.
//
// Prints exactly one JSON line on stdout; every log goes to stderr (libraries that print with
// console.log are redirected), so a caller can parse stdout as-is.
//
// ort-web:   onnxruntime-web, wasm execution provider, runs the ONNX file itself.
// tfjs-wasm: TensorFlow.js cannot load ONNX, so ResNet-50 v1 (the same layers as the ONNX model: stride
//            on the 3x3 conv, batch norm folded into conv bias) is built from tf ops in NHWC with
//            random weights and run on @tensorflow/tfjs-backend-wasm (XNNPACK).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const log = (...a) => console.error('[bench]', ...a);
console.log = console.error; // keep stdout for the one JSON line
console.info = console.error;

const { values: opt } = parseArgs({
  options: {
    model: { type: 'string' },
    threads: { type: 'string', default: '1' },
    iters: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    engine: { type: 'string' },
    shape: { type: 'string' },
    feeds: { type: 'string' }, // {"name": {"dtype": "float32"|"int32"|"int64", "shape": [...], "data": base64}}
    'no-thread-shim': { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
  },
});
const threads = Number(opt.threads);
const iters = Number(opt.iters);
const warmup = Number(opt.warmup);
function usage(msg) {
  console.error(`bench.mjs: ${msg}`);
  process.exit(2);
}
if (!['ort-web', 'tfjs-wasm'].includes(opt.engine)) usage('--engine must be ort-web or tfjs-wasm');
if (opt.engine === 'ort-web' && !opt.model) usage('--model <path.onnx> is required for ort-web');
if (!(threads >= 1 && iters >= 1 && warmup >= 0)) usage('bad --threads/--iters/--warmup');

/** Deterministic uniform [-1, 1) floats so runs are repeatable without a seeded RNG library. */
function randomFloats(n, seed = 1) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** OS threads of this process (Linux): shows whether a worker pool was really started. */
function osThreads() {
  try {
    return Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  } catch {
    return null;
  }
}

/** Warm up, then time `iters` calls of `runOnce` (or, with --serve, the blocks asked on stdin); CPU/wall
 * over the timed calls only tells whether >1 core was busy. */
async function timeIt(runOnce) {
  const t0 = performance.now();
  await runOnce();
  const firstRunMs = performance.now() - t0;
  for (let i = 1; i < warmup; i++) await runOnce();
  const times = [];
  let cpuUs = 0;
  let wall = 0;
  const block = async (k) => {
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const got = [];
    for (let i = 0; i < k; i++) {
      const a = performance.now();
      await runOnce();
      got.push(performance.now() - a);
    }
    const cpu = process.cpuUsage(cpu0);
    cpuUs += cpu.user + cpu.system;
    wall += performance.now() - wall0;
    times.push(...got);
    return got;
  };
  if (opt.serve) {
    process.stdout.write(JSON.stringify({ ready: true }) + '\n');
    const lines = createInterface({ input: process.stdin });
    for await (const line of lines) {
      const [cmd, k] = line.trim().split(/\s+/);
      if (cmd === 'end') break;
      if (cmd !== 'run' || !(Number(k) >= 1)) throw new Error(`--serve: expected "run <k>" or "end", got ${line}`);
      const got = await block(Number(k));
      process.stdout.write(JSON.stringify({ times_ms: got.map((v) => Math.round(v * 1000) / 1000) }) + '\n');
    }
    lines.close();
  } else {
    await block(iters);
  }
  const sorted = [...times].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const round = (v) => Math.round(v * 1000) / 1000;
  return {
    times_ms: times.map(round),
    median_ms: round(median),
    min_ms: round(sorted[0]),
    first_run_ms: round(firstRunMs),
    cpu_per_wall: round(cpuUs / 1000 / wall),
  };
}

async function benchOrtWeb() {
  const ort = await import('onnxruntime-web');
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = threads;
  const before = osThreads();
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(readFileSync(opt.model), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3, // the IR-3 model lists initializers as inputs: hundreds of harmless warnings
  });
  const loadMs = performance.now() - t0;
  const name = session.inputNames[0];
  let shape = opt.shape?.split(',').map(Number);
  let feeds = null;
  if (opt.feeds) {
    const arrays = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array };
    feeds = {};
    for (const [key, f] of Object.entries(JSON.parse(readFileSync(opt.feeds, 'utf8')))) {
      const bytes = Buffer.from(f.data, 'base64');
      const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      feeds[key] = new ort.Tensor(f.dtype, new arrays[f.dtype](copy), f.shape);
    }
    shape = feeds[name].dims;
  } else if (!shape) {
    const meta = session.inputMetadata?.[0];
    shape = meta?.shape;
    if (!shape || shape.some((d) => typeof d !== 'number' || d < 1)) {
      throw new Error(`input ${name} has no fixed shape (${JSON.stringify(shape)}); pass --shape`);
    }
  }
  feeds ??= { [name]: new ort.Tensor('float32', randomFloats(shape.reduce((a, b) => a * b, 1)), shape) };
  const res = await timeIt(async () => {
    const out = await session.run(feeds);
    for (const t of Object.values(out)) t.dispose?.();
  });
  const after = osThreads();
  await session.release();
  const extra = after !== null && before !== null ? after - before : null;
  const out = {
    engine: 'ort-web',
    threads,
    ...res,
    version: ort.env.versions?.web ?? 'unknown',
    input_shape: shape,
    load_ms: Math.round(loadMs),
    simd: true, // 1.30 ships only ort-wasm-simd-threaded.wasm: it would not load without SIMD
    multithread: extra !== null ? extra >= threads - 1 && threads > 1 : null,
    os_threads_added: extra,
  };
  if (threads > 1 && extra !== null && extra < threads - 1) {
    out.error = `asked for ${threads} threads but only ${extra} extra OS threads appeared: multithreading not active`;
  }
  return out;
}

/** ResNet-50 v1 in NHWC from tf ops: conv+folded-BN(bias)+ReLU fused, bottlenecks [3,4,6,3]. */
function buildResnet50(tf, seed = 0) {
  let s = seed;
  const he = (shape) => tf.randomNormal(shape, 0, Math.sqrt(2 / (shape[0] * shape[1] * shape[2])), 'float32', ++s);
  const conv = (k, cin, cout, stride, pad) => ({
    filter: he([k, k, cin, cout]),
    bias: tf.randomNormal([cout], 0, 0.1, 'float32', ++s),
    stride,
    pad,
  });
  // Explicit padding as in the ONNX model (pads 3 / 1); NHWC order of pad pairs.
  const pads = (p) => [[0, 0], [p, p], [p, p], [0, 0]];
  const stem = conv(7, 3, 64, 2, pads(3));
  const stages = [];
  let cin = 64;
  for (const [i, [blocks, width]] of [[3, 64], [4, 128], [6, 256], [3, 512]].entries()) {
    const stage = [];
    for (let b = 0; b < blocks; b++) {
      const stride = b === 0 && i > 0 ? 2 : 1;
      stage.push({
        a: conv(1, cin, width, 1, 'valid'),
        b: conv(3, width, width, stride, pads(1)),
        c: conv(1, width, width * 4, 1, 'valid'),
        proj: b === 0 ? conv(1, cin, width * 4, stride, 'valid') : null,
      });
      cin = width * 4;
    }
    stages.push(stage);
  }
  const fcW = tf.randomNormal([2048, 1000], 0, Math.sqrt(1 / 2048), 'float32', ++s);
  const fcB = tf.randomNormal([1000], 0, 0.1, 'float32', ++s);
  const apply = (x, c, activation) =>
    tf.fused.conv2d({ x, filter: c.filter, strides: c.stride, pad: c.pad, bias: c.bias, activation });

  return (x) => {
    let y = apply(x, stem, 'relu');
    y = tf.maxPool(y, 3, 2, 1); // ONNX: 3x3/2, pads 1
    for (const stage of stages) {
      for (const blk of stage) {
        const shortcut = blk.proj ? apply(y, blk.proj, 'linear') : y;
        let z = apply(y, blk.a, 'relu');
        z = apply(z, blk.b, 'relu');
        z = apply(z, blk.c, 'linear');
        y = tf.relu(tf.add(z, shortcut));
      }
    }
    y = tf.mean(y, [1, 2]); // global average pool (the ONNX model's 7x7 AveragePool at 224x224)
    return tf.softmax(tf.fused.matMul({ a: y, b: fcW, bias: fcB }));
  };
}

/**
 * tfjs-backend-wasm hard-codes WASM_HAS_MULTITHREAD_SUPPORT=false in Node (tfjs issue #3830) because its
 * Emscripten pthread workers are started from blob: URLs, which Node's worker_threads reject. The
 * threaded-SIMD build itself runs fine on worker_threads, so this shim (used only for threads > 1) writes
 * the two blobs the backend makes (the pthread worker script and the module factory it imports) to
 * temp files and hands Node their paths instead. The wasm binary and the kernels are untouched.
 *
 * Second, its C++ init caps the pool at emscripten_num_logical_cores()/2 (it assumes 2 hyperthreads per
 * core): on this 2-core machine that is 1 thread, in a browser too. So while the backend initializes,
 * os.cpus() (what Emscripten asks in Node) reports 2*threads cores. Returns the undo for that.
 */
function installNodeThreadShim(tf, wantThreads) {
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-wasm-threads-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const bundle = readFileSync(require.resolve('@tensorflow/tfjs-backend-wasm'), 'utf8');
  const bundleRequires = [...bundle.matchAll(/^var (require\$\$\d+) = require\('([\w:]+)'\);$/gm)]
    .map(([, name, mod]) => `var ${name} = require(${JSON.stringify(mod)});\n`)
    .join('') + 'var commonjsGlobal = globalThis;\n';
  const texts = new WeakMap();
  let factoryPath = null;
  const NativeBlob = globalThis.Blob;
  globalThis.Blob = class extends NativeBlob {
    constructor(parts = [], options = undefined) {
      super(parts, options);
      if (!parts.every((p) => typeof p === 'string')) return;
      const text = parts.join('');
      texts.set(this, text);
      if (text.startsWith('var WasmBackendModuleThreadedSimd')) {
        // The factory was cut out of the Node bundle, whose top level binds `require$$N` and commonjsGlobal.
        factoryPath = join(dir, 'factory.js');
        writeFileSync(factoryPath, bundleRequires + text);
      }
    }
  };
  const nativeCreate = URL.createObjectURL;
  URL.createObjectURL = (blob) => {
    const text = texts.get(blob);
    if (text === undefined || !text.includes('WasmBackendModuleThreadedSimd(Module)') || !factoryPath) {
      return nativeCreate(blob);
    }
    const load = 'var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)';
    if (!text.includes(load)) throw new Error('tfjs-wasm worker script changed: thread shim does not apply');
    const workerPath = join(dir, 'worker.cjs');
    writeFileSync(workerPath, text.replace(load, `importScripts(${JSON.stringify(factoryPath)})`));
    return workerPath;
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const os = require('node:os');
  const nativeCpus = os.cpus;
  const real = nativeCpus();
  if (real.length >= 2 * wantThreads) return { restore: () => {}, coresSeen: real.length };
  const cpus = () => Array.from({ length: 2 * wantThreads }, (_, i) => real[i % real.length]);
  os.cpus = cpus;
  return { restore: () => (os.cpus = nativeCpus), coresSeen: 2 * wantThreads };
}

async function benchTfjsWasm() {
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  const stockMultithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'); // false in Node
  const shim = threads > 1 && !opt['no-thread-shim'];
  const undo = shim ? installNodeThreadShim(tf, threads) : null;
  wasm.setThreadsCount(threads); // must precede setBackend; ignored by the non-threaded build
  const before = osThreads();
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
  await tf.ready();
  undo?.restore();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const backendThreads = typeof wasm.getThreadsCount === 'function' ? wasm.getThreadsCount() : null;
  log(`tfjs ${tf.version.tfjs} backend=${tf.getBackend()} simd=${simd} multithread=${multithread}`);
  const shape = opt.shape?.split(',').map(Number) ?? [1, 224, 224, 3];
  if (shape.length !== 4 || shape[3] !== 3) throw new Error('tfjs-wasm takes an NHWC --shape like 1,224,224,3');
  const forward = buildResnet50(tf);
  const x = tf.tensor4d(randomFloats(shape.reduce((a, b) => a * b, 1)), shape);
  const res = await timeIt(async () => {
    const y = tf.tidy(() => forward(x));
    y.dataSync(); // the timed region includes finishing the computation
    y.dispose();
  });
  const after = osThreads();
  const out = {
    engine: 'tfjs-wasm',
    threads,
    ...res,
    version: wasm.version_wasm ?? tf.version['tfjs-core'],
    input_shape: shape,
    simd,
    multithread: multithread && backendThreads > 1,
    multithread_stock_flag: stockMultithread,
    wasm_binary: `tfjs-backend-wasm${multithread ? '-threaded' : ''}${simd ? '-simd' : ''}.wasm`,
    node_thread_shim: shim,
    cores_seen_by_backend: undo ? undo.coresSeen : null,
    backend_threads: backendThreads,
    os_threads_added: after !== null && before !== null ? after - before : null,
  };
  if (threads > 1 && !(multithread && backendThreads === threads)) {
    out.error = shim
      ? `thread shim applied but the backend's pool has ${backendThreads} thread(s)`
      : 'tfjs-backend-wasm has no threads in Node (WASM_HAS_MULTITHREAD_SUPPORT hard-coded false, tfjs ' +
        `issue #3830) and caps them at logical cores/2: ran with ${backendThreads} thread(s); drop --no-thread-shim`;
  }
  return out;
}

try {
  const result = opt.engine === 'ort-web' ? await benchOrtWeb() : await benchTfjsWasm();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0); // worker pools would otherwise keep the process alive
} catch (e) {
  console.error(e?.stack ?? e);
  process.exit(1);
}
