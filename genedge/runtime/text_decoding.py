"""How the text decoder chooses each character, in numpy: the settings, the rules and the
seeded noise (:class:`~genedge.runtime.text.TextSampler` runs the loop around them).

Choosing a character (all in float64 numpy, per sequence; ``docs/models.md`` spells it out for
ports):

1. ``z = logits / temperature``. ``temperature == 0`` is greedy: ``argmax(logits)`` (the first
   index on ties), and no randomness is drawn.
2. top-k: keep the tokens whose ``z`` is at least the k-th largest ``z`` (ties kept).
3. top-p: ``p = softmax(z)`` over the kept tokens; sorted by ``p`` descending (stable: lower
   index first on ties), keep each token whose preceding cumulative mass is ``< top_p`` (so
   at least the most likely one).
4. Gumbel-max: draw ``u`` = ``vocab`` uniforms in [0, 1) from the sequence's own stream
   (``Generator(PCG64(SeedSequence([seed, i])))`` for sequence ``i``, ``u = rng.random(V)``
   each step, whatever the settings), and take ``argmax(z + (-log(-log(u))))`` over the kept
   tokens: an exact draw from ``softmax(z)`` restricted to them.

Each sequence has its own stream, so its text does not depend on the others in its batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genedge.runtime.errors import InputError

#: Gumbel noise is drawn this many steps at a time per sequence (fewer for large vocabularies):
#: ``rng.random((K, V))`` yields the same numbers as K calls of ``rng.random(V)``, so blocks
#: change the speed only, never the text.
NOISE_BLOCK = 64
#: The most noise values one block holds (rows x steps x vocabulary).
NOISE_BLOCK_VALUES = 1 << 20


@dataclass(frozen=True)
class Settings:
    """Validated decoding settings (see :meth:`TextSampler.generate`)."""

    length: int
    temperature: float
    top_k: int | None
    top_p: float | None
    stop: tuple[str, ...]


def check_settings(
    length: object,
    temperature: object,
    top_k: object,
    top_p: object,
    stop: object,
) -> Settings:
    """Validate decoding settings.

    Raises:
        InputError: ``length`` <= 0, ``temperature`` < 0 (or not finite), ``top_k`` < 1,
            ``top_p`` outside (0, 1], or a stop string that is empty or not a string.
    """
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
        raise InputError(f"length must be a positive number of characters, got {length!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or temperature < 0
    ):
        raise InputError(f"temperature must be a number >= 0 (0: greedy), got {temperature!r}")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
    ):
        raise InputError(f"top_k must be a whole number >= 1, got {top_k!r}")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1
    ):
        raise InputError(f"top_p must be in (0, 1], got {top_p!r}")
    stops: tuple[str, ...]
    if stop is None:
        stops = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, Sequence):
        stops = tuple(stop)
    else:
        raise InputError(f"stop must be a string or a list of strings, got {stop!r}")
    if not all(isinstance(s, str) and s for s in stops):
        raise InputError("stop strings must be non-empty strings")
    return Settings(
        int(length),
        float(temperature),
        None if top_k is None else int(top_k),
        None if top_p is None else float(top_p),
        stops,
    )


def sequence_stream(seed: int, i: int) -> np.random.Generator:
    """Sequence ``i``'s stream of uniforms for a request's ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, i])))


def choose(
    logits: np.ndarray,
    settings: Settings,
    streams: Sequence[np.random.Generator],
    gumbel: np.ndarray | None = None,
) -> np.ndarray:
    """One token per row of ``logits`` ``(rows, vocab)``, by the rules in the module docstring
    (row ``r`` draws from ``streams[r]``). ``gumbel``: this step's ``-log(-log(u))`` noise
    ``(rows, vocab)`` already drawn from the streams (:class:`GumbelBlocks`)."""
    if settings.temperature == 0:
        greedy: np.ndarray = np.argmax(np.asarray(logits, np.float64), axis=-1)
        return greedy
    z = np.true_divide(logits, settings.temperature, dtype=np.float64)
    vocab = z.shape[-1]
    if gumbel is None:
        gumbel = _gumbel(np.stack([rng.random(vocab) for rng in streams]))
    if (settings.top_k is None or settings.top_k >= vocab) and (
        settings.top_p is None or settings.top_p >= 1
    ):
        # Nothing filtered (the common case): the same argmax without the masks, which
        # are most of a step's sampling time at batch 1.
        z += gumbel
        plain: np.ndarray = np.argmax(z, axis=-1)
        return plain
    keep = np.ones(z.shape, bool)
    if settings.top_k is not None and settings.top_k < vocab:
        kth = np.partition(z, vocab - settings.top_k, axis=-1)[:, vocab - settings.top_k]
        keep &= z >= kth[:, None]
    if settings.top_p is not None and settings.top_p < 1:
        masked = np.where(keep, z, -np.inf)
        p = np.exp(masked - masked.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p
        in_nucleus = np.zeros_like(keep)
        np.put_along_axis(in_nucleus, order, before < settings.top_p, axis=-1)
        keep &= in_nucleus
    chosen: np.ndarray = np.argmax(np.where(keep, z + gumbel, -np.inf), axis=-1)
    return chosen


def _gumbel(u: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        g: np.ndarray = -np.log(-np.log(u))
    return g


class GumbelBlocks:
    """Each step's Gumbel noise for a chunk of sequences, drawn from their streams a block of
    steps at a time (the same numbers, in the same order, as one ``rng.random(vocab)`` per
    stream and step)."""

    def __init__(self, streams: Sequence[np.random.Generator], vocab: int, steps: int) -> None:
        self.streams, self.vocab, self.left = streams, vocab, steps
        self.per_block = max(1, min(NOISE_BLOCK, NOISE_BLOCK_VALUES // (len(streams) * vocab)))
        self.block = np.empty((0, len(streams), vocab))
        self.i = 0

    def next(self) -> np.ndarray:
        """The next step's noise ``(rows, vocab)``."""
        if self.i == len(self.block):
            k = max(1, min(self.per_block, self.left))
            u = np.stack([rng.random((k, self.vocab)) for rng in self.streams], axis=1)
            self.block, self.i = _gumbel(u), 0
        self.i += 1
        self.left -= 1
        out: np.ndarray = self.block[self.i - 1]
        return out


class StopFilter:
    """Per-sequence text assembly: holds back what may begin a stop string, and ends the
    sequence at the first stop (the stop itself is not part of the text)."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.pending = ""
        self.done = False

    def add(self, text: str) -> str:
        """Take new characters; return what is safe to emit."""
        self.pending += text
        hits = [(self.pending.find(s), s) for s in self.stops if s in self.pending]
        if hits:
            cut = min(pos for pos, _ in hits)
            out, self.pending, self.done = self.pending[:cut], "", True
            return out
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(self.pending) - hold :]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out
