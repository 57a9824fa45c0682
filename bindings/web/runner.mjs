// The model's Worker: the page posts {type: "load" | "run"} messages and gets results back. The calling
// instance of the thread pool must live in a Worker (a page's main thread may not Atomics.wait); its own
// workers share the module's memory, which needs a cross-origin-isolated page (see serve.py).

import { engineFeatures, loadGraph } from "./wasmops/index.mjs";

let session = null;

/** The first build of model.json this browser runs (relaxed SIMD first when it has it), or the one asked for. */
function pickBuild(builds, isa) {
  const features = engineFeatures();
  const usable = builds.filter((b) => b.isa === "simd128" || features.relaxedSimd);
  const build = isa ? usable.find((b) => b.isa === isa) : usable[0];
  if (!build) throw new Error(`no build of this model runs here (builds: ${builds.map((b) => b.isa)}, engine: ${JSON.stringify(features)})`);
  return build;
}

async function load({ isa, threads }) {
  const spec = await (await fetch(new URL("model.json", self.location.href))).json();
  const build = pickBuild(spec.builds, isa);
  const url = (name) => new URL(name, self.location.href).href;
  const t0 = performance.now();
  if (session) await session.close();
  session = null;
  session = await loadGraph(url(build.module), {
    weights: build.weights ? url(build.weights) : null,
    threads: self.crossOriginIsolated ? threads : 1,
    name: build.module,
  });
  return { type: "loaded", isa: build.isa, module: build.module, threads: session.threads, ms: performance.now() - t0 };
}

async function run({ feeds, threads }) {
  if (!session) throw new Error("the model is not loaded yet");
  if (threads && threads !== session.threads) await session.setThreads(self.crossOriginIsolated ? threads : 1);
  const t0 = performance.now();
  const outputs = await session.run(feeds);
  return { type: "result", outputs, ms: performance.now() - t0, threads: session.threads, isa: session.manifest.isa };
}

self.onmessage = async (e) => {
  const msg = e.data;
  try {
    const reply = msg.type === "load" ? await load(msg) : await run(msg);
    self.postMessage({ ...reply, id: msg.id });
  } catch (err) {
    self.postMessage({ type: "error", id: msg.id, message: `${err?.name || "Error"}: ${err?.message || err}` });
  }
};
