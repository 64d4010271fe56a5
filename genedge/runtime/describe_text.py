"""The rows ``genedge info`` shows for a text model (output kind ``text``): vocabulary, the
rule for unseen characters, and the step graph's state."""

from __future__ import annotations

from genedge.runtime.manifest import Manifest

#: Characters of the vocabulary shown before "...".
PREVIEW = 40


def text_latent(manifest: Manifest) -> str:
    """What a text model draws instead of a latent: one uniform per token per character."""
    return f"none: {manifest.latent_dim} uniforms per generated character (Gumbel-max)"


def text_rows(manifest: Manifest) -> list[tuple[str, str]]:
    """The field -> value rows of a text model; none for other models."""
    spec = manifest.text
    if spec is None:
        return []
    shown = repr(spec.vocab[:PREVIEW]) + ("..." if len(spec.vocab) > PREVIEW else "")
    dims = ", ".join(str(d) for d in spec.state_shape)
    unknown = "refused" if spec.unknown is None else f"read as {spec.unknown!r}"
    return [
        ("vocabulary", f"{len(spec.vocab)} characters: {shown}"),
        ("unseen characters", unknown),
        ("state", f"{spec.state} ({dims}) -> {spec.state_out}, zeros to start"),
        ("tokens", f"{spec.tokens} int64 (batch, length) -> {spec.logits} (batch, length, vocab)"),
        ("empty prompt", "needs a prompt" if spec.bos is None else f"starts from {spec.bos!r}"),
    ]
