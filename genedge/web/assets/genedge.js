// genedge.js: sample a genedge artifact in the browser or in Node, with the same seeds as the
// Python runtime (genedge.runtime.Sampler / TextSampler). An ES module, no build step.
//
//   import { load } from "./genedge.js";
//   const model = await load("dcgan.onnx");                 // manifest read from the ONNX bytes
//   const { data, shape } = await model.sample(64, { seed: 0 }); // Float32Array, data units
//   model.manifest;                                          // as `genedge info --json` prints it
//
// The graph runs on onnxruntime-web (the ort.wasm.min.mjs beside this file, single-threaded
// wasm: no cross-origin isolation needed) or on any onnxruntime you pass as `options.ort`
// (onnxruntime-node, onnxruntime-web from npm).

import { imageGrid, makeGrid, scatter, toImageData, toUint8, upscale } from "./images.js";
import { readManifest } from "./manifest.js";
import { NoiseDraw, NOISE_SCHEMES, PCG64 } from "./noise.js";
import { checkSettings, choose, StopFilter } from "./text.js";

export { imageGrid, makeGrid, scatter, toImageData, toUint8, upscale };
export { normalizeManifest, readManifest, readMetadataProps } from "./manifest.js";
export { drawNoise, NoiseDraw, normalPpf, PCG64, sequenceStream, standardNormalF } from "./noise.js";
export { checkSettings, choose } from "./text.js";

/** Prompt pieces read per graph call (as genedge.runtime.text.PROMPT_PIECE). */
const PROMPT_PIECE = 256;
/** Samples per graph call unless asked otherwise. */
const DEFAULT_BATCH = 64;

const isNode = typeof process !== "undefined" && !!process.versions?.node;

async function readBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const text = String(source);
  if (isNode && !/^(https?|blob|data):/.test(text)) {
    const { readFile } = await import("node:fs/promises");
    const path = text.startsWith("file:") ? (await import("node:url")).fileURLToPath(text) : text;
    return new Uint8Array(await readFile(path));
  }
  const base = typeof document !== "undefined" ? document.baseURI : globalThis.location?.href;
  const res = await fetch(new URL(text, base));
  if (!res.ok) throw new Error(`cannot fetch ${text}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

let bundledOrt = null;

/** The onnxruntime-web copy beside this file, set to single-threaded wasm. */
async function defaultOrt() {
  if (bundledOrt === null) {
    const url = new URL("./ort.wasm.min.mjs", import.meta.url);
    bundledOrt = await import(url.href);
    const here = new URL("./", import.meta.url);
    bundledOrt.env.wasm.numThreads = 1;
    bundledOrt.env.wasm.wasmPaths = isNode ? (await import("node:url")).fileURLToPath(here) : here.href;
  }
  return bundledOrt;
}

function randomSeed() {
  const w = new Uint32Array(2);
  globalThis.crypto.getRandomValues(w);
  return w[0] * 2 ** 21 + (w[1] >>> 11); // 53 random bits
}

function checkCount(n) {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a whole number >= 1, got ${n}`);
  return n;
}

/** A tensor spec's concrete shape for `batch` samples of `length` steps (as feeds.input_shape). */
function inputShape(spec, batch, length) {
  return spec.shape.map((d) => {
    if (d === "batch") return batch;
    if (d === "length") return length || 1;
    if (Number.isInteger(d)) return d;
    throw new Error(`input ${spec.name} has an unknown dynamic axis ${d}`);
  });
}

const prod = (xs) => xs.reduce((a, b) => a * b, 1);

/** IEEE half-precision bits to a number. */
function halfToFloat(h) {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

/** A tensor's values as float32 (fp16 graphs may return float16 tensors). */
function float32Of(tensor) {
  if (tensor.type === "float32") return tensor.data;
  if (tensor.type === "float16") {
    const d = tensor.data;
    const bits = d instanceof Uint16Array ? d : new Uint16Array(d.buffer, d.byteOffset, d.length);
    return Float32Array.from(bits, halfToFloat);
  }
  return Float32Array.from(tensor.data, Number);
}

/**
 * Load an artifact: a URL or path, or the file's bytes.
 * @param {string|URL|Uint8Array|ArrayBuffer} source
 * @param {{ort?: object, sessionOptions?: object}} [options]
 * @returns {Promise<Model|TextModel>} a TextModel for output kind "text", else a Model
 */
export async function load(source, options = {}) {
  const bytes = await readBytes(source instanceof URL ? source.href : source);
  const manifest = readManifest(bytes);
  if (manifest.companion) {
    const c = manifest.companion;
    throw new Error(`this file is the ${c.role} graph of ${c.artifact}: load ${c.artifact} instead`);
  }
  // The bundled onnxruntime-web runs on wasm; another onnxruntime keeps its own defaults.
  const ort = options.ort ?? (await defaultOrt());
  const defaults = options.ort ? {} : { executionProviders: ["wasm"] };
  const session = await ort.InferenceSession.create(bytes, { ...defaults, ...(options.sessionOptions ?? {}) });
  const Kind = manifest.output_kind === "text" ? TextModel : Model;
  return new Kind(manifest, session, ort);
}

class Base {
  constructor(manifest, session, ort) {
    /** The manifest, as `genedge info --json` prints it. */
    this.manifest = manifest;
    this.session = session;
    this.ort = ort;
    /** Warnings about this artifact (e.g. a noise scheme this port cannot reproduce). */
    this.warnings = [];
  }

  /** Release the onnxruntime session. */
  async close() {
    await this.session.release?.();
  }
}

/** An image, points, vector or sequence generator (genedge.runtime.Sampler's JS twin). */
export class Model extends Base {
  constructor(manifest, session, ort) {
    super(manifest, session, ort);
    const inputs = manifest.graphs.sampler.inputs;
    this.latentSpec = inputs.find((t) => t.role === "latent");
    if (!this.latentSpec) throw new Error("manifest: the sampler graph has no latent input");
    this.noiseSpecs = inputs.filter((t) => t.role === "noise");
    this.labelSpec = inputs.find((t) => t.role === "label") ?? null;
    this.truncationSpec = inputs.find((t) => t.role === "truncation") ?? null;
    this.stateSpecs = inputs.filter((t) => t.role === "state");
    const p = manifest.preprocessing;
    const a = (p.data_max - p.data_min) / (p.model_max - p.model_min);
    this.scale = Math.fround(a);
    this.offset = Math.fround(p.data_min - a * p.model_min);
    this.isSequence = manifest.output_kind === "sequence";
    this.scheme = manifest.noise_scheme;
    if (!NOISE_SCHEMES.includes(this.scheme)) {
      this.warnings.push(
        `noise scheme ${JSON.stringify(this.scheme)} is unknown to this genedge.js: samples are ` +
          "drawn with blocks64 and differ from Python's for the same seed",
      );
      for (const w of this.warnings) console.warn(`genedge.js: ${w}`);
      this.scheme = "blocks64";
    }
  }

  /** Output kind: "image", "points", "sequence" or "vector". */
  get kind() {
    return this.manifest.output_kind;
  }

  /** Number of classes of a conditional model (0 otherwise). */
  get numClasses() {
    return this.manifest.num_classes;
  }

  /** [lo, hi] of samples in data units. */
  get valueRange() {
    return [this.manifest.preprocessing.data_min, this.manifest.preprocessing.data_max];
  }

  length(length) {
    if (!this.isSequence) {
      if (length) throw new RangeError("length is for sequence models only");
      return 0;
    }
    const steps = length ?? this.manifest.default_length;
    if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`length must be >= 1, got ${steps}`);
    return steps;
  }

  /** The latent input's shape for n samples. */
  latentShape(n, length) {
    return inputShape(this.latentSpec, n, this.length(length));
  }

  /** One sample's output shape. */
  sampleShape(length) {
    const steps = this.length(length);
    return this.manifest.sample_shape.map((d) => (d === "length" ? steps : d));
  }

  draw(spec, k, seed, start, length, truncation) {
    const per = inputShape(spec, 1, length).slice(1);
    return new NoiseDraw(this.scheme, seed, k, start, per, truncation);
  }

  /**
   * The latents sample(n, {seed, start}) uses: {data, shape}, bit-identical to Python's
   * Sampler.latents (truncation as given).
   */
  latents(n, { seed, truncation = null, start = 0, length } = {}) {
    checkCount(n);
    const steps = this.length(length);
    const s = seed ?? randomSeed();
    const data = this.draw(this.latentSpec, 0, s, start, steps, truncation).take(n);
    return { data, shape: this.latentShape(n, steps) };
  }

  /** Labels for n samples: the caller's (one for all, or one per sample), else i % K. */
  labelsFor(n, labels = null, start = 0) {
    if (this.labelSpec === null) {
      if (labels !== null && labels !== undefined) throw new RangeError("this model takes no labels (it is not conditional)");
      return null;
    }
    const K = this.numClasses;
    let out;
    if (labels === null || labels === undefined) {
      out = Array.from({ length: n }, (_, i) => (start + i) % K);
    } else {
      const given = typeof labels === "number" ? [labels] : Array.from(labels, Number);
      out = given.length === 1 ? new Array(n).fill(given[0]) : given;
      if (out.length !== n) throw new RangeError(`got ${given.length} labels for ${n} samples; give one per sample or one for all`);
      for (const y of out) {
        if (!Number.isInteger(y) || y < 0 || y >= K) {
          throw new RangeError(`label ${y} is out of range: this model has classes 0..${K - 1}`);
        }
      }
    }
    return BigInt64Array.from(out, (v) => BigInt(v));
  }

  /**
   * Draw n samples: {data: Float32Array in data units (model units with raw), shape, labels}.
   * Options: seed (same seed, same samples as Python), labels, truncation, length, start,
   * batchSize, raw.
   */
  async sample(n, { seed, labels = null, truncation = null, length, start = 0, batchSize, raw = false } = {}) {
    checkCount(n);
    const steps = this.length(length);
    const s = seed ?? randomSeed();
    const ys = this.labelsFor(n, labels, start);
    const zTrunc = this.truncationSpec === null ? truncation : null;
    const zDraw = this.draw(this.latentSpec, 0, s, start, steps, zTrunc);
    const noiseDraws = this.noiseSpecs.map((t, i) => this.draw(t, i + 1, s, start, steps, null));
    const out = await this.run(n, (m) => zDraw.take(m), noiseDraws, ys, steps, truncation, batchSize, raw);
    return { ...out, labels: ys };
  }

  /**
   * Run the generator on given latents {data, shape} (or a Float32Array of n latents):
   * generate(latents(n, {seed}), null, {seed}) equals sample(n, {seed}).
   */
  async generate(latents, labels = null, { seed = 0, truncation = null, batchSize, raw = false } = {}) {
    const data = latents instanceof Float32Array ? latents : Float32Array.from(latents.data);
    const per = this.isSequence ? null : prod(inputShape(this.latentSpec, 1, 0).slice(1));
    let steps = 0;
    let n;
    if (this.isSequence) {
      const shape = latents.shape;
      if (!shape || shape.length !== 3) throw new RangeError("sequence latents need a shape (n, length, latent_dim)");
      n = shape[0];
      steps = shape[1];
    } else {
      n = data.length / per;
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`latents must hold whole samples of ${per} values`);
    }
    const size = data.length / n;
    const ys = this.labelsFor(n, labels, 0);
    const noiseDraws = this.noiseSpecs.map((t, i) => this.draw(t, i + 1, seed, 0, steps, null));
    let at = 0;
    const take = (m) => {
      const z = data.subarray(at * size, (at + m) * size);
      at += m;
      return z;
    };
    return this.run(n, take, noiseDraws, ys, steps, truncation, batchSize, raw);
  }

  async run(n, takeLatents, noiseDraws, ys, steps, truncation, batchSize, raw) {
    const bs = batchSize ?? DEFAULT_BATCH;
    const shape = [n, ...this.sampleShape(steps || undefined)];
    const per = prod(shape.slice(1));
    const data = new Float32Array(n * per);
    const T = this.ort.Tensor;
    for (let at = 0; at < n; at += bs) {
      const m = Math.min(bs, n - at);
      const feed = {};
      feed[this.latentSpec.name] = new T("float32", takeLatents(m), inputShape(this.latentSpec, m, steps));
      this.noiseSpecs.forEach((t, i) => {
        feed[t.name] = new T("float32", noiseDraws[i].take(m), inputShape(t, m, steps));
      });
      if (this.labelSpec) feed[this.labelSpec.name] = new T("int64", ys.subarray(at, at + m), [m]);
      if (this.truncationSpec) {
        const dims = inputShape(this.truncationSpec, m, steps);
        feed[this.truncationSpec.name] = new T("float32", new Float32Array(prod(dims)).fill(truncation ?? 1), dims);
      }
      for (const st of this.stateSpecs) {
        const dims = inputShape(st, m, steps);
        feed[st.name] = new T("float32", new Float32Array(prod(dims)), dims);
      }
      const result = await this.session.run(feed);
      const x = float32Of(result[this.manifest.graphs.sampler.outputs[0].name]);
      const dst = data.subarray(at * per, (at + m) * per);
      if (raw) {
        dst.set(x);
      } else {
        const a = this.scale;
        const b = this.offset;
        for (let i = 0; i < dst.length; i++) dst[i] = Math.fround(Math.fround(x[i] * a) + b);
      }
    }
    return { data, shape };
  }

  /** The picture `genedge sample --out grid.png` draws of image samples, as {width, height, channels, pixels}. */
  grid(samples, options) {
    if (this.kind !== "image") throw new Error(`a grid is for image models, this is a ${this.kind} model`);
    return imageGrid(samples, this.valueRange, options);
  }
}

/** A text model (genedge.runtime.TextSampler's JS twin). */
export class TextModel extends Base {
  constructor(manifest, session, ort) {
    super(manifest, session, ort);
    this.spec = manifest.text;
    this.chars = Array.from(this.spec.vocab);
    this.index = new Map(this.chars.map((c, i) => [c, i]));
    this.stateSpec = manifest.graphs.sampler.inputs.find((t) => t.name === this.spec.state);
  }

  get kind() {
    return "text";
  }

  /** The token characters. */
  get vocab() {
    return this.spec.vocab;
  }

  /** Token ids of a prompt (unseen characters become the model's `unknown`, else an error). */
  encode(text) {
    const fallback = this.spec.unknown === null ? undefined : this.index.get(this.spec.unknown);
    const ids = [];
    for (const c of text) {
      const i = this.index.get(c) ?? fallback;
      if (i === undefined) {
        throw new RangeError(`prompt character ${JSON.stringify(c)} is not in the model's vocabulary and the model has no fallback`);
      }
      ids.push(i);
    }
    return ids;
  }

  /** One graph call: [logits Float32Array (T, V) of the last row, new state]. */
  async step(ids, state) {
    const T = this.ort.Tensor;
    const feed = {
      [this.spec.tokens]: new T("int64", BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length]),
      [this.spec.state]: state,
    };
    const out = await this.session.run(feed);
    const logits = out[this.spec.logits];
    const V = this.chars.length;
    const T_ = logits.dims[1];
    const next = out[this.spec.state_out];
    const carried = next.type === "float32" ? next : new this.ort.Tensor("float32", float32Of(next), next.dims);
    return [float32Of(logits).subarray((T_ - 1) * V, T_ * V), carried];
  }

  /**
   * A continuation of `prompt` (the prompt itself not included), as TextSampler.generate(
   * prompt, n=1, start=index) gives it for the same seed. Options: length (200),
   * temperature (0.8), topK, topP, stop, seed, index (the sequence's position, default 0),
   * onText (called with each new piece of text as it is decoded).
   */
  async generate(prompt = "", { length = 200, temperature = 0.8, topK = null, topP = null, stop = null, seed, index = 0, onText } = {}) {
    const settings = checkSettings({ length, temperature, topK, topP, stop });
    let ids;
    if (prompt) ids = this.encode(prompt);
    else if (this.spec.bos !== null) ids = [this.index.get(this.spec.bos)];
    else throw new RangeError("this model needs a prompt (it has no start character)");
    const stream = new PCG64([seed ?? randomSeed(), index]);
    const V = this.chars.length;
    const dims = inputShape(this.stateSpec, 1, 0);
    let state = new this.ort.Tensor("float32", new Float32Array(prod(dims)), dims);
    let logits;
    for (let at = 0; at < ids.length; at += PROMPT_PIECE) {
      [logits, state] = await this.step(ids.slice(at, at + PROMPT_PIECE), state);
    }
    const eos = this.spec.eos === null ? -1 : this.index.get(this.spec.eos);
    const filter = new StopFilter(settings.stop);
    let text = "";
    const emit = (piece) => {
      if (!piece) return;
      text += piece;
      onText?.(piece);
    };
    const u = new Float64Array(V);
    for (let t = 0; t < settings.length; t++) {
      if (settings.temperature !== 0) for (let i = 0; i < V; i++) u[i] = stream.nextDouble();
      const token = choose(logits, settings, u);
      if (token === eos) {
        emit(filter.flush());
        break;
      }
      emit(filter.add(this.chars[token]));
      if (filter.done) break;
      if (t === settings.length - 1) {
        emit(filter.flush());
        break;
      }
      [logits, state] = await this.step([token], state);
    }
    return text;
  }
}
