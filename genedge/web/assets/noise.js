// genedge's noise recipe (docs/manifest.md, "The noise recipe") in plain JavaScript: numpy's
// SeedSequence, PCG64 and float32 ziggurat normal, bit for bit, so a seed gives the same latents
// here as in genedge.runtime.noise. No dependencies; runs in browsers and in Node.

import { FI, KI, NOR_INV_R, NOR_R, WI } from "./ziggurat.js";

const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = 0x2360ed051fc65da44385df649fccf645n;
/** Samples per block of the blocks64 scheme. */
export const BLOCK = 64;
/** Noise schemes this port reproduces exactly. */
export const NOISE_SCHEMES = ["stream", "blocks64"];

/** A whole number as SeedSequence reads it: 32-bit words, least significant first. */
function words(v) {
  let b = BigInt(v);
  if (b < 0n) throw new RangeError(`seed material must be >= 0, got ${v}`);
  const out = [Number(b & 0xffffffffn)];
  b >>= 32n;
  while (b > 0n) {
    out.push(Number(b & 0xffffffffn));
    b >>= 32n;
  }
  return out;
}

/**
 * numpy's SeedSequence(entropy).generate_state(4, uint64): four 64-bit words as BigInt.
 * @param {Array<number|bigint>|number|bigint} entropy
 */
export function seedSequenceState(entropy) {
  const ent = (Array.isArray(entropy) ? entropy : [entropy]).flatMap(words);
  let h = 0x43b0d7e5;
  const hashmix = (v) => {
    v = (v ^ h) >>> 0;
    h = Math.imul(h, 0x931e8875) >>> 0;
    v = Math.imul(v, h) >>> 0;
    return (v ^ (v >>> 16)) >>> 0;
  };
  const mix = (x, y) => {
    const r = (Math.imul(0xca01f9dd, x) - Math.imul(0x4973f715, y)) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const pool = [0, 1, 2, 3].map((i) => hashmix(i < ent.length ? ent[i] : 0));
  for (let src = 0; src < 4; src++) {
    for (let dst = 0; dst < 4; dst++) {
      if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
    }
  }
  for (let src = 4; src < ent.length; src++) {
    for (let dst = 0; dst < 4; dst++) pool[dst] = mix(pool[dst], hashmix(ent[src]));
  }
  let g = 0x8b51f9dd;
  const w = [];
  for (let i = 0; i < 8; i++) {
    let v = (pool[i % 4] ^ g) >>> 0;
    g = Math.imul(g, 0x58f38ded) >>> 0;
    v = Math.imul(v, g) >>> 0;
    w.push((v ^ (v >>> 16)) >>> 0);
  }
  return [0, 1, 2, 3].map((j) => BigInt(w[2 * j]) | (BigInt(w[2 * j + 1]) << 32n));
}

/** numpy's PCG64 bit generator (XSL-RR 128/64), with its buffered next_uint32. */
export class PCG64 {
  /** PCG64(SeedSequence(entropy)); entropy is an int or a list of ints. */
  constructor(entropy) {
    const u = seedSequenceState(entropy);
    const initstate = (u[0] << 64n) | u[1];
    const initseq = (u[2] << 64n) | u[3];
    this.inc = ((initseq << 1n) | 1n) & MASK128;
    this.state = 0n;
    this.step();
    this.state = (this.state + initstate) & MASK128;
    this.step();
    this.hasUint32 = false;
    this.uinteger = 0;
  }

  step() {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  /** The next 64-bit output, as a BigInt. */
  nextUint64() {
    this.step();
    const s = this.state;
    const x = ((s >> 64n) ^ s) & MASK64;
    const rot = s >> 122n;
    return ((x >> rot) | (x << ((64n - rot) & 63n))) & MASK64;
  }

  /** Low 32 bits of a fresh 64-bit output; the high 32 bits serve the next call. */
  nextUint32() {
    if (this.hasUint32) {
      this.hasUint32 = false;
      return this.uinteger;
    }
    const v = this.nextUint64();
    this.hasUint32 = true;
    this.uinteger = Number(v >> 32n);
    return Number(v & 0xffffffffn);
  }

  /** A double in [0, 1): numpy's random() (next_double). */
  nextDouble() {
    return Number(this.nextUint64() >> 11n) * 2 ** -53;
  }

  /** A float32 in [0, 1): numpy's next_float. */
  nextFloat() {
    return (this.nextUint32() >>> 8) * 2 ** -24;
  }
}

// -- log1pf as C's libm computes it ------------------------------------------------------------
// The ziggurat's tail calls C's log1pf, whose last bit a correctly rounded float log1p does
// not always share (~7 % of the tail's inputs). This is fdlibm's s_log1pf.c with glibc's
// thresholds (glibc < 2.40, numpy's Linux wheels' libm), in float32 arithmetic: checked equal
// over all 2^24 values the tail can feed it.

const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);
const f = Math.fround;
const LN2_HI = f(6.9313812256e-1);
const LN2_LO = f(9.0580006145e-6);
const LP = [6.6666668653e-1, 4.0000000596e-1, 2.8571429849e-1, 2.2222198546e-1, 1.818357259e-1,
  1.5313838422e-1, 1.479819864e-1].map(f);
const TWO_THIRDS = f(0.66666666666666666);

function floatBits(x) {
  F32[0] = x;
  return I32[0];
}

function bitsFloat(b) {
  I32[0] = b;
  return F32[0];
}

/** log1pf(x) of a float32 x, bit for bit as fdlibm's. */
export function log1pf(x) {
  const hx = floatBits(x);
  const ax = hx & 0x7fffffff;
  let k = 1;
  let fv = 0;
  let hu = 0;
  let c = 0;
  if (hx < 0x3ed413d0) {
    if (ax >= 0x3f800000) return x === -1 ? -Infinity : NaN;
    if (ax < 0x31000000) {
      if (ax < 0x24800000) return x;
      return f(x - f(f(x * x) * 0.5));
    }
    if (hx > 0 || hx <= (0xbe95f61f | 0)) {
      k = 0;
      fv = x;
      hu = 1;
    }
  }
  if (hx >= 0x7f800000) return f(x + x);
  if (k !== 0) {
    let u;
    if (hx < 0x5a000000) {
      u = f(1 + x);
      hu = floatBits(u);
      k = (hu >> 23) - 127;
      c = k > 0 ? f(1 - f(u - x)) : f(x - f(u - 1));
      c = f(c / u);
    } else {
      u = x;
      hu = floatBits(u);
      k = (hu >> 23) - 127;
      c = 0;
    }
    hu &= 0x007fffff;
    if (hu < 0x3504f4) {
      u = bitsFloat(hu | 0x3f800000);
    } else {
      k += 1;
      u = bitsFloat(hu | 0x3f000000);
      hu = (0x00800000 - hu) >> 2;
    }
    fv = f(u - 1);
  }
  const hfsq = f(f(0.5 * fv) * fv);
  if (hu === 0) {
    if (fv === 0) {
      if (k === 0) return 0;
      c = f(c + f(k * LN2_LO));
      return f(f(k * LN2_HI) + c);
    }
    const R = f(hfsq * f(1 - f(TWO_THIRDS * fv)));
    if (k === 0) return f(fv - R);
    return f(f(k * LN2_HI) - f(f(R - f(f(k * LN2_LO) + c)) - fv));
  }
  const s = f(fv / f(2 + fv));
  const z = f(s * s);
  let R = LP[6];
  for (let i = 5; i >= 0; i--) R = f(LP[i] + f(z * R));
  R = f(z * R);
  if (k === 0) return f(fv - f(hfsq - f(s * f(hfsq + R))));
  return f(f(k * LN2_HI) - f(f(hfsq - f(f(s * f(hfsq + R)) + f(f(k * LN2_LO) + c))) - fv));
}

/** numpy's random_standard_normal_f: one float32 standard normal (256-layer ziggurat). */
export function standardNormalF(g) {
  for (;;) {
    const r = g.nextUint32();
    const idx = r & 0xff;
    const sign = (r >>> 8) & 1;
    const rabs = (r >>> 9) & 0x7fffff;
    let x = Math.fround(rabs * WI[idx]);
    if (sign) x = -x;
    if (rabs < KI[idx]) return x; // 99.3 % of values
    if (idx === 0) {
      for (;;) {
        const xx = Math.fround(-NOR_INV_R * log1pf(-g.nextFloat()));
        const yy = -log1pf(-g.nextFloat());
        if (Math.fround(yy + yy) > Math.fround(xx * xx)) {
          const v = Math.fround(NOR_R + xx);
          return (rabs >>> 8) & 1 ? -v : v;
        }
      }
    } else {
      const f = Math.fround(Math.fround(Math.fround(FI[idx - 1] - FI[idx]) * g.nextFloat()) + FI[idx]);
      if (f < Math.exp(-0.5 * x * x)) return x;
    }
  }
}

// -- the standard normal's CDF and inverse, as genedge.runtime.noise computes them ----------

const ERX = 8.45062911510467529297e-1;
const PP = [1.28379167095512558561e-1, -3.25042107247001499370e-1, -2.84817495755985104766e-2,
  -5.77027029648944159157e-3, -2.37630166566501626084e-5];
const QQ = [3.97917223959155352819e-1, 6.50222499887672944485e-2, 5.08130628187576562776e-3,
  1.32494738004321644526e-4, -3.96022827877536812320e-6];
const PA = [-2.36211856075265944077e-3, 4.14856118683748331666e-1, -3.72207876035701323847e-1,
  3.18346619901161753674e-1, -1.10894694282396677476e-1, 3.54783043256182359371e-2,
  -2.16637559486879084300e-3];
const QA = [1.06420880400844228286e-1, 5.40397917702171048937e-1, 7.18286544141962662868e-2,
  1.26171219808761642112e-1, 1.36370839120290507362e-2, 1.19844998467991074170e-2];
const RA = [-9.86494403484714822705e-3, -6.93858572707181764372e-1, -1.05586262253232909814e1,
  -6.23753324503260060396e1, -1.62396669462573470355e2, -1.84605092906711035994e2,
  -8.12874355063065934246e1, -9.81432934416914548592e0];
const SA = [1.96512716674392571292e1, 1.37657754143519042600e2, 4.34565877475229228821e2,
  6.45387271733267880336e2, 4.29008140027567833386e2, 1.08635005541779435134e2,
  6.57024977031928170135e0, -6.04244152148580987438e-2];
const RB = [-9.86494292470009928597e-3, -7.99283237680523006574e-1, -1.77579549177547519889e1,
  -1.60636384855821916062e2, -6.37566443368389627722e2, -1.02509513161107724954e3,
  -4.83519191608651397019e2];
const SB = [3.03380607434824582924e1, 3.25792512996573918826e2, 1.53672958608443695994e3,
  3.19985821950859553908e3, 2.55305040643316442583e3, 4.74528541206955367215e2,
  -2.24409524465858183362e1];
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer); // little-endian: U32[1] is the high word

/** Horner: c[0] + s*(c[1] + s*(...)). */
function poly(c, s) {
  let r = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) r = c[i] + s * r;
  return r;
}

/** erfc(x), fdlibm's algorithm (s_erf.c), which C libraries and Python's math.erfc follow. */
export function erfc(x) {
  F64[0] = x;
  const hx = U32[1] | 0;
  const ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return (hx >>> 31) * 2 + 1 / x;
  if (ix < 0x3feb0000) {
    if (ix < 0x3c700000) return 1 - x;
    const z = x * x;
    const r = PP[0] + z * (PP[1] + z * (PP[2] + z * (PP[3] + z * PP[4])));
    const s = 1 + z * (QQ[0] + z * (QQ[1] + z * (QQ[2] + z * (QQ[3] + z * QQ[4]))));
    const y = r / s;
    if (hx < 0x3fd00000) return 1 - (x + x * y);
    return 0.5 - (x * y + (x - 0.5));
  }
  if (ix < 0x3ff40000) {
    const s = Math.abs(x) - 1;
    const P = poly(PA, s);
    const Q = 1 + s * poly(QA, s);
    return hx >= 0 ? 1 - ERX - P / Q : 1 + (ERX + P / Q);
  }
  if (ix < 0x403c0000) {
    const ax = Math.abs(x);
    const s = 1 / (ax * ax);
    let R;
    let S;
    if (ix < 0x4006db6d) {
      R = poly(RA, s);
      S = 1 + s * poly(SA, s);
    } else {
      if (hx < 0 && ix >= 0x40180000) return 2;
      R = poly(RB, s);
      S = 1 + s * poly(SB, s);
    }
    F64[0] = ax;
    U32[0] = 0;
    const z = F64[0];
    const r = Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + R / S);
    return hx > 0 ? r / ax : 2 - r / ax;
  }
  return hx > 0 ? 0 : 2;
}

/** Phi(x), as genedge.runtime.noise._normal_cdf. */
export function normalCdf(x) {
  return 0.5 * erfc(-x / Math.SQRT2);
}

const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
  -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
  -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
  4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** Inverse standard-normal CDF: Acklam's approximation + one Halley step (as _normal_ppf). */
export function normalPpf(prob) {
  const p = Math.min(Math.max(prob, 1e-300), 1 - 1e-16);
  let x;
  if (p < 0.02425 || p > 1 - 0.02425) {
    const sign = p < 0.02425 ? 1 : -1;
    const pp = p < 0.02425 ? p : 1 - p;
    const q = Math.sqrt(-2 * Math.log(pp));
    x = (sign * (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
  } else {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
      (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
  }
  const e = 0.5 * erfc(-x / Math.SQRT2) - p;
  const u = e * SQRT_2PI * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

// -- draws by scheme ---------------------------------------------------------------------------

function checkTruncation(psi) {
  if (psi === undefined || psi === null) return null;
  if (typeof psi !== "number" || !Number.isFinite(psi) || psi <= 0) {
    throw new RangeError(`truncation must be a positive number, got ${psi}`);
  }
  return psi;
}

function checkWhole(v, what) {
  if (!(Number.isSafeInteger(v) || typeof v === "bigint") || v < 0) {
    throw new RangeError(`${what} must be a whole number >= 0, got ${v}`);
  }
}

/** Fill out[from..to) with the next values of g (standard normal, or truncated to +-psi). */
function fill(g, out, from, to, lo, psi) {
  if (lo === null) {
    for (let i = from; i < to; i++) out[i] = standardNormalF(g);
    return;
  }
  const width = 1 - 2 * lo;
  const bound = Math.fround(psi);
  for (let i = from; i < to; i++) {
    const z = Math.fround(normalPpf(lo + g.nextDouble() * width));
    out[i] = Math.min(Math.max(z, -bound), bound);
  }
}

/**
 * Successive samples' values of one graph input for one seeded request (genedge.runtime.noise
 * .NoiseDraw): input k (0 for the latent, 1, 2, ... for noise inputs), from sample `start`.
 */
export class NoiseDraw {
  constructor(scheme, seed, k, start, perSample, truncation = null) {
    checkWhole(seed, "seed");
    checkWhole(start, "start");
    if (!NOISE_SCHEMES.includes(scheme)) {
      throw new RangeError(`unknown noise scheme ${JSON.stringify(scheme)} (known: stream, blocks64)`);
    }
    this.scheme = scheme;
    this.seed = seed;
    this.k = k;
    this.size = Math.max(1, perSample.reduce((a, b) => a * b, 1));
    this.psi = checkTruncation(truncation);
    this.lo = this.psi === null ? null : normalCdf(-this.psi);
    this.position = start;
    this.block = null; // blocks64: [position the last take stopped at, its generator]
    if (scheme === "stream") {
      this.rng = new PCG64(k === 0 ? [seed] : [seed, k]);
      this.skip(this.rng, start);
    }
  }

  skip(g, rows) {
    const chunk = new Float32Array(this.size);
    for (let r = 0; r < rows; r++) fill(g, chunk, 0, this.size, this.lo, this.psi);
  }

  /** The next `count` samples' values, a Float32Array of count * prod(perSample). */
  take(count, out = new Float32Array(count * this.size)) {
    const n = this.size;
    if (this.scheme === "stream") {
      fill(this.rng, out, 0, count * n, this.lo, this.psi);
    } else {
      let pos = this.position;
      const end = pos + count;
      let done = 0;
      while (pos < end) {
        const b = Math.floor(pos / BLOCK);
        const r = pos % BLOCK;
        const m = Math.min(BLOCK - r, end - pos);
        let g;
        if (this.block !== null && this.block[0] === pos) {
          g = this.block[1];
        } else {
          g = new PCG64([this.seed, this.k, b]);
          this.skip(g, r);
        }
        fill(g, out, done * n, (done + m) * n, this.lo, this.psi);
        this.block = r + m < BLOCK ? [pos + m, g] : null;
        pos += m;
        done += m;
      }
    }
    this.position += count;
    return out;
  }
}

/** Samples start..start+count-1 of input k for seed, as genedge.runtime.noise.draw_noise. */
export function drawNoise(scheme, seed, k, start, count, perSample, truncation = null) {
  return new NoiseDraw(scheme, seed, k, start, perSample, truncation).take(count);
}

/** Text decoding's stream of sequence i: PCG64(SeedSequence([seed, i])); uniforms = nextDouble. */
export function sequenceStream(seed, i) {
  return new PCG64([seed, i]);
}

