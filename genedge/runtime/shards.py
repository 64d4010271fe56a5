"""Splitting one seeded generation across machines: which samples shard ``K`` of ``N`` makes.

Shards are numbered from 0, as a Slurm array's ``SLURM_ARRAY_TASK_ID`` (``--array=0-N-1``), a
Kubernetes indexed Job's ``JOB_COMPLETION_INDEX`` and Ray's task indices are: shard ``K`` of
``N`` makes a contiguous run of samples, the shards in order cover ``0 .. n-1`` once, and their
sizes differ by at most one (the first ``n % N`` shards hold one more). Because a seeded
sample depends only on ``(seed, position)`` (:meth:`Sampler.sample`'s ``start``), the shards'
outputs concatenated in shard order are the single run's, byte for byte.

Example:
    >>> shard_range(10, 1, 3)      # shards hold 4, 3, 3 samples
    (4, 3)
    >>> parse_shard("2/8")
    (2, 8)
    >>> merge_npy(["part0.npy", "part1.npy"], "all.npy")   # shard order
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genedge.runtime.atomic import atomic_path
from genedge.runtime.errors import InputError

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``: shard ``K`` (0-based) of ``N``.

    Raises:
        InputError: Not two whole numbers ``K/N``, ``N`` < 1, or ``K`` >= ``N``.
    """
    m = _SHARD.fullmatch(text)
    if m is None:
        raise InputError(
            f"--shard must be K/N with whole numbers, shard K of N counted from 0 "
            f"(e.g. 0/4 .. 3/4), got {text!r}"
        )
    shard, shards = int(m.group(1)), int(m.group(2))
    check_shard(shard, shards)
    return shard, shards


def check_shard(shard: int, shards: int) -> None:
    """Refuse a shard index outside ``0 .. shards - 1`` or fewer than one shard."""
    for name, v in (("shard", shard), ("shards", shards)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"{name} must be a whole number, got {v!r}")
    if shards < 1:
        raise InputError(f"the number of shards must be at least 1, got {shards}")
    if not 0 <= shard < shards:
        raise InputError(
            f"shard {shard} of {shards} does not exist: shards count from 0 to {shards - 1}"
        )


def shard_range(n: int, shard: int, shards: int) -> tuple[int, int]:
    """``(start, count)`` of shard ``shard`` (0-based) of ``shards`` over ``n`` samples.

    Contiguous and balanced: the first ``n % shards`` shards hold ``n // shards + 1``
    samples, the others ``n // shards``; a shard may hold none when ``shards > n``.

    Raises:
        InputError: A bad shard (see :func:`check_shard`) or ``n`` < 0.
    """
    check_shard(shard, shards)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"n must be a whole number >= 0, got {n!r}")
    base, extra = divmod(n, shards)
    start = shard * base + min(shard, extra)
    return start, base + (1 if shard < extra else 0)


def merge_npy(parts: Sequence[str | Path], out: str | Path) -> int:
    """Concatenate shards' ``.npy`` files, in the order given, into ``out``; returns the
    number of samples. Streams (memory stays flat); the result is the single run's file byte
    for byte (the same header as ``genedge sample --out X.npy`` writes).

    Raises:
        InputError: No parts, a part that is not a readable C-order ``.npy`` file, or parts
            whose sample shapes or dtypes differ.
        OutputError: ``out`` cannot be written.
    """
    if not parts:
        raise InputError("nothing to merge: give the shards' .npy files in shard order")
    heads = [_npy_header(Path(p)) for p in parts]
    descr, rest = heads[0][0], heads[0][1][1:]
    for p, (d, shape, _) in zip(parts, heads, strict=True):
        if d != descr or shape[1:] != rest:
            raise InputError(
                f"{p} holds {d} samples shaped {shape[1:]}, the first part {descr} {rest}: "
                "shards of one run have the same shape"
            )
    total = sum(shape[0] for _, shape, _ in heads)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        header = {"descr": descr, "fortran_order": False, "shape": (total, *rest)}
        np.lib.format.write_array_header_1_0(f, header)
        for p, (_, _, offset) in zip(parts, heads, strict=True):
            with open(p, "rb") as src:
                src.seek(offset)
                shutil.copyfileobj(src, f, 2**20)
    return total


def _npy_header(path: Path) -> tuple[str, tuple[int, ...], int]:
    """``(dtype descr, shape, data offset)`` of a C-order ``.npy`` file with a batch axis."""
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            if major == 1:
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif major == 2:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f".npy format version {major} is not read here")
            offset = f.tell()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path} as a NumPy array: {e}") from None
    if fortran or not shape or dtype.hasobject:
        raise InputError(f"{path} is not an array of samples (C order, with a batch axis)")
    return str(dtype.str), tuple(int(d) for d in shape), offset
