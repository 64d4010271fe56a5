// How the text decoder chooses each character, as genedge.runtime.text_decoding: temperature,
// top-k, top-p, then Gumbel-max with `vocab` uniforms per step from the sequence's own stream
// PCG64(SeedSequence([seed, i])) (the same uniforms as Python, bit for bit).

/** numpy's pairwise summation of float64 (what p.sum(axis=-1) does along a row). */
function pairwiseSum(a, lo, n) {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[lo + i];
    return s;
  }
  if (n <= 128) {
    const r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]];
    let i;
    for (i = 8; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[lo + i + j];
    }
    let s = (r[0] + r[1] + (r[2] + r[3])) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) s += a[lo + i];
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** Validated decoding settings (as check_settings). */
export function checkSettings({ length = 200, temperature = 0.8, topK = null, topP = null, stop = null } = {}) {
  if (!Number.isInteger(length) || length <= 0) {
    throw new RangeError(`length must be a positive number of characters, got ${length}`);
  }
  if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`temperature must be a number >= 0 (0: greedy), got ${temperature}`);
  }
  if (topK !== null && topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
    throw new RangeError(`topK must be a whole number >= 1, got ${topK}`);
  }
  if (topP !== null && topP !== undefined && !(typeof topP === "number" && topP > 0 && topP <= 1)) {
    throw new RangeError(`topP must be in (0, 1], got ${topP}`);
  }
  const stops = stop === null || stop === undefined ? [] : typeof stop === "string" ? [stop] : [...stop];
  if (!stops.every((s) => typeof s === "string" && s.length > 0)) {
    throw new RangeError("stop strings must be non-empty strings");
  }
  return { length, temperature, topK: topK ?? null, topP: topP ?? null, stop: stops };
}

/**
 * One token from a row of logits (as choose); `u` are this step's `vocab` uniforms (unused
 * when temperature is 0, where nothing is drawn).
 */
export function choose(logits, settings, u) {
  const V = logits.length;
  if (settings.temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const z = new Float64Array(V);
  for (let i = 0; i < V; i++) z[i] = logits[i] / settings.temperature;
  const keep = new Array(V).fill(true);
  if (settings.topK !== null && settings.topK < V) {
    const sorted = Float64Array.from(z).sort();
    const kth = sorted[V - settings.topK];
    for (let i = 0; i < V; i++) keep[i] = z[i] >= kth;
  }
  if (settings.topP !== null && settings.topP < 1) {
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (keep[i] && z[i] > max) max = z[i];
    const p = new Float64Array(V);
    for (let i = 0; i < V; i++) p[i] = keep[i] ? Math.exp(z[i] - max) : 0;
    const total = pairwiseSum(p, 0, V);
    for (let i = 0; i < V; i++) p[i] /= total;
    const order = [...Array(V).keys()].sort((a, b) => p[b] - p[a] || a - b);
    let cum = 0;
    for (const i of order) {
      const before = cum + p[i] - p[i];
      if (!(before < settings.topP)) keep[i] = false;
      cum += p[i];
    }
  }
  let best = -1;
  let bestV = -Infinity;
  for (let i = 0; i < V; i++) {
    if (!keep[i]) continue;
    const v = z[i] + -Math.log(-Math.log(u[i]));
    if (best < 0 || v > bestV) {
      best = i;
      bestV = v;
    }
  }
  return best;
}

/** Per-sequence text assembly: holds back what may begin a stop string (as StopFilter). */
export class StopFilter {
  constructor(stops) {
    this.stops = stops;
    this.pending = "";
    this.done = false;
  }

  add(text) {
    this.pending += text;
    const hits = this.stops.filter((s) => this.pending.includes(s)).map((s) => this.pending.indexOf(s));
    if (hits.length) {
      const out = this.pending.slice(0, Math.min(...hits));
      this.pending = "";
      this.done = true;
      return out;
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > 0; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = Math.max(hold, k);
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  flush() {
    const out = this.pending;
    this.pending = "";
    return out;
  }
}
