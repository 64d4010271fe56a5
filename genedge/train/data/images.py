"""Folders of images: unlabelled at the top level, or one subfolder per class (via pillow,
imported lazily)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from genedge.runtime.errors import DataError
from genedge.train.data.dataset import TRAIN_HINT, Read

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
"""Image files picked up from a folder (case-insensitive)."""

_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def read_image_folder(path: Path) -> Read:
    """Images at the top level (unlabelled), or else one subfolder of images per class."""
    files = _image_files(path)
    if files:
        return _read_images(files), None, (), (0.0, 255.0), ()
    classes = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        members = _image_files(sub)
        if members:
            classes.append((sub.name, members))
    if not classes:
        raise DataError(
            f"no images in folder {path}: put {'/'.join(IMAGE_SUFFIXES)} files in it, "
            "or one subfolder of images per class"
        )
    files = [f for _, members in classes for f in members]
    y = np.concatenate([np.full(len(m), k, dtype=np.int64) for k, (_, m) in enumerate(classes)])
    return _read_images(files), y, tuple(name for name, _ in classes), (0.0, 255.0), ()


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _read_images(files: list[Path]) -> np.ndarray:
    """Same-size images as uint8 ``(N, C, H, W)``: grey ("L") if all are grey, else RGB."""
    pil = _pil()
    headers = []
    for f in files:
        with _image_errors(pil, f), pil.open(f) as im:
            headers.append((im.mode, im.size))
    mode = "L" if all(m in _GREY_MODES for m, _ in headers) else "RGB"
    width, height = headers[0][1]
    for f, (_, size) in zip(files, headers, strict=True):
        if size != (width, height):
            raise DataError(
                f"image {f} is {size[0]}x{size[1]} but {files[0]} is {width}x{height}; "
                "all images must be the same size (resize them first)"
            )
    out = np.empty((len(files), 1 if mode == "L" else 3, height, width), dtype=np.uint8)
    for i, f in enumerate(files):
        with _image_errors(pil, f), pil.open(f) as im:
            pixels = np.asarray(im.convert(mode))
        out[i] = pixels[None] if mode == "L" else pixels.transpose(2, 0, 1)
    return out


def _pil() -> ModuleType:
    """``PIL.Image``, imported lazily."""
    try:
        from PIL import Image
    except ImportError as e:
        raise DataError(f"reading a folder of images needs pillow: {TRAIN_HINT}") from e
    return Image


@contextlib.contextmanager
def _image_errors(pil: ModuleType, file: Path) -> Iterator[None]:
    """Turn PIL's failures on ``file`` (unknown format, truncated, too large) into a DataError."""
    try:
        yield
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError) as e:
        raise DataError(f"cannot read image {file}: {e}; replace or remove the file") from e
