// Drive an export-web page in headless Chromium (from the npm registry: @sparticuz/chromium + puppeteer-core,
// installed under PREFIX by tests/test_web_export.py): for each thread count, open the page, choose the
// picture in its file input, wait for the Worker's result and print what the page fed the model and got
// back (bytes as base64) as one JSON line.
//
//   node drive_page.mjs PREFIX URL IMAGE THREADS[,THREADS...]

import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, url, image, threadList] = process.argv.slice(2);
const need = createRequire(join(resolve(prefix), "package.json"));
const chromium = (await import(pathToFileURL(need.resolve("@sparticuz/chromium")).href)).default;
const puppeteer = (await import(pathToFileURL(need.resolve("puppeteer-core")).href)).default;

chromium.setGraphicsMode = false; // no GPU here; wasm needs none
// its serverless defaults that would hide what is tested: one process (workers need their own threads), and
// switches that turn site isolation off or hand out SharedArrayBuffer without COOP/COEP
const DROPPED = [
  "--single-process",
  "--disable-web-security",
  "--disable-site-isolation-trials",
  "--disable-features=",
  "--enable-features=SharedArrayBuffer",
];
const browser = await puppeteer.launch({
  executablePath: await chromium.executablePath(),
  args: chromium.args.filter((a) => !DROPPED.some((d) => a.startsWith(d))),
  headless: true,
});
const results = [];
try {
  for (const threads of threadList.split(",").map(Number)) {
    const page = await browser.newPage();
    const log = [];
    page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(`${url}?threads=${threads}`, { waitUntil: "load" });
    const failed = () => page.evaluate(() => window.wasmops?.error ?? null);
    await page.waitForFunction("window.wasmops && (window.wasmops.ready || window.wasmops.error)", { timeout: 180000 });
    if (await failed()) throw new Error(`the page failed to load the model: ${await failed()}\n${log.join("\n")}`);
    await (await page.$("#image")).uploadFile(image);
    await page.waitForFunction("window.wasmops.runs >= 1 || window.wasmops.error", { timeout: 180000 });
    if (await failed()) throw new Error(`the run failed: ${await failed()}\n${log.join("\n")}`);
    results.push(
      await page.evaluate((requested) => {
        const b64 = (typed) => {
          const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
          let text = "";
          for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          return btoa(text);
        };
        const last = window.wasmops.last;
        const pack = (tensors) =>
          Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { data: b64(t.data), shape: t.shape, dtype: t.dtype }]));
        return {
          requested,
          isolated: self.crossOriginIsolated,
          threads: last.threads,
          isa: last.isa,
          ms: last.ms,
          inputs: pack(last.inputs),
          outputs: pack(last.outputs),
        };
      }, threads),
    );
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
