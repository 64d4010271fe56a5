"""The manifest's ``text`` section (schema 1.3): how a text model's step graph is driven."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genedge.runtime.errors import ManifestError

if TYPE_CHECKING:  # manifest.py imports this module
    from genedge.runtime.manifest import Dim, GraphSpec

_KEYS = ("vocab", "tokens", "state", "state_out", "state_shape", "logits")


@dataclass(frozen=True)
class TextSpec:
    """How a text model's step graph is driven (schema 1.3, output kind ``text``).

    Attributes:
        vocab: The token characters: token ``i`` is ``vocab[i]`` (distinct characters).
        unknown: The character a prompt character outside ``vocab`` becomes; ``None``
            refuses such prompts.
        tokens: The ``tokens`` input, int64 ``(batch, length)``.
        state: The recurrent state input (zeros to start), and ``state_out`` the output that
            carries it to the next call; ``state_shape`` is their shape.
        logits: The output of next-token logits, ``(batch, length, len(vocab))``.
        bos: The character fed first when the prompt is empty; ``None``: a prompt is needed.
        eos: A character that ends a sequence when sampled; ``None``: only ``length`` and
            stop strings do.
    """

    vocab: str
    tokens: str
    state: str
    state_out: str
    state_shape: tuple[Dim, ...]
    logits: str
    unknown: str | None = None
    bos: str | None = None
    eos: str | None = None

    @classmethod
    def from_dict(cls, d: Any, graph: GraphSpec) -> TextSpec:
        """Read and check the manifest's ``text`` section against the sampler graph."""
        if not isinstance(d, dict):
            raise ManifestError("text: expected an object")
        missing = [k for k in _KEYS if k not in d]
        if missing:
            raise ManifestError(f"text: missing field(s) {', '.join(missing)}")
        vocab = d["vocab"]
        if not isinstance(vocab, str) or len(vocab) < 2 or len(set(vocab)) != len(vocab):
            raise ManifestError("text.vocab must be a string of at least 2 distinct characters")
        for key in ("unknown", "bos", "eos"):
            c = d.get(key)
            if c is not None and not (isinstance(c, str) and len(c) == 1 and c in vocab):
                raise ManifestError(f"text.{key} must be null or one character of text.vocab")
        ins = {t.name for t in graph.inputs}
        outs = {t.name for t in graph.outputs}
        for key, names in (("tokens", ins), ("state", ins), ("state_out", outs), ("logits", outs)):
            if d[key] not in names:
                raise ManifestError(f"text.{key} {d[key]!r} is not a tensor of the sampler graph")
        shape = d["state_shape"]
        if not isinstance(shape, list) or not all(isinstance(s, (int, str)) for s in shape):
            raise ManifestError("text.state_shape must be a list of sizes or axis names")
        return cls(
            vocab=vocab,
            tokens=d["tokens"],
            state=d["state"],
            state_out=d["state_out"],
            state_shape=tuple(shape),
            logits=d["logits"],
            unknown=d.get("unknown"),
            bos=d.get("bos"),
            eos=d.get("eos"),
        )
