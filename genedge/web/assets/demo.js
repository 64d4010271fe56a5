// The demo page of `genedge web`: a grid with a seed box and a truncation slider for image
// models (a class picker when conditional), a scatter for 2-D points, waveforms with a play
// button for sequences, and a prompt box with streamed output for text models.
// window.genedgeDemo exposes the model and the last result (the browser test reads them).

import { imageGrid, load, scatter, toImageData } from "./genedge.js";

const $ = (id) => document.getElementById(id);
const modelFile = document.querySelector('meta[name="genedge-model"]').content;
const state = { model: null, last: null, runs: 0 };
window.genedgeDemo = state;

function num(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

function draw(pic) {
  const canvas = $("canvas");
  canvas.width = pic.width;
  canvas.height = pic.height;
  canvas.getContext("2d").putImageData(toImageData(pic), 0, 0);
  canvas.hidden = false;
}

/** The first feature of up to 8 sequences, one panel each, each scaled to its own range. */
function waveforms(x) {
  const [n, T, F] = x.shape;
  const rows = Math.min(n, 8);
  const W = 640;
  const H = 72;
  const canvas = $("canvas");
  canvas.width = W;
  canvas.height = rows * (H + 6);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let r = 0; r < rows; r++) {
    const top = r * (H + 6);
    let lo = Infinity;
    let hi = -Infinity;
    for (let t = 0; t < T; t++) {
      lo = Math.min(lo, x.data[(r * T + t) * F]);
      hi = Math.max(hi, x.data[(r * T + t) * F]);
    }
    if (!(hi > lo)) hi = lo + 1;
    ctx.fillStyle = "#f4f6fa";
    ctx.fillRect(0, top, W, H);
    ctx.strokeStyle = "#1f5fbf";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (let t = 0; t < T; t++) {
      const v = x.data[(r * T + t) * F];
      const px = (t / Math.max(1, T - 1)) * (W - 1);
      const py = top + 3 + (H - 7) * (1 - (v - lo) / (hi - lo));
      if (t === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    }
    ctx.stroke();
  }
  canvas.hidden = false;
}

function play() {
  const x = state.last;
  if (!x) return;
  const [, T, F] = x.shape;
  const rate = 8000; // what `genedge sample --out a.wav` writes by default
  const ctx = new AudioContext({ sampleRate: rate });
  const buf = ctx.createBuffer(1, T, rate);
  const ch = buf.getChannelData(0);
  let peak = 1e-9;
  for (let t = 0; t < T; t++) peak = Math.max(peak, Math.abs(x.data[t * F]));
  for (let t = 0; t < T; t++) ch[t] = x.data[t * F] / peak;
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.connect(ctx.destination);
  src.start();
}

async function sampleOnce() {
  const m = state.model;
  const seed = num("seed") ?? 0;
  const n = num("n") ?? 64;
  const truncation = $("truncate").checked ? Number($("psi").value) : null;
  const cls = $("class").value;
  const labels = cls === "" ? null : Number(cls);
  const length = m.kind === "sequence" ? num("length") ?? undefined : undefined;
  const t0 = performance.now();
  const x = await m.sample(n, { seed, truncation, labels, length });
  const ms = performance.now() - t0;
  state.last = x;
  if (m.kind === "image") draw(m.grid(x));
  else if (m.kind === "audio") draw(imageGrid(x, m.valueRange)); // spectrograms (no playback yet)
  else if (m.kind === "points" && x.shape[1] === 2) draw(scatter(x));
  else if (m.kind === "sequence") waveforms(x);
  else {
    const rows = [];
    for (let i = 0; i < Math.min(n, 16); i++) {
      const per = x.data.length / n;
      rows.push(Array.from(x.data.subarray(i * per, (i + 1) * per), (v) => v.toFixed(4)).join("  "));
    }
    $("text").textContent = rows.join("\n");
    $("text").hidden = false;
  }
  return `${n} samples, seed ${seed}${truncation ? `, truncation ${truncation}` : ""}: ${ms.toFixed(0)} ms`;
}

async function generateText() {
  const m = state.model;
  const out = $("text");
  out.hidden = false;
  out.textContent = "";
  const prompt = $("prompt").value;
  const t0 = performance.now();
  const text = await m.generate(prompt, {
    length: num("chars") ?? 200,
    temperature: num("temperature") ?? 0.8,
    topK: num("top-k"),
    topP: num("top-p"),
    seed: num("seed") ?? 0,
    onText: (piece) => {
      out.textContent += piece;
    },
  });
  state.last = text;
  const ms = performance.now() - t0;
  return `${[...text].length} characters, seed ${num("seed") ?? 0}: ${ms.toFixed(0)} ms`;
}

async function run() {
  $("go").disabled = true;
  document.body.dataset.state = "running";
  try {
    const msg = state.model.kind === "text" ? await generateText() : await sampleOnce();
    $("status").textContent = msg;
    state.runs += 1;
    document.body.dataset.state = "done";
  } catch (e) {
    $("status").textContent = `error: ${e.message}`;
    document.body.dataset.state = "error";
  } finally {
    $("go").disabled = false;
  }
}
state.run = run;

function setup(m) {
  const man = m.manifest;
  $("title").textContent = `${modelFile} (${man.family}, ${man.output_kind})`;
  const shape = man.sample_shape.join(" x ");
  $("about").textContent =
    man.output_kind === "text"
      ? `A text model with a ${[...man.text.vocab].length}-character vocabulary.`
      : `Samples of shape ${shape}, latent ${man.latent_dim}, noise scheme ${man.noise_scheme}, ${man.precision}.`;
  if (man.num_classes > 0) {
    $("class-box").hidden = false;
    const sel = $("class");
    sel.add(new Option("all, in turn", ""));
    for (let k = 0; k < man.num_classes; k++) sel.add(new Option(man.class_names[k] ?? String(k), String(k)));
  }
  if (m.kind === "sequence") {
    $("length-box").hidden = false;
    $("length").value = String(man.default_length || 64);
    $("n").value = "4";
    $("play").hidden = false;
    $("play").addEventListener("click", play);
  }
  if (m.kind === "points") $("n").value = "1000";
  if (m.kind === "text") {
    $("n-box").hidden = true;
    $("truncation-box").hidden = true;
    $("text-box").hidden = false;
    $("go").textContent = "Generate";
    $("prompt").value = man.text.bos === null ? man.text.vocab.replace(/\s/g, "").slice(0, 1) : "";
  }
  if (man.graphs.sampler.inputs.every((t) => t.role !== "latent")) $("truncation-box").hidden = true;
  $("truncate").addEventListener("change", () => {
    $("psi").disabled = !$("truncate").checked;
    $("psi-value").textContent = $("truncate").checked ? $("psi").value : "off";
  });
  $("psi").addEventListener("input", () => {
    $("psi-value").textContent = $("psi").value;
  });
  $("controls").addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  $("controls").hidden = false;
}

try {
  const t0 = performance.now();
  state.model = await load(encodeURIComponent(modelFile));
  state.loadMs = performance.now() - t0;
  setup(state.model);
  for (const w of state.model.warnings) $("status").textContent += `warning: ${w} `;
  await run();
} catch (e) {
  const hint = location.protocol === "file:" ? " (serve the folder: a file:// page cannot fetch its model)" : "";
  $("about").textContent = `Could not load ${modelFile}: ${e.message}${hint}`;
  document.body.dataset.state = "error";
}
