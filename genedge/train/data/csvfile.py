"""CSV files: one sample per row (points), or rows grouped into sequences by an id column."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genedge.runtime.errors import DataError

_SEQUENCE_COLUMN = "sequence"  # genedge's own CSV writer groups by it: read back alike
_GUESSED_ID = "id"  # too often a row number to take for a sequence id unasked


def read_csv(path: Path, sequence_id: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
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
