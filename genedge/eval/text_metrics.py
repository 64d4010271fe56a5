"""``genedge eval`` for text artifacts: held-out loss and sample statistics beside real text,
torch-free, as one report with a table for the CLI.

Builds on :mod:`genedge.eval.text_eval` (the held-out loss through the step graph, distinct
n-grams, the character-frequency distance) and adds:

- :class:`WindowIndex`: the training text's 32-character windows as sorted 64-bit hashes, so
  the memorisation check costs one binary search per window (a 5 MB corpus indexes in about a
  second), where a substring search would scan the whole corpus per window.
- :class:`TextEvalReport`, built by :func:`evaluate_text_report`: held-out nats and bits per
  character; distinct-n for n = 1..4, the copied share and the character-frequency distance of
  generated text, each beside the same statistic of real held-out text of the same size (the
  figure a model that writes like the held-out text would get).
- :func:`render_rows`: the report as ``(metric, samples, real held-out)`` rows.

Everything is seeded: the samples by ``seed`` (the runtime's per-sequence streams), the real
pieces are spread evenly over the held-out text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genedge.eval.text_eval import char_distance, distinct_ngrams, heldout_loss, unigram_entropy
from genedge.runtime.errors import DataError, InputError
from genedge.runtime.text import TextSampler

#: The window length of the memorisation check (the issue's 32 characters).
COPY_WINDOW = 32
#: The n of the distinct-n statistics.
DISTINCT_NS = (1, 2, 3, 4)
#: Characters per generated sample unless told otherwise.
SAMPLE_LENGTH = 300
#: Odd multiplier of the polynomial window hash (mod 2**64); any large odd constant works.
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)
#: Columns of :func:`render_rows`.
RENDER_COLUMNS = ("metric", "samples", "real held-out")


def _codes(text: str) -> np.ndarray:
    """Code points of ``text`` as uint64 (one per character, any script)."""
    return np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.uint64)


def window_hashes(text: str, window: int = COPY_WINDOW) -> np.ndarray:
    """The 64-bit polynomial hash of every ``window``-character window of ``text`` (one per
    start, ``len(text) - window + 1`` of them; none for a shorter text).

    ``h = sum(code[i + j] * B**(window - 1 - j)) mod 2**64`` over code points plus one, built in
    ``window`` vectorised passes; equal windows give equal hashes, and two different windows of
    natural text collide with probability about 2**-64 per pair.
    """
    if window < 1:
        raise InputError(f"window must be at least 1 character, got {window}")
    codes = _codes(text) + np.uint64(1)
    count = len(codes) - window + 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    h = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(window):
            h *= _HASH_BASE
            h += codes[j : j + count]
    return h


class WindowIndex:
    """The set of a text's ``window``-character windows, as sorted unique hashes.

    Example:
        >>> idx = WindowIndex("the quick brown fox", window=5)
        >>> idx.contains(["quick", "slow "]).tolist()
        [True, False]
    """

    def __init__(self, text: str, window: int = COPY_WINDOW) -> None:
        self.window = window
        h = window_hashes(text, window)
        h.sort()  # sort and drop repeats by hand: np.unique is ~100x slower here (numpy 2.x)
        self._hashes = h[np.concatenate(([True], h[1:] != h[:-1]))] if h.size else h

    def __len__(self) -> int:
        """The number of distinct windows."""
        return int(self._hashes.size)

    def _member(self, hashes: np.ndarray) -> np.ndarray:
        if self._hashes.size == 0:
            return np.zeros(hashes.shape, bool)
        pos = np.searchsorted(self._hashes, hashes).clip(max=self._hashes.size - 1)
        found: np.ndarray = self._hashes[pos] == hashes
        return found

    def contains(self, windows: Sequence[str]) -> np.ndarray:
        """Whether each string (of exactly ``window`` characters) is a window of the text."""
        if any(len(w) != self.window for w in windows):
            raise InputError(f"windows must have exactly {self.window} characters")
        hashes = np.array([window_hashes(w, self.window)[0] for w in windows], np.uint64)
        return self._member(hashes)

    def copied_share(self, texts: Sequence[str]) -> float:
        """The share of all ``window``-character windows of ``texts`` (every start) found
        verbatim in the indexed text; 0.0 when the texts are too short to hold one."""
        found, total = 0, 0
        for t in texts:
            member = self._member(window_hashes(t, self.window))
            found += int(member.sum())
            total += member.size
        return found / total if total else 0.0


@dataclass(frozen=True)
class TextStats:
    """Statistics of a set of texts.

    Attributes:
        distinct: Distinct character n-grams over all n-grams, by n (``{1: ..., 4: ...}``).
        copied: Share of the texts' 32-character windows found verbatim in the training text.
        char_tv: Total variation distance between the texts' character frequencies and the
            training text's (0: the same distribution; 1: disjoint).
        characters: Characters in all texts.
    """

    distinct: dict[int, float]
    copied: float
    char_tv: float
    characters: int


def text_stats(texts: Sequence[str], index: WindowIndex, train_text: str) -> TextStats:
    """:class:`TextStats` of ``texts`` against the training text (and its window index)."""
    return TextStats(
        distinct={n: distinct_ngrams(texts, n) for n in DISTINCT_NS},
        copied=index.copied_share(texts),
        char_tv=char_distance("".join(texts), train_text),
        characters=sum(map(len, texts)),
    )


@dataclass(frozen=True)
class TextEvalReport:
    """What :func:`evaluate_text_report` measured.

    Attributes:
        data: The data set's name or path.
        heldout_nats: Mean next-character cross-entropy of the held-out text (nats/char).
        heldout_bits: The same in bits per character.
        heldout_characters: Characters predicted (the held-out text, less one per row).
        unigram_nats: The baseline: entropy of the training text's character frequencies.
        samples: Statistics of generated text.
        real: The same statistics of real held-out text, as many pieces of the same length.
        settings: n, length, temperature, seed, copy window and backend.
    """

    data: str
    heldout_nats: float
    heldout_bits: float
    heldout_characters: int
    unigram_nats: float
    samples: TextStats
    real: TextStats
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, with a ``metrics`` list (``key``, ``value``, ``floor``: the
        real text's figure, ``None`` where there is none) like the image reports."""
        d = asdict(self)
        d["metrics"] = [
            {"key": k, "label": label, "value": v, "floor": f} for k, label, v, f in self.metrics()
        ]
        return d

    def metrics(self) -> list[tuple[str, str, float, float | None]]:
        """``(key, label, value, real-text figure or None)`` for every figure."""
        rows: list[tuple[str, str, float, float | None]] = [
            ("heldout_nats", "held-out loss (nats/char)", self.heldout_nats, None),
            ("heldout_bits", "held-out loss (bits/char)", self.heldout_bits, None),
            ("unigram_nats", "unigram baseline (nats/char)", self.unigram_nats, None),
        ]
        for n in DISTINCT_NS:
            rows.append(
                (f"distinct_{n}", f"distinct-{n}", self.samples.distinct[n], self.real.distinct[n])
            )
        window = self.settings.get("window", COPY_WINDOW)
        rows.append(
            ("copied", f"copied {window}-char windows", self.samples.copied, self.real.copied)
        )
        rows.append(("char_tv", "char-frequency TV", self.samples.char_tv, self.real.char_tv))
        return rows

    def metric(self, key: str) -> tuple[float, float | None]:
        """``(value, real-text figure)`` of one metric by key (e.g. ``"heldout_nats"``)."""
        for k, _, v, f in self.metrics():
            if k == key:
                return v, f
        raise KeyError(key)


def evaluate_text_report(
    sampler: TextSampler,
    train_text: str,
    heldout_text: str,
    *,
    data: str = "",
    n: int = 256,
    length: int = SAMPLE_LENGTH,
    temperature: float = 0.8,
    seed: int = 0,
    window: int = COPY_WINDOW,
    index: WindowIndex | None = None,
) -> TextEvalReport:
    """Held-out loss through ``sampler``'s graph and statistics of ``n`` generated texts of
    ``length`` characters (continuing the model's start character, or the held-out text's
    first character when it has none) beside ``n`` real held-out pieces of the same length.

    The real pieces never overlap, so ``n`` is capped at ``len(heldout_text) // length`` (the
    report's ``settings`` keep ``n_asked`` and the ``n`` used).

    Args:
        index: A prebuilt :class:`WindowIndex` of ``train_text`` (built when ``None``).

    Raises:
        DataError: The held-out text is too short to score or to cut ``n`` pieces from.
        InputError: Bad decoding settings.
    """
    if len(heldout_text) < length:
        raise DataError(
            f"the held-out text has {len(heldout_text)} characters, fewer than --length "
            f"{length}; use a shorter length or more data"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive number of samples, got {n!r}")
    n_asked, n = n, min(n, len(heldout_text) // length)
    loss = heldout_loss(sampler, heldout_text)
    index = index if index is not None else WindowIndex(train_text, window)
    prompt = "" if sampler.spec.bos is not None else heldout_text[0]
    fake = sampler.generate(prompt, n=n, length=length, temperature=temperature, seed=seed)
    starts = np.linspace(0, len(heldout_text) - length, n).astype(int)
    real = [heldout_text[s : s + length] for s in starts]
    return TextEvalReport(
        data=data,
        heldout_nats=loss["nats"],
        heldout_bits=loss["bits"],
        heldout_characters=int(loss["characters"]),
        unigram_nats=unigram_entropy(train_text),
        samples=text_stats(fake, index, train_text),
        real=text_stats(real, index, train_text),
        settings={
            "n": n,
            "n_asked": n_asked,
            "length": length,
            "temperature": temperature,
            "seed": seed,
            "window": window,
            "prompt": prompt,
            "backend": sampler.backend,
        },
    )


def evaluate_text_file(
    path: str | Path,
    data: str,
    *,
    backend: str = "auto",
    threads: int | None = None,
    n: int = 256,
    length: int = SAMPLE_LENGTH,
    temperature: float = 0.8,
    seed: int = 0,
) -> TextEvalReport:
    """:func:`evaluate_text_report` of the text artifact at ``path`` on ``data``
    (``shakespeare``, a ``.txt``, a folder of them or a ``.jsonl``), split as in training.

    Raises:
        DataError: The data is not readable text, or has characters the model cannot read.
        ManifestError: The artifact is not a text model.
    """
    from genedge.train.data.text import load_text

    sampler = TextSampler(path, backend=backend, threads=threads)
    ds = load_text(data)
    unseen = sorted(set(ds.train_text + ds.heldout_text) - set(sampler.vocab))
    if unseen and sampler.spec.unknown is None:
        raise DataError(
            f"{data} has {len(unseen)} character(s) the model never saw (e.g. {unseen[0]!r}); "
            "evaluate on the data it was trained on"
        )
    return evaluate_text_report(
        sampler,
        ds.train_text,
        ds.heldout_text,
        data=data,
        n=n,
        length=length,
        temperature=temperature,
        seed=seed,
    )


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.4f}"


def render_rows(report: TextEvalReport) -> list[tuple[str, str, str]]:
    """The report as ``(metric, samples, real held-out)`` rows (:data:`RENDER_COLUMNS`); the
    loss rows have no real-text figure (``-``)."""
    return [(label, _fmt(v), _fmt(f)) for _, label, v, f in report.metrics()]


def render_notes(report: TextEvalReport) -> list[str]:
    """One-line notes printed under the table."""
    s = report.settings
    return [
        f"held-out loss over {report.heldout_characters:,} characters through {s['backend']}",
        f"{s['n']} samples of {s['length']} characters, temperature {s['temperature']}, "
        f"seed {s['seed']}; real: {s['n']} held-out pieces of the same length",
        *(
            [f"n capped at {s['n']}: the held-out text holds no more pieces of that length"]
            if s["n_asked"] > s["n"]
            else []
        ),
    ]
