"""Text generation from a step graph, torch-free: the decoding loop, with sampling in numpy.

A text artifact (output kind ``text``, schema 1.3) holds one graph that reads token ids
``(batch, T)`` and a recurrent state, and returns next-token logits ``(batch, T, vocab)`` and
the new state. :class:`TextSampler` reads the prompt in one call (T > 1), then calls the graph
once per generated character (T = 1), choosing each character between calls.

Each character is chosen by the rules of :mod:`genedge.runtime.text_decoding`.

Because each sequence has its own stream and the graph treats rows independently, sequence
``i``'s text is the same at any ``n``, any batch size, on every backend, and from the PyTorch
model (:mod:`genedge.export.text_parity` checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from genedge.runtime.artifact import read_manifest
from genedge.runtime.backends import (
    Backend,
    open_backend,
)
from genedge.runtime.batching import check_batch_size, check_count
from genedge.runtime.errors import InputError, ManifestError
from genedge.runtime.feeds import check_graph_inputs, input_shape
from genedge.runtime.manifest import Manifest, TensorSpec
from genedge.runtime.text_decoding import (
    GumbelBlocks,
    Settings,
    StopFilter,
    check_settings,
    choose,
    sequence_stream,
)
from genedge.runtime.text_spec import TextSpec

__all__ = ["Settings", "TextSampler", "check_settings", "choose", "sequence_stream"]

log = logging.getLogger("genedge.runtime")

#: Sequences decoded per graph call unless asked otherwise.
DEFAULT_BATCH = 64
#: The prompt is read in pieces of at most this many characters (the state carries over), so
#: a long prompt never needs ``(batch, len(prompt), vocab)`` logits at once.
PROMPT_PIECE = 256


class TextSampler:
    """Generate text from a genedge text artifact. Loads no torch.

    Args:
        path: The artifact's ``.onnx`` file.
        backend: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"ort-tensorrt"`` or ``"tensorrt"``, as
            for :class:`~genedge.runtime.Sampler`. Defaults to ``"auto"``.
        threads: CPU threads for onnxruntime; ``None`` for its default.
        backend_options: Options for the backend (see :class:`~genedge.runtime.Sampler`).

    Example:
        >>> s = TextSampler("text.onnx")
        >>> s.generate("ROMEO:", n=2, length=100, seed=0)
        ['...', '...']

    Raises:
        ArtifactError: The file is missing, corrupt or not a genedge artifact.
        ManifestError: The artifact is not a text model.
        BackendUnavailableError: The backend cannot run here.
    """

    def __init__(
        self,
        path: str | Path,
        backend: str = "auto",
        threads: int | None = None,
        backend_options: Mapping[str, object] | None = None,
    ) -> None:
        self.path = Path(path)
        manifest = read_manifest(self.path)
        _text_spec(manifest)  # refuse a non-text artifact before starting a backend
        chosen, selection = open_backend(self.path, backend, threads, backend_options)
        log.info("%s: backend %s", self.path.name, selection)
        check_graph_inputs(manifest.sampler, chosen)
        self._setup(manifest, chosen)
        #: The backend in use and, for ``auto``, why each faster one was skipped.
        self.backend_selection = selection

    @classmethod
    def from_backend(cls, manifest: Manifest, backend: Backend) -> TextSampler:
        """A text sampler over any :class:`Backend` (e.g. genedge's PyTorch reference), with
        the very same decoding code."""
        self = cls.__new__(cls)
        self.path = Path("")
        self._setup(manifest, backend)
        self.backend_selection = f"{backend.name} (given)"
        return self

    def _setup(self, manifest: Manifest, backend: Backend) -> None:
        self.manifest = manifest
        self.spec = _text_spec(manifest)
        self._backend = backend
        self._index = {c: i for i, c in enumerate(self.spec.vocab)}
        graph = manifest.sampler
        self._state_spec: TensorSpec = next(t for t in graph.inputs if t.name == self.spec.state)
        self._outputs = [t.name for t in graph.outputs]

    @property
    def vocab(self) -> str:
        """The token characters: token ``i`` is ``vocab[i]``."""
        return self.spec.vocab

    @property
    def backend(self) -> str:
        """Name of the backend in use."""
        return self._backend.name

    def describe(self) -> dict[str, object]:
        """Backend details and how the backend was chosen."""
        return {**self._backend.describe(), "selection": self.backend_selection}

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int64) of ``text``; characters outside the vocabulary become
        ``spec.unknown``.

        Raises:
            InputError: A character is outside the vocabulary and the model has no fallback.
        """
        fallback = None if self.spec.unknown is None else self._index[self.spec.unknown]
        ids = []
        for c in text:
            i = self._index.get(c, fallback)
            if i is None:
                raise InputError(
                    f"prompt character {c!r} (U+{ord(c):04X}) is not in the model's "
                    f"{len(self.vocab)}-character vocabulary and the model has no fallback "
                    "for unseen characters; leave it out"
                )
            ids.append(i)
        return np.asarray(ids, np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The characters of token ids."""
        return "".join(self.vocab[int(i)] for i in ids)

    def generate(
        self,
        prompt: str = "",
        n: int = 1,
        length: int = 200,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        batch_size: int | None = None,
        start: int = 0,
    ) -> list[str]:
        """``n`` continuations of ``prompt`` (the prompt itself is not included).

        Args:
            prompt: Text to continue; empty starts from the model's ``bos`` character.
            n: How many sequences (decoded ``batch_size`` at a time).
            length: The most characters to generate per sequence.
            temperature: Divides the logits; 0 is greedy. Defaults to 0.8.
            top_k: Sample among the k most likely characters only.
            top_p: Sample among the most likely characters holding this much probability.
            stop: A string (or strings) that ends a sequence; the text stops before it.
            seed: Seeds sequence ``i``'s stream ``SeedSequence([seed, i])``; ``None``: fresh
                entropy (different text each call).
            batch_size: Sequences per graph call; defaults to ``min(n, 64)``. Does not change
                the text.
            start: The index of the first sequence: ``generate(n=1, start=i)`` is
                ``generate(n=i + 1)[i]``, without decoding the others.

        Returns:
            One string per sequence.

        Raises:
            InputError: Bad settings (see :func:`check_settings`), ``n`` < 1, a prompt
                character outside the vocabulary with no fallback, or an empty prompt for a
                model without ``bos``.
        """
        n, settings, ids, seed, batch, first = self._prepare(
            prompt, n, length, temperature, top_k, top_p, stop, seed, batch_size, start
        )
        if settings.stop or self.spec.eos is not None:
            texts = [""] * n
            for i, piece in self._stream(ids, range(first, first + n), settings, seed, batch):
                texts[i - first] += piece
            return texts
        # Nothing ends a sequence early: decode whole token arrays, then the characters.
        chars = np.array(list(self.vocab))
        out: list[str] = []
        for lo in range(first, first + n, batch):
            rows = range(lo, min(first + n, lo + batch))
            tokens = np.stack(list(self._tokens(ids, rows, settings, seed)), axis=1)
            out.extend("".join(chars[row]) for row in tokens)
        return out

    def stream(
        self,
        prompt: str = "",
        n: int = 1,
        length: int = 200,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        batch_size: int | None = None,
        start: int = 0,
    ) -> Iterator[tuple[int, str]]:
        """:meth:`generate` as it happens: ``(sequence index, new text)`` pairs, in the order
        produced; joining each index's pieces gives :meth:`generate`'s strings. Arguments as
        for :meth:`generate` (validated before the first piece)."""
        n, settings, ids, seed, batch, first = self._prepare(
            prompt, n, length, temperature, top_k, top_p, stop, seed, batch_size, start
        )
        return self._stream(ids, range(first, first + n), settings, seed, batch)

    def _prepare(
        self,
        prompt: str,
        n: int,
        length: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        stop: str | Sequence[str] | None,
        seed: int | None,
        batch_size: int | None,
        start: int,
    ) -> tuple[int, Settings, np.ndarray, int, int, int]:
        n = check_count(n)
        settings = check_settings(length, temperature, top_k, top_p, stop)
        ids = self._prompt_ids(prompt)
        request_seed = _request_seed(seed)
        batch = _batch_size(batch_size, n)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
            raise InputError(f"start must be a whole number >= 0, got {start!r}")
        return n, settings, ids, request_seed, batch, int(start)

    def _stream(
        self, ids: np.ndarray, indices: range, settings: Settings, seed: int, batch: int
    ) -> Iterator[tuple[int, str]]:
        for first in range(indices.start, indices.stop, batch):
            rows = range(first, min(indices.stop, first + batch))
            yield from self._decode_chunk(ids, rows, settings, seed)

    def _decode_chunk(
        self, ids: np.ndarray, rows: range, settings: Settings, seed: int
    ) -> Iterator[tuple[int, str]]:
        b = len(rows)
        texts = [StopFilter(settings.stop) for _ in rows]
        eos = None if self.spec.eos is None else self._index[self.spec.eos]
        live = np.ones(b, bool)
        for t, token in enumerate(self._tokens(ids, rows, settings, seed)):
            for r in np.flatnonzero(live):
                if eos is not None and token[r] == eos:
                    live[r] = False
                    out = texts[r].flush()
                else:
                    out = texts[r].add(self.vocab[int(token[r])])
                    if texts[r].done:
                        live[r] = False
                    elif t == settings.length - 1:
                        out += texts[r].flush()
                if out:
                    yield rows[r], out
            if not live.any():
                break

    def _tokens(
        self, ids: np.ndarray, rows: range, settings: Settings, seed: int
    ) -> Iterator[np.ndarray]:
        """Each step's chosen tokens ``(len(rows),)``; the graph runs for the next step only
        when the caller asks for it."""
        b = len(rows)
        streams = [sequence_stream(seed, i) for i in rows]
        noise = (
            None
            if settings.temperature == 0
            else GumbelBlocks(streams, len(self.vocab), settings.length)
        )
        state = np.zeros(input_shape(self._state_spec, b), np.float32)
        logits = np.empty((b, 0))
        for start in range(0, len(ids), PROMPT_PIECE):
            piece = np.tile(ids[start : start + PROMPT_PIECE], (b, 1))
            logits, state = self.step(piece, state)
        for t in range(settings.length):
            token = choose(
                logits[:, -1], settings, streams, None if noise is None else noise.next()
            )
            yield token
            if t < settings.length - 1:
                logits, state = self.step(token.astype(np.int64)[:, None], state)

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One graph call: ``(logits, new state)`` for int64 ``tokens`` ``(batch, T)`` read
        from ``state`` (zeros of :attr:`TextSpec.state_shape` to start)."""
        outs = dict(
            zip(
                self._outputs,
                self._backend.run({self.spec.tokens: tokens, self.spec.state: state}),
                strict=True,
            )
        )
        return outs[self.spec.logits], np.ascontiguousarray(outs[self.spec.state_out], np.float32)

    def _prompt_ids(self, prompt: str) -> np.ndarray:
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a string, got {type(prompt).__name__}")
        if prompt:
            return self.encode(prompt)
        if self.spec.bos is None:
            raise InputError("this model needs a prompt (it has no start character)")
        return np.asarray([self._index[self.spec.bos]], np.int64)


def _text_spec(manifest: Manifest) -> TextSpec:
    if manifest.output_kind != "text" or manifest.text is None:
        raise ManifestError(
            f"this is a {manifest.output_kind} model, not a text model; use genedge.runtime.Sampler"
        )
    return manifest.text


def _request_seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0 or None, got {seed!r}")
    return int(seed)


def _batch_size(batch_size: int | None, n: int) -> int:
    return min(n, DEFAULT_BATCH) if batch_size is None else check_batch_size(batch_size)
