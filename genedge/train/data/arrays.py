"""NumPy files: a ``.npy`` array, or an ``.npz`` archive with ``x`` (and optionally ``y``);
never unpickled."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from genedge.runtime.errors import DataError
from genedge.train.data.dataset import Read


def read_npy(path: Path) -> Read:
    arr = _np_load(path)
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise DataError(f"{path} is an .npz archive, not a single array; rename it to .npz")
    x = _numeric(arr, str(path))
    return x, None, (), _fixed_range(x), ()


def read_npz(path: Path) -> Read:
    archive = _np_load(path)
    if isinstance(archive, np.ndarray):
        raise DataError(f"{path} holds a single array (.npy format); rename it to .npy")
    with archive:
        if "x" not in archive.files:
            keys = ", ".join(archive.files) or "none"
            raise DataError(
                f"{path} has no array named 'x' (it has: {keys}); "
                "save it with np.savez(path, x=data) or np.savez(path, x=data, y=labels)"
            )
        x = _numeric(_npz_member(archive, "x", path), f"{path}['x']")
        y = _npz_member(archive, "y", path) if "y" in archive.files else None
    return x, y, (), _fixed_range(x), ()


def _np_load(path: Path) -> np.ndarray | np.lib.npyio.NpzFile:
    """``np.load`` that never unpickles and turns every failure into a DataError."""
    try:
        loaded: np.ndarray | np.lib.npyio.NpzFile = np.load(path, allow_pickle=False)
        return loaded
    except ValueError as e:
        raise DataError(_np_value_error(path, e)) from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e}; the file looks truncated or corrupt") from e


def _npz_member(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as e:
        raise DataError(_np_value_error(path, e, key)) from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"cannot read {key!r} from {path}: {e}; the file looks corrupt") from e


def _np_value_error(path: Path, e: ValueError, key: str | None = None) -> str:
    where = f"{path}['{key}']" if key else str(path)
    text = str(e)
    if "Object arrays" in text:
        return (
            f"{where} is an object array, which genedge never unpickles; "
            "save a numeric array instead, e.g. x.astype(np.float32)"
        )
    if "pickle" in text.lower():
        return f"{where} is not a NumPy file (it may be a pickle, which genedge never loads)"
    return f"cannot read {where}: {text}; the file looks truncated or corrupt"


def _numeric(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataError(
            f"{source} has dtype {arr.dtype}, not numbers; save a numeric (e.g. float32) array"
        )
    return arr


def _fixed_range(x: np.ndarray) -> tuple[float, float] | None:
    """uint8 image stacks are 0..255 whatever they hold; everything else uses its own range."""
    return (0.0, 255.0) if x.dtype == np.uint8 and x.ndim == 4 else None
