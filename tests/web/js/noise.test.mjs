// genedge.js draws the same float32 latents and text uniforms as genedge.runtime, bit for bit.
// The references come from the Python runtime (tests/web/test_node.py writes them).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

const cases = JSON.parse(readFileSync(process.env.GENEDGE_WEB_CASES, "utf8"));
const g = await import(pathToFileURL(cases.genedge_js).href);

function f32(path) {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function f64(path) {
  const b = readFileSync(path);
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
}

function sameBits(got, want, what) {
  assert.equal(got.length, want.length, `${what}: length`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length * (got.BYTES_PER_ELEMENT / 4));
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length * (want.BYTES_PER_ELEMENT / 4));
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      const k = Math.floor(i / (got.BYTES_PER_ELEMENT / 4));
      assert.fail(`${what}: value ${k} is ${got[k]}, Python drew ${want[k]}`);
    }
  }
}

for (const c of cases.noise) {
  test(`latents ${c.label}: seeds ${c.seeds[0]}..${c.seeds[c.seeds.length - 1]}, bit-identical`, () => {
    const want = f32(c.file);
    const per = c.count * c.shape.reduce((a, b) => a * b, 1);
    let tail = 0;
    c.seeds.forEach((seed, s) => {
      const got = g.drawNoise(c.scheme, seed, c.k, c.start, c.count, c.shape, c.truncation);
      sameBits(got, want.subarray(s * per, (s + 1) * per), `${c.label} seed ${seed}`);
      for (const v of got) if (Math.abs(v) > 3.6541528853610088) tail += 1;
    });
    if (c.truncation === null) assert.ok(tail >= c.min_tail, `only ${tail} values from the ziggurat's tail`);
  });
}

test("text uniforms: sequence streams' random() bit-identical", () => {
  const c = cases.uniforms;
  const want = f64(c.file);
  c.seeds.forEach((seed, s) => {
    const rng = g.sequenceStream(seed, c.index[s]);
    const got = new Float64Array(c.count);
    for (let i = 0; i < c.count; i++) got[i] = rng.nextDouble();
    sameBits(got, want.subarray(s * c.count, (s + 1) * c.count), `uniforms seed ${seed}`);
  });
});

test("seed 0's documented reference values (docs/manifest.md)", () => {
  const z = g.drawNoise("blocks64", 0, 0, 0, 66, [4]);
  assert.deepEqual(Array.from(z.subarray(0, 4)), [1.117622, -1.3871249, -0.4265716, -0.80358726].map(Math.fround));
  assert.deepEqual(Array.from(z.subarray(256, 260)), [1.0776631, 0.854826, 0.03968432, 0.19061089].map(Math.fround));
  const t = g.drawNoise("blocks64", 0, 0, 0, 1, [4], 0.5);
  assert.deepEqual(Array.from(t), [0.13184372, -0.22279997, -0.4559101, -0.48210302].map(Math.fround));
  const pcg = new g.PCG64([0, 0, 1]);
  assert.equal(pcg.state, 0xa9accc95fbef0b6006e48f7ba888665fn);
  assert.equal(pcg.inc, 0x0a735a66d6cc20ff6fb87b076eab3685n);
});

test("blocks64 is positional: start=s gives rows s.. of the whole draw", () => {
  const whole = g.drawNoise("blocks64", 7, 0, 0, 200, [3]);
  const part = g.drawNoise("blocks64", 7, 0, 61, 70, [3]);
  assert.deepEqual(part, whole.subarray(61 * 3, 131 * 3));
  const d = new g.NoiseDraw("blocks64", 7, 0, 0, [3]);
  const pieces = [d.take(5), d.take(100), d.take(95)];
  assert.deepEqual(Float32Array.from(pieces.flatMap((p) => Array.from(p))), whole);
});
