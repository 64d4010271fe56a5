// The genedge manifest read from an ONNX file's bytes, without onnx or protobuf libraries:
// ModelProto field 14 (metadata_props, key/value string pairs) holds it under
// "genedge.manifest". normalizeManifest fills what a manifest may omit exactly as
// genedge.runtime.manifest reads it, so the result deep-equals `genedge info M.onnx --json`.

export const METADATA_KEY = "genedge.manifest";
const READABLE_MAJORS = ["1", "2"];
const LEGACY_NOISE_SCHEME = "stream";
const SCHEMA_VERSION = "2.0";

/** Decode the varint at buf[pos]: [value, position after it]. */
function varint(buf, pos) {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error("file is truncated (ended inside a field)");
    const b = buf[pos++];
    result += (b & 0x7f) * scale;
    if (!(b & 0x80)) return [result, pos];
    scale *= 128;
  }
  throw new Error("file is corrupt (bad varint)");
}

/** Each top-level field of a protobuf message: {number, wire, value} (bytes for wire type 2). */
export function* fields(buf) {
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = varint(buf, pos);
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (number === 0) throw new Error("file is corrupt (field number 0): not an ONNX model");
    let value;
    if (wire === 0) {
      [value, pos] = varint(buf, pos);
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 2) {
      let length;
      [length, pos] = varint(buf, pos);
      if (pos + length > buf.length) throw new Error("file is truncated: a field runs past the end");
      value = buf.subarray(pos, pos + length);
      pos += length;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`file is corrupt (wire type ${wire}): not an ONNX model`);
    }
    if (pos > buf.length) throw new Error("file is truncated");
    yield { number, wire, value };
  }
}

/** An ONNX model's metadata_props as a plain object. */
export function readMetadataProps(bytes) {
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const props = {};
  for (const f of fields(buf)) {
    if (f.number !== 14 || f.wire !== 2) continue;
    const entry = {};
    for (const g of fields(f.value)) if (g.wire === 2) entry[g.number] = utf8.decode(g.value);
    props[entry[1] ?? ""] = entry[2] ?? "";
  }
  return props;
}

/** The normalized manifest of an artifact's bytes (throws if it has none). */
export function readManifest(bytes) {
  const props = readMetadataProps(bytes);
  if (!(METADATA_KEY in props)) {
    throw new Error("not a genedge artifact: the ONNX file has no genedge.manifest metadata");
  }
  return normalizeManifest(JSON.parse(props[METADATA_KEY]));
}

const has = (d, k) => Object.prototype.hasOwnProperty.call(d, k);
const get = (d, k, dflt) => (has(d, k) ? d[k] : dflt);

function tensor(t) {
  return { name: String(t.name), dtype: t.dtype, shape: [...t.shape], role: get(t, "role", "") || "" };
}

function graph(g) {
  const out = {
    file: get(g, "file", null),
    inputs: g.inputs.map(tensor),
    outputs: g.outputs.map(tensor),
  };
  if (g.memory !== undefined && g.memory !== null) {
    out.memory = {
      bytes_per_sample: g.memory.bytes_per_sample,
      bytes_per_step: get(g.memory, "bytes_per_step", 0),
    };
  }
  return out;
}

/**
 * A manifest as genedge.runtime.manifest.Manifest.from_dict(d).to_dict() gives it: absent
 * optional fields get their defaults, 1.0-1.2 fields promoted in 1.3 come from
 * provenance.hparams, and an absent noise_scheme is "stream".
 */
export function normalizeManifest(d) {
  for (const k of ["schema_version", "family", "graphs", "latent_dim", "output_kind"]) {
    if (!has(d, k)) throw new Error(`manifest: missing field ${k}`);
  }
  const version = String(d.schema_version);
  const major = version.split(".")[0];
  if (!READABLE_MAJORS.includes(major)) {
    throw new Error(`manifest schema version ${version} is not supported by this genedge.js`);
  }
  const hp = (d.provenance && typeof d.provenance.hparams === "object" && d.provenance.hparams) || {};
  const graphs = {};
  for (const [k, v] of Object.entries(d.graphs)) graphs[k] = graph(v);
  const pre = get(d, "preprocessing", {});
  const m = {
    family: d.family,
    graphs,
    latent_dim: d.latent_dim,
    output_kind: d.output_kind,
    sample_shape: [...get(d, "sample_shape", [])],
    preprocessing: {
      kind: pre.kind,
      data_min: pre.data_min,
      data_max: pre.data_max,
      model_min: pre.model_min,
      model_max: pre.model_max,
    },
    num_classes: get(d, "num_classes", 0),
    class_names: get(d, "class_names", []).map(String),
    precision: get(d, "precision", "fp32"),
    default_length: Math.trunc(get(d, "default_length", 0)),
    engines: [...get(d, "engines", [])],
    provenance: { ...get(d, "provenance", {}) },
    parity: { ...get(d, "parity", {}) },
    schema_version: version,
    genedge_version: String(get(d, "genedge_version", "")),
    clusters: has(d, "clusters") ? d.clusters : Math.trunc(hp.clusters || 0),
    likelihood: has(d, "likelihood") ? d.likelihood : get(hp, "likelihood", null),
    noise_scheme: get(d, "noise_scheme", LEGACY_NOISE_SCHEME),
    schema: METADATA_KEY,
  };
  if (d.companion !== undefined && d.companion !== null) {
    m.companion = { role: d.companion.role, artifact: d.companion.artifact };
  }
  if (d.text !== undefined && d.text !== null) {
    const t = d.text;
    m.text = {
      vocab: t.vocab,
      tokens: t.tokens,
      state: t.state,
      state_out: t.state_out,
      state_shape: [...t.state_shape],
      logits: t.logits,
      unknown: get(t, "unknown", null),
      bos: get(t, "bos", null),
      eos: get(t, "eos", null),
    };
  }
  // 2.1's audio section (genedge.runtime.audio_spec) is passed on as written.
  if (d.audio !== undefined && d.audio !== null) m.audio = d.audio;
  if (m.noise_scheme !== LEGACY_NOISE_SCHEME && major === "1") m.schema_version = SCHEMA_VERSION;
  return m;
}
