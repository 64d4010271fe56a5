"""The :class:`Dataset` type, and the validation and assembly every non-generated source goes
through (:func:`make_dataset`)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from genedge.runtime.errors import DataError

TRAIN_HINT = "pip install 'genedge[train]'"
"""How to install the optional packages a loader needs."""

Read = tuple[
    np.ndarray, np.ndarray | None, tuple[str, ...], tuple[float, float] | None, tuple[str, ...]
]
"""What a file reader returns: x, labels or None, class names, a fixed value range or None
(then the data's own), notes."""


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


def make_dataset(
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
        value_range=value_range or own_range(x),
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


def check_n(n: int | None) -> None:
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise DataError(f"n must be a positive whole number of samples, got {n!r}")


def own_range(x: np.ndarray) -> tuple[float, float]:
    """The data's min and max, widened by 1 on each side when they are equal."""
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi
