"""Text model evaluation through the artifact (torch-free): held-out loss and sample statistics.

- :func:`heldout_loss`: mean next-character cross-entropy of a text, in nats and bits per
  character, computed with the step graph itself (any backend of a
  :class:`~genedge.runtime.text.TextSampler`, the PyTorch reference included).
- :func:`sample_stats`: distinct n-grams, the share of sampled 32-character windows found
  verbatim in the training text (memorisation), and the character-frequency distance to real
  text. (``genedge eval``'s report for text models, :mod:`genedge.eval.text_metrics`, builds on
  these, with an indexed memorisation check for large corpora.)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from genedge.runtime.errors import DataError
from genedge.runtime.text import TextSampler

#: Characters per graph call when scoring a text (the state carries over between calls).
CHUNK = 256
#: Parallel rows a text is split into when scoring it.
ROWS = 16
#: The window length of the memorisation check.
COPY_WINDOW = 32


def unigram_entropy(text: str) -> float:
    """The entropy (nats per character) of ``text``'s character frequencies: the loss of a
    model that knows only how often each character occurs."""
    counts = np.array(list(Counter(text).values()), np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def heldout_loss(sampler: TextSampler, text: str, rows: int = ROWS) -> dict[str, float]:
    """Mean next-character cross-entropy of ``text`` under the model.

    The text is split into ``rows`` contiguous pieces scored side by side, each read from a
    zero state in chunks of :data:`CHUNK` characters with the state carried; every character
    but each piece's first is predicted (so ``len(text) - rows`` predictions).

    Returns:
        ``{"nats": ..., "bits": ..., "characters": ...}``.

    Raises:
        DataError: ``text`` is shorter than ``2 * rows`` characters.
    """
    if len(text) < 2 * rows:
        raise DataError(f"the text to score has {len(text)} characters; give at least {2 * rows}")
    ids = sampler.encode(text)
    per = len(ids) // rows
    grid = ids[: per * rows].reshape(rows, per)
    state = np.zeros(
        tuple(rows if d == "batch" else int(d) for d in sampler.spec.state_shape), np.float32
    )
    total, count = 0.0, 0
    for start in range(0, per - 1, CHUNK):
        inputs = np.ascontiguousarray(grid[:, start : min(start + CHUNK, per - 1)])
        targets = grid[:, start + 1 : start + 1 + inputs.shape[1]]
        logits, state = sampler.step(inputs, state)
        x = logits.astype(np.float64)
        x -= x.max(axis=-1, keepdims=True)
        logp = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
        total -= float(np.take_along_axis(logp, targets[..., None], axis=-1).sum())
        count += targets.size
    nats = total / count
    return {"nats": nats, "bits": nats / math.log(2), "characters": float(count)}


def distinct_ngrams(texts: Sequence[str], n: int) -> float:
    """Distinct character n-grams over all n-grams of ``texts`` (1.0: no n-gram repeats)."""
    grams = [t[i : i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def copied_share(texts: Sequence[str], train_text: str, window: int = COPY_WINDOW) -> float:
    """The share of ``window``-character windows of ``texts`` that occur verbatim in
    ``train_text`` (windows start every ``window // 2`` characters)."""
    step = max(1, window // 2)
    windows = [t[i : i + window] for t in texts for i in range(0, len(t) - window + 1, step)]
    if not windows:
        return 0.0
    return sum(w in train_text for w in windows) / len(windows)


def char_distance(a: str, b: str) -> float:
    """Total variation distance between the character frequencies of ``a`` and ``b``."""
    ca, cb = Counter(a), Counter(b)
    na, nb = max(1, sum(ca.values())), max(1, sum(cb.values()))
    return 0.5 * sum(abs(ca[c] / na - cb[c] / nb) for c in set(ca) | set(cb))


def sample_stats(texts: Sequence[str], train_text: str, reference: str) -> dict[str, float]:
    """Statistics of ``texts``: distinct 2/4-grams, copied 32-character windows, and the
    character-frequency distance to ``reference``."""
    return {
        "distinct_2": distinct_ngrams(texts, 2),
        "distinct_4": distinct_ngrams(texts, 4),
        "copied_32": copied_share(texts, train_text),
        "char_distance": char_distance("".join(texts), reference),
    }
