"""Text data: the built-in ``shakespeare`` corpus, UTF-8 ``.txt`` files, folders of them, and
``.jsonl`` files with a ``text`` field, read as characters.

The vocabulary is the data's own: its distinct characters sorted by code point, in any script.
Each document's last :data:`HELD_OUT_SHARE` is held out (a deterministic split, the same for
every seed), so a model is scored on text from every document that it never trained on.

The training and held-out texts are cut into windows of :data:`WINDOW` + 1 characters (shorter
for small corpora), stored as token ids in a :class:`TextDataset`: ``x`` is float32
``(N, window + 1)`` holding ids ``0..V-1``, and ``y`` marks each window's split (0 training,
1 held out), so the training loop's batches can tell them apart.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genedge.runtime.errors import DataError
from genedge.train.data.dataset import Dataset
from genedge.train.data.images import IMAGE_SUFFIXES

#: The built-in text corpus names.
TEXT_BUILTINS: tuple[str, ...] = ("shakespeare",)
#: The share of each document, from its end, held out from training.
HELD_OUT_SHARE = 0.05
#: Characters per training window (each window holds one more: the last target).
WINDOW = 256
#: The fewest characters a window may have (small corpora get shorter windows).
MIN_WINDOW = 2
#: What separates the works inside the built-in corpus file.
DOCUMENT_SEPARATOR = "\f"
#: File suffixes read as text.
TEXT_SUFFIXES = (".txt", ".jsonl")

_CORPORA = Path(__file__).with_name("corpora")


@dataclass(frozen=True)
class TextDataset(Dataset):
    """A :class:`Dataset` of character windows, with the text it was cut from.

    Attributes:
        vocab: The token characters, sorted by code point; token ``i`` is ``vocab[i]``.
        train_text: The training parts of all documents, joined.
        heldout_text: The held-out parts (each document's last 5 %), joined.
        documents: How many documents the data had.
    """

    vocab: str = ""
    train_text: str = ""
    heldout_text: str = ""
    documents: int = 0


def read_documents(spec: str) -> list[str]:
    """The documents of a built-in corpus, a ``.txt`` file, a folder of them or a ``.jsonl``.

    Raises:
        DataError: No such corpus or file, not UTF-8, a malformed ``.jsonl`` line, or no text.
    """
    if spec in TEXT_BUILTINS:
        raw = gzip.decompress((_CORPORA / f"{spec}.txt.gz").read_bytes())
        docs = raw.decode("utf-8").split(DOCUMENT_SEPARATOR)
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".txt")
            if not files:
                raise DataError(f"{path}: no .txt files in the folder")
            docs = [_read_utf8(p) for p in files]
        elif path.suffix.lower() == ".jsonl":
            docs = _read_jsonl(path)
        elif path.suffix.lower() == ".txt":
            docs = [_read_utf8(path)]
        else:
            raise DataError(f"{path}: text data is a .txt or .jsonl file, or a folder of .txt")
    docs = [d.replace("\r\n", "\n").replace("\r", "\n") for d in docs]
    docs = [d for d in docs if d]
    if not docs:
        raise DataError(f"{spec} holds no text")
    return docs


def is_text_folder(path: Path) -> bool:
    """Whether a folder is text data: ``.txt`` files, and neither images nor subfolders (a
    folder of images, or of class subfolders, with a ``notes.txt`` beside them is image data)."""
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    if not any(p.is_file() and p.suffix.lower() == ".txt" for p in entries):
        return False
    return not any(p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES for p in entries)


def _read_utf8(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not UTF-8 text (byte {e.start}); convert it, e.g. iconv -t utf-8"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _read_jsonl(path: Path) -> list[str]:
    docs = []
    for i, line in enumerate(_read_utf8(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{i}: not a JSON line ({e.msg})") from None
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str):
            raise DataError(f'{path}:{i}: each line needs a "text" string field')
        docs.append(text)
    return docs


def build_vocab(docs: list[str]) -> str:
    """The distinct characters of ``docs``, sorted by code point."""
    return "".join(sorted(set("".join(docs))))


def split_documents(docs: list[str]) -> tuple[str, str]:
    """``(training text, held-out text)``: each document's last :data:`HELD_OUT_SHARE`
    (at least one character) is held out; documents of one character train only."""
    train, held = [], []
    for d in docs:
        k = max(1, round(len(d) * HELD_OUT_SHARE)) if len(d) > 1 else 0
        train.append(d[: len(d) - k])
        held.append(d[len(d) - k :])
    return "".join(train), "".join(held)


def encode(text: str, vocab: str) -> np.ndarray:
    """Token ids (int64) of ``text``; every character must be in ``vocab``."""
    index = {c: i for i, c in enumerate(vocab)}
    return np.fromiter((index[c] for c in text), np.int64, len(text))


def windows(ids: np.ndarray, window: int) -> np.ndarray:
    """Consecutive windows of ``window + 1`` ids, each starting where the previous one's last
    input is (stride ``window``); the remainder is dropped."""
    count = (len(ids) - 1) // window
    starts = np.arange(count) * window
    out: np.ndarray = ids[starts[:, None] + np.arange(window + 1)]
    return out


def load_text(spec: str, n: int | None = None) -> TextDataset:
    """Read text data as a :class:`TextDataset` (see the module docstring).

    Args:
        spec: ``shakespeare``, a ``.txt`` file, a folder of ``.txt`` files or a ``.jsonl``
            file with a ``text`` field per line.
        n: Not supported for text (windows are fixed by the text); must be ``None``.

    Raises:
        DataError: Unreadable or too little text, fewer than two distinct characters, or
            ``n`` given.
    """
    if n is not None:
        raise DataError("n does not apply to text data; give a smaller text file instead")
    docs = read_documents(spec)
    vocab = build_vocab(docs)
    if len(vocab) < 2:
        raise DataError(f"{spec} has {len(vocab)} distinct character(s); a model needs two")
    train_text, held_text = split_documents(docs)
    window = min(WINDOW, len(train_text) - 1, len(held_text) - 1)
    if window < MIN_WINDOW:
        need = int((MIN_WINDOW + 1) / HELD_OUT_SHARE)
        raise DataError(
            f"{spec} is too little text ({sum(map(len, docs))} characters); give at least {need}"
        )
    train = windows(encode(train_text, vocab), window)
    held = windows(encode(held_text, vocab), window)
    x = np.concatenate([train, held]).astype(np.float32)
    y = np.concatenate([np.zeros(len(train), np.int64), np.ones(len(held), np.int64)])
    return TextDataset(
        name=spec,
        x=x,
        kind="text",
        value_range=(0.0, float(len(vocab) - 1)),
        y=y,
        notes=(
            f"text: {len(docs)} document(s), {len(train_text)} training and {len(held_text)} "
            f"held-out characters, {len(vocab)} distinct, windows of {window}",
        ),
        vocab=vocab,
        train_text=train_text,
        heldout_text=held_text,
        documents=len(docs),
    )
