// The page: reads model.json, turns a chosen picture into the model's input (canvas decode, resize, per-channel
// normalisation exactly as wasmops.bindings.web_export.image_tensor does in numpy), runs it in the Worker
// (runner.mjs) on the chosen thread count and shows the outputs and timings. `window.wasmops` exposes the last
// result for scripts (the headless browser test reads it).

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const spec = await (await fetch("model.json")).json();
const worker = new Worker(new URL("runner.mjs", import.meta.url), { type: "module" });
let nextId = 0;
const pending = new Map();
worker.onmessage = (e) => {
  const { resolve, reject } = pending.get(e.data.id);
  pending.delete(e.data.id);
  e.data.type === "error" ? reject(new Error(e.data.message)) : resolve(e.data);
};
worker.onerror = (e) => setStatus(`worker failed: ${e.message}`, true);

function call(msg, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ ...msg, id }, transfer);
  });
}

function setStatus(text, failed = false) {
  $("status").textContent = text;
  $("status").style.color = failed ? "#b00020" : "";
}

const state = { feeds: null, runs: [] };
window.wasmops = { spec, ready: false, last: null, error: null };

// --- threads and isolation ---------------------------------------------------------------------------------
const cores = navigator.hardwareConcurrency || 1;
const isolated = self.crossOriginIsolated;
$("isolation").innerHTML = isolated
  ? "Cross-origin isolated: the model may use up to " + cores + " threads."
  : "Not cross-origin isolated: one thread only. Threads share the module's memory with Web Workers, which " +
    "browsers allow only on pages served with <code>Cross-Origin-Opener-Policy: same-origin</code> and " +
    "<code>Cross-Origin-Embedder-Policy: require-corp</code> (this folder's <code>serve.py</code> sends them).";
if (isolated) $("isolation").classList.add("ok");
for (let n = 1; n <= (isolated ? Math.max(cores, 2) : 1); n++) $("threads").add(new Option(String(n), String(n)));
$("threads").value = String(Math.min(Number(params.get("threads") || 1), $("threads").options.length));

// --- input -------------------------------------------------------------------------------------------------
$("title").textContent = `wasmops: ${spec.name}`;
const input = spec.inputs[0];
if (spec.image) {
  $("image-input").hidden = false;
  $("image-note").textContent = `resized to ${spec.image.width}×${spec.image.height}, normalised per channel`;
} else {
  $("random-input").hidden = false;
}

/** RGBA pixels -> (1, 3, H, W) float32: (v / 255 - mean) / std with float32 rounding at every step. */
function normalise(rgba, { height, width, mean, std }) {
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const m = f(mean[c]);
    const s = f(std[c]);
    for (let i = 0; i < plane; i++) out[c * plane + i] = f(f(f(rgba[4 * i + c] / 255) - m) / s);
  }
  return out;
}

async function useImage(file) {
  const { height, width } = spec.image;
  const bitmap = await createImageBitmap(file);
  const canvas = $("preview");
  canvas.width = width;
  canvas.height = height;
  canvas.hidden = false;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, width, height);
  const data = normalise(ctx.getImageData(0, 0, width, height).data, spec.image);
  state.feeds = { [input.name]: { data, shape: input.shape, dtype: input.dtype } };
}

function randomInput() {
  let seed = 1;
  const feeds = {};
  for (const e of spec.inputs) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const Typed = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array }[e.dtype];
    if (!Typed) throw new Error(`no random input for dtype ${e.dtype}: use the JS loader directly`);
    const data = new Typed(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      data[i] = e.dtype.startsWith("float") ? seed / 2147483648 : seed % 2;
    }
    feeds[e.name] = { data, shape: e.shape, dtype: e.dtype };
  }
  state.feeds = feeds;
}

$("image").onchange = async () => {
  try {
    await useImage($("image").files[0]);
    await runOnce();
  } catch (err) {
    fail(err);
  }
};
$("random").onclick = () => {
  try {
    randomInput();
    runOnce();
  } catch (err) {
    fail(err);
  }
};
$("run").onclick = () => runOnce();

// --- running and showing -----------------------------------------------------------------------------------
function fail(err) {
  window.wasmops.error = String(err.message || err);
  setStatus(window.wasmops.error, true);
}

function showOutputs(outputs) {
  const rows = Object.entries(outputs).map(([name, t]) => {
    const values = Array.from(t.data, Number);
    const top = values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
    const shown = top.map(([v, i]) => `#${i}: ${v.toPrecision(4)}`).join(", ");
    return `<tr><td>${name}</td><td>${t.dtype}[${t.shape}]</td><td>${shown}</td></tr>`;
  });
  $("outputs").innerHTML = `<table><tr><th>output</th><th>type</th><th>top 5 (index: value)</th></tr>${rows.join("")}</table>`;
}

function showTimings() {
  const rows = state.runs.map((r, i) => `<tr><td>${i + 1}</td><td>${r.threads}</td><td>${r.isa}</td><td>${r.ms.toFixed(1)} ms</td></tr>`);
  $("timings").innerHTML =
    `<table><tr><th>run</th><th>threads</th><th>build</th><th>time</th></tr>${rows.join("")}</table>` +
    `<p>load: ${state.loadMs.toFixed(0)} ms (${state.module})</p>`;
}

async function runOnce() {
  if (!state.feeds) return setStatus(spec.image ? "choose a picture first" : "press 'use random input'");
  $("run").disabled = true;
  setStatus("running…");
  try {
    const input = Object.fromEntries(Object.entries(state.feeds).map(([k, t]) => [k, { ...t, data: t.data.slice() }]));
    const reply = await call({ type: "run", feeds: input, threads: Number($("threads").value) });
    state.runs.push({ threads: reply.threads, isa: reply.isa, ms: reply.ms });
    window.wasmops.last = { inputs: state.feeds, outputs: reply.outputs, ms: reply.ms, threads: reply.threads, isa: reply.isa };
    window.wasmops.runs = (window.wasmops.runs || 0) + 1;
    showOutputs(reply.outputs);
    showTimings();
    setStatus(`done in ${reply.ms.toFixed(1)} ms on ${reply.threads} thread(s)`);
  } catch (err) {
    fail(err);
  } finally {
    $("run").disabled = false;
  }
}

try {
  const loaded = await call({ type: "load", isa: params.get("isa"), threads: Number($("threads").value) });
  Object.assign(state, { loadMs: loaded.ms, module: loaded.module });
  window.wasmops.ready = true;
  $("run").disabled = false;
  setStatus(`loaded ${loaded.module} (${loaded.isa}) in ${loaded.ms.toFixed(0)} ms; ${loaded.threads} thread(s)`);
} catch (err) {
  fail(err);
}
