#!/usr/bin/env node
// The Node command: run a compiled graph (MODEL.wasm) or an exported op-by-op program (PROGRAM.bin, on the op
// library) on .npy inputs and write each output as DIR/<name>.npy.
//
//   node bindings/js/run.mjs MODEL.wasm [--weights FILE] [--threads N] --input NAME=FILE.npy ... --output-dir DIR
//   node bindings/js/run.mjs PROGRAM.bin [--library LIB.wasm|DIR/] [--threads N] --input NAME=FILE.npy ... --output-dir DIR
// --repeat N: N more timed runs after the first (V8 tiers its code up meanwhile), median printed.
//
// Errors print one line and exit 1. On Node 20 the command restarts itself with --experimental-wasm-relaxed-simd
// so that relaxed-SIMD builds run; a program runs on the relaxed op library then too (set --library to choose).

import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { loadGraph } from "./graph.mjs";
import { readNpy, writeNpy } from "./npy.mjs";
import { loadProgram } from "./program.mjs";
import { engineFeatures } from "./wasm.mjs";

const RELAXED_FLAG = "--experimental-wasm-relaxed-simd";

const USAGE =
  "usage: node run.mjs MODEL.wasm|PROGRAM.bin [--weights FILE] [--library LIB] [--threads N] " +
  "--input NAME=FILE.npy ... --output-dir DIR [--repeat N]";

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      weights: { type: "string" },
      library: { type: "string" },
      threads: { type: "string" },
      input: { type: "string", multiple: true, default: [] },
      "output-dir": { type: "string" },
      repeat: { type: "string", default: "0" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || !values["output-dir"]) throw new Error(USAGE);
  const [model] = positionals;
  const threads = values.threads === undefined ? null : Number(values.threads);
  if (threads !== null && !Number.isInteger(threads)) throw new Error(`--threads takes an integer, got ${values.threads}`);
  const feeds = {};
  for (const spec of values.input) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new Error(`--input takes NAME=FILE.npy, got ${spec}`);
    const file = spec.slice(eq + 1);
    feeds[spec.slice(0, eq)] = readNpy(new Uint8Array(await readFile(file)), file);
  }
  const head = new Uint8Array(await readFile(model)).subarray(0, 8);
  const isProgram = new TextDecoder().decode(head) === "WASMOPSP";
  if (!isProgram && values.library) throw new Error("--library is for programs (PROGRAM.bin), not compiled graphs");
  if (isProgram && values.weights) throw new Error("--weights is for compiled graphs (MODEL.wasm), not programs");
  const session = isProgram
    ? await loadProgram(model, { library: values.library ?? null, threads })
    : await loadGraph(model, { weights: values.weights ?? null, threads });
  try {
    const started = performance.now();
    const outputs = await session.run(feeds);
    const ms = performance.now() - started;
    const times = [];
    for (let i = 0; i < Number(values.repeat); i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    await mkdir(values["output-dir"], { recursive: true });
    for (const [name, t] of Object.entries(outputs)) {
      const path = join(values["output-dir"], `${name.replace(/[^\w.-]/g, "_")}.npy`);
      await writeFile(path, writeNpy(t));
      console.log(`${name}: ${t.dtype}[${t.shape}] -> ${path}`);
    }
    console.log(`ran ${session.name} in ${ms.toFixed(1)} ms on ${session.threads} thread(s)`);
    if (times.length) {
      times.sort((a, b) => a - b);
      console.log(`${times[times.length >> 1].toFixed(2)} ms per run (median of ${times.length} after the first)`);
    }
  } finally {
    await session.close();
  }
  return 0;
}

// Node 20 runs relaxed-SIMD builds (the default of `wasmops compile` and the faster op library) only with a V8
// flag: without it, run again with it once (the flag is process-wide; a newer Node that has relaxed SIMD never gets here)
if (!engineFeatures().relaxedSimd && !process.env.WASMOPS_JS_RELAXED_TRIED) {
  const child = spawnSync(process.execPath, [RELAXED_FLAG, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, WASMOPS_JS_RELAXED_TRIED: "1" },
  });
  process.exit(child.status ?? 1);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: ${err?.name && err.name !== "Error" ? `${err.name}: ` : ""}${err?.message ?? err}`);
    process.exit(1);
  },
);
