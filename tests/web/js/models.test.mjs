// genedge.js on real artifacts in Node (onnxruntime-web's wasm): the manifest equals
// `genedge info --json`, latents are Python's bit for bit, samples agree with `genedge sample`
// to float error, and text is the same text. References: tests/web/test_node.py.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const cases = JSON.parse(readFileSync(process.env.GENEDGE_WEB_CASES, "utf8"));
const g = await import(pathToFileURL(cases.genedge_js).href);
const models = new Map();

async function model(path) {
  if (!models.has(path)) models.set(path, await g.load(path));
  return models.get(path);
}

function f32(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

for (const c of cases.manifests) {
  test(`manifest of ${c.name} equals genedge info --json`, async () => {
    const bytes = readFileSync(c.model);
    assert.deepEqual(g.readManifest(bytes), c.info);
    if (c.companion) await assert.rejects(g.load(c.model), /graph of .*: load .* instead/);
    else assert.deepEqual((await model(c.model)).manifest, c.info);
  });
}

for (const c of cases.samples) {
  test(`samples of ${c.name} ${JSON.stringify(c.options)}`, async () => {
    const m = await model(c.model);
    const want = f32(c.file);
    const { seed, ...opts } = c.options;
    const z = m.latents(c.n, { seed, start: opts.start ?? 0, truncation: opts.truncation ?? null, length: opts.length });
    assert.deepEqual(Array.from(z.data), Array.from(f32(c.latents)), "latents differ from Python's");
    const x = await m.sample(c.n, { seed, ...opts });
    assert.deepEqual(x.shape, c.shape);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(x.data[i] - want[i]));
    assert.ok(worst <= c.atol, `max abs difference ${worst} > ${c.atol}`);
    if (opts.start === undefined && opts.truncation === undefined && !opts.raw) {
      const again = await m.generate(z, opts.labels ?? null, { seed });
      assert.deepEqual(again.data, x.data, "generate(latents(n)) differs from sample(n)");
    }
  });
}

for (const c of cases.texts) {
  test(`text of ${c.name} ${JSON.stringify(c.options)}`, async () => {
    const m = await model(c.model);
    for (let i = 0; i < c.want.length; i++) {
      const pieces = [];
      const text = await m.generate(c.prompt, { ...c.options, index: i, onText: (p) => pieces.push(p) });
      assert.equal(text, c.want[i], `sequence ${i}`);
      assert.equal(pieces.join(""), text);
    }
  });
}

test("an unknown noise scheme samples with a warning", async () => {
  const c = cases.unknown_scheme;
  const warn = console.warn;
  const said = [];
  console.warn = (m) => said.push(m);
  try {
    const m = await g.load(c.model);
    const x = await m.sample(3, { seed: 0 });
    assert.equal(x.shape[0], 3);
    assert.match(m.warnings[0], /noise scheme "x" is unknown/);
    assert.equal(said.length, 1);
  } finally {
    console.warn = warn;
  }
});

test("image grid helpers draw what genedge sample --out grid.png draws", async () => {
  const c = cases.grid;
  const m = await model(c.model);
  const x = await m.sample(c.n, { seed: 0 });
  const pic = m.grid(x);
  assert.deepEqual([pic.width, pic.height, pic.channels], [c.width, c.height, c.channels]);
  const want = readFileSync(c.file);
  let off = 0;
  for (let i = 0; i < want.length; i++) if (Math.abs(pic.pixels[i] - want[i]) > 1) off += 1;
  assert.equal(off, 0, `${off} pixels differ by more than 1`);
  const rgba = g.toImageData(pic);
  assert.equal(rgba.data.length, pic.width * pic.height * 4);
});
