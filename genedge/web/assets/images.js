// Samples to pictures, as genedge.runtime.images and genedge.runtime.writers draw them: uint8
// conversion, grids and nearest-neighbour upscaling (the same pixels as `genedge sample --out
// grid.png`), a scatter of 2-D points, and RGBA ImageData for a canvas.

/** Round half to even, as numpy's rint. */
function rint(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Images in data units (valueRange [lo, hi]) to uint8 0..255, clipping (as to_uint8). */
export function toUint8(data, valueRange) {
  const [lo, hi] = valueRange;
  const flo = Math.fround(lo);
  const k = Math.fround(255 / (hi - lo));
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const y = Math.fround(Math.fround(data[i] - flo) * k);
    out[i] = Math.min(255, Math.max(0, rint(y)));
  }
  return out;
}

/**
 * Tile (N, C, H, W) uint8 images into one picture (as make_grid): returns {width, height,
 * channels, pixels}, pixels row-major with `channels` (1 or 3) values per pixel.
 */
export function makeGrid(images, shape, { ncols, pad = 2 } = {}) {
  const [n, c, h, w] = shape;
  if (shape.length !== 4 || (c !== 1 && c !== 3)) {
    throw new Error(`a grid needs images shaped (N, 1 or 3, H, W), got (${shape.join(", ")})`);
  }
  const cols = ncols || Math.max(1, Math.ceil(Math.sqrt(n)));
  const rows = Math.max(1, Math.ceil(n / cols));
  const height = rows * (h + pad) + pad;
  const width = cols * (w + pad) + pad;
  const pixels = new Uint8Array(height * width * c);
  for (let i = 0; i < n; i++) {
    const y0 = pad + Math.floor(i / cols) * (h + pad);
    const x0 = pad + (i % cols) * (w + pad);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          pixels[((y0 + y) * width + x0 + x) * c + ch] = images[((i * c + ch) * h + y) * w + x];
        }
      }
    }
  }
  return { width, height, channels: c, pixels };
}

/** Nearest-neighbour upscaling of a picture by a whole factor (as upscale). */
export function upscale(pic, factor) {
  if (factor <= 1) return pic;
  const { width, height, channels: c } = pic;
  const W = width * factor;
  const H = height * factor;
  const pixels = new Uint8Array(W * H * c);
  for (let y = 0; y < H; y++) {
    const src = Math.floor(y / factor) * width;
    for (let x = 0; x < W; x++) {
      const s = (src + Math.floor(x / factor)) * c;
      const d = (y * W + x) * c;
      for (let ch = 0; ch < c; ch++) pixels[d + ch] = pic.pixels[s + ch];
    }
  }
  return { width: W, height: H, channels: c, pixels };
}

/**
 * The picture `genedge sample --out grid.png` draws of image samples {data, shape}: a grid with
 * tiles upscaled to at least ~56 px.
 */
export function imageGrid(samples, valueRange, { ncols } = {}) {
  const grid = makeGrid(toUint8(samples.data, valueRange), samples.shape, { ncols });
  return upscale(grid, Math.max(1, Math.ceil(56 / samples.shape[samples.shape.length - 1])));
}

/** 2-D points as dark dots on white, axes scaled to the data (as writers.scatter). */
export function scatter(samples, size = 512) {
  const n = samples.shape[0];
  const d = samples.data;
  let lo0 = Infinity, lo1 = Infinity, hi0 = -Infinity, hi1 = -Infinity;
  for (let i = 0; i < n; i++) {
    lo0 = Math.min(lo0, d[2 * i]); hi0 = Math.max(hi0, d[2 * i]);
    lo1 = Math.min(lo1, d[2 * i + 1]); hi1 = Math.max(hi1, d[2 * i + 1]);
  }
  const span = Math.max(hi0 - lo0, hi1 - lo1, 1e-6) * 1.1;
  const c0 = (lo0 + hi0) / 2;
  const c1 = (lo1 + hi1) / 2;
  const pixels = new Uint8Array(size * size).fill(255);
  const clip = (v) => Math.min(size - 1, Math.max(0, v));
  for (let i = 0; i < n; i++) {
    const col = clip(rint(((d[2 * i] - c0) / span + 0.5) * (size - 1)));
    const row = clip(rint(size - 1 - ((d[2 * i + 1] - c1) / span + 0.5) * (size - 1)));
    for (let dr = -1; dr <= 1; dr++) {
      for (let dc = -1; dc <= 1; dc++) pixels[clip(row + dr) * size + clip(col + dc)] = 0;
    }
  }
  return { width: size, height: size, channels: 1, pixels };
}

/** A picture as RGBA bytes; an ImageData where the platform has one (browsers). */
export function toImageData(pic) {
  const { width, height, channels: c, pixels } = pic;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[4 * i] = pixels[i * c];
    rgba[4 * i + 1] = pixels[i * c + (c === 3 ? 1 : 0)];
    rgba[4 * i + 2] = pixels[i * c + (c === 3 ? 2 : 0)];
    rgba[4 * i + 3] = 255;
  }
  if (typeof ImageData !== "undefined") return new ImageData(rgba, width, height);
  return { data: rgba, width, height };
}
