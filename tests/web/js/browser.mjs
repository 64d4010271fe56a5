// Drive a `genedge web` folder in headless Chromium (the system's, over the DevTools protocol
// with playwright-core): serve the folder on localhost, load index.html, wait for the demo's
// first run (seed 0), and save what it drew: the canvas (PNG), the samples (float32), the
// text, and a screenshot of the page.
//
//   node browser.mjs JOB.json    where JOB = {folder, out, chromium, pages: [{name, setup?}]}
import { createServer } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { createRequire } from "node:module";

// playwright-core is a dev dependency of web/ (npm ci there), not of this folder.
const { chromium } = createRequire(new URL("../../../web/package.json", import.meta.url))("playwright-core");

const job = JSON.parse(await readFile(process.argv[2], "utf8"));
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm" };

function serve(folder) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
    try {
      const body = await readFile(join(folder, path || "index.html"));
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

const browser = await chromium.launch({
  executablePath: job.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results = {};
try {
  for (const p of job.pages) {
    const server = await serve(p.folder);
    const url = `http://127.0.0.1:${server.address().port}/index.html`;
    const page = await browser.newPage({ viewport: { width: 1000, height: p.height ?? 900 } });
    const logs = [];
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 60000 });
    if (p.setup) {
      await page.evaluate(p.setup);
      await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state) && window.genedgeDemo.runs > 1, null, { timeout: 60000 });
    }
    const state = await page.evaluate(() => document.body.dataset.state);
    const status = await page.evaluate(() => document.getElementById("status").textContent + " " + document.getElementById("about").textContent);
    const drawn = await page.evaluate(() => {
      const c = document.getElementById("canvas");
      const text = document.getElementById("text");
      const demo = window.genedgeDemo;
      const out = { text: text.hidden ? null : text.textContent, loadMs: demo.loadMs };
      // The canvas as a (lossless) PNG, the samples as float32 bytes: base64, not JSON arrays.
      if (!c.hidden) out.canvas = c.toDataURL("image/png").split(",")[1];
      if (demo.last && demo.last.data) {
        const bytes = new Uint8Array(demo.last.data.buffer);
        let bin = "";
        for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        out.samples = { shape: demo.last.shape, data: btoa(bin) };
      }
      return out;
    });
    if (drawn.canvas) {
      await writeFile(join(job.out, `${p.name}.canvas.png`), Buffer.from(drawn.canvas, "base64"));
      drawn.canvas = `${p.name}.canvas.png`;
    }
    if (drawn.samples) {
      await writeFile(join(job.out, `${p.name}.f32`), Buffer.from(drawn.samples.data, "base64"));
      drawn.samples.data = `${p.name}.f32`;
    }
    await page.screenshot({ path: join(job.out, `${p.name}.png`), fullPage: true });
    const foreign = requests.filter((r) => !r.startsWith(`http://127.0.0.1:${server.address().port}/`));
    const ms = Date.now() - t0;
    results[p.name] = { ms, state, status, logs, foreign, ...drawn };
    await page.close();
    server.close();
  }
} finally {
  await browser.close();
}
await writeFile(join(job.out, "results.json"), JSON.stringify(results));
