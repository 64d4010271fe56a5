"""Turn samples into pictures: uint8 conversion, grids, and a dependency-free PNG writer."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from genedge.runtime.errors import InputError


def to_uint8(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map images in data units (``value_range``) to uint8 0..255, clipping outliers."""
    lo, hi = value_range
    y = (np.asarray(x, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    out: np.ndarray = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return out


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile ``(N, C, H, W)`` uint8 images into one ``(H', W')`` or ``(H', W', 3)`` image.

    Defaults to a square-ish grid (8x8 for 64 images), like the classic matplotlib grid.
    """
    if images.ndim != 4:
        raise InputError(f"a grid needs images shaped (N, C, H, W), got {images.shape}")
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise InputError(f"a grid needs 1 or 3 channels, got {c}")
    ncols = ncols or max(1, math.ceil(math.sqrt(n)))
    nrows = max(1, math.ceil(n / ncols))
    grid = np.zeros((c, nrows * (h + pad) + pad, ncols * (w + pad) + pad), dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, ncols)
        y0, x0 = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, y0 : y0 + h, x0 : x0 + w] = images[i]
    out: np.ndarray = grid[0] if c == 1 else grid.transpose(1, 2, 0)
    return out


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so 8x8 digits are visible in a viewer."""
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1) if factor > 1 else img


def encode_png(img: np.ndarray) -> bytes:
    """Encode a uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB image as PNG bytes."""
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise InputError(f"PNG needs uint8 (H, W) or (H, W, 3), got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    color_type = 0 if img.ndim == 2 else 2
    rows = np.ascontiguousarray(img).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit grey or RGB PNG without interlacing (what :func:`encode_png` writes, and
    what most tools write for masks and small images) to uint8 ``(H, W)`` or ``(H, W, 3)``."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise InputError("not a PNG file")
    pos, idat, meta = 8, [], None
    try:
        while pos < len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            tag = data[pos + 4 : pos + 8]
            body = data[pos + 8 : pos + 8 + length]
            pos += 12 + length
            if tag == b"IHDR":
                meta = struct.unpack(">IIBBBBB", body)
            elif tag == b"IDAT":
                idat.append(body)
            elif tag == b"IEND":
                break
        if meta is None:
            raise InputError("PNG has no header")
        w, h, depth, ctype, _, _, interlace = meta
        channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
        if depth != 8 or channels is None or interlace:
            raise InputError("only 8-bit, non-interlaced grey/RGB(A) PNGs are supported")
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
        stride = w * channels
        raw = raw.reshape(h, stride + 1)
    except (struct.error, zlib.error, ValueError) as e:
        raise InputError(f"PNG is corrupt: {e}") from None
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ftype, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 255
        else:  # Sub, Average, Paeth need the left neighbour: go byte by byte.
            cur = np.zeros(stride, np.int32)
            for i in range(stride):
                left = cur[i - channels] if i >= channels else 0
                up, ul = prev[i], (prev[i - channels] if i >= channels else 0)
                if ftype == 1:
                    pred = left
                elif ftype == 3:
                    pred = (left + up) // 2
                else:
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                cur[i] = (line[i] + pred) & 255
        out[y] = cur
        prev = cur
    img = out.astype(np.uint8).reshape(h, w, channels)
    if channels == 1:
        return img[:, :, 0]
    if channels == 2:
        return img[:, :, 0]
    return img[:, :, :3]


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG file into uint8 ``(H, W)`` or ``(H, W, 3)``."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read image {path}: {e.strerror or e}") from None
    return decode_png(data)
