"""Build the two image sets, besides MNIST, that the cgan within-class variety study uses
(benchmarks/results/quality/cgan-variety.md): folders of PNGs with one subfolder per class.

* ``digits28``: scikit-learn's 1797 8x8 digits (0..16) upscaled to 28x28 grey with bicubic
  interpolation: the same classes as MNIST, other writers, softer strokes, 1797 images.
* ``shapes32``: 2000 synthetic 32x32 RGB images of five shape classes (disc, square, triangle,
  cross, ring) with random colour, background, size, position and rotation: much variety inside
  each class, none of it tuned on.

Usage: ``python benchmarks/cgan_variety_data.py OUT_DIR`` (seeded, a few seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits

SHAPES = ("disc", "square", "triangle", "cross", "ring")


def digits28(out: Path) -> None:
    d = load_digits()
    for i, (img, label) in enumerate(zip(d.images, d.target, strict=True)):
        grey = Image.fromarray((img * (255.0 / 16.0)).astype(np.uint8), mode="L")
        folder = out / "digits28" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        grey.resize((28, 28), Image.Resampling.BICUBIC).save(folder / f"{i:04d}.png")


def _shape(draw: ImageDraw.ImageDraw, kind: str, rng: np.random.Generator, fg: tuple) -> None:
    s = 64  # drawn at 2x, then downsampled: anti-aliased edges
    r = rng.uniform(0.18, 0.34) * s
    cx, cy = rng.uniform(r + 2, s - r - 2, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    if kind == "disc":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif kind == "ring":
        w = rng.uniform(0.25, 0.45) * r
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
        draw.ellipse([cx - r + w, cy - r + w, cx + r - w, cy + r - w], fill=draw.bg)  # type: ignore[attr-defined]
    else:
        if kind == "square":
            pts = [(np.cos(angle + k * np.pi / 2), np.sin(angle + k * np.pi / 2)) for k in range(4)]
            poly = [(cx + r * a, cy + r * b) for a, b in pts]
            draw.polygon(poly, fill=fg)
        elif kind == "triangle":
            pts = [
                (np.cos(angle + k * 2 * np.pi / 3), np.sin(angle + k * 2 * np.pi / 3))
                for k in range(3)
            ]
            draw.polygon([(cx + r * a, cy + r * b) for a, b in pts], fill=fg)
        else:  # cross: two rotated bars
            w = rng.uniform(0.25, 0.4) * r
            for turn in (0.0, np.pi / 2):
                a = angle + turn
                ux, uy, vx, vy = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
                bar = [
                    (cx + r * ux + w * vx, cy + r * uy + w * vy),
                    (cx + r * ux - w * vx, cy + r * uy - w * vy),
                    (cx - r * ux - w * vx, cy - r * uy - w * vy),
                    (cx - r * ux + w * vx, cy - r * uy + w * vy),
                ]
                draw.polygon(bar, fill=fg)


def shapes32(out: Path, n: int = 2000, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = i % len(SHAPES)
        bg = tuple(int(v) for v in rng.integers(0, 110, size=3))
        fg = tuple(int(v) for v in rng.integers(120, 256, size=3))
        img = Image.new("RGB", (64, 64), bg)
        draw = ImageDraw.Draw(img)
        draw.bg = bg  # type: ignore[attr-defined]
        _shape(draw, SHAPES[label], rng, fg)
        folder = out / "shapes32" / SHAPES[label]
        folder.mkdir(parents=True, exist_ok=True)
        img.resize((32, 32), Image.Resampling.LANCZOS).save(folder / f"{i:04d}.png")


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    digits28(root)
    shapes32(root)
    print(f"wrote {root / 'digits28'} and {root / 'shapes32'}")
