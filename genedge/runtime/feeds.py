"""Graph inputs built from their roles: the one place that turns a manifest into a feed.

The runtime's :class:`~genedge.runtime.Sampler`, the export's parity check and the benchmarks
all feed graphs through :func:`role_feed`, so what parity checks is what sampling runs.

Roles (see ``docs/manifest.md``):

- ``latent``: standard-normal noise from the request's stream (``make_rng(seed)``), optionally
  truncated to ``[-psi, psi]``.
- ``noise`` (schema 1.2): further standard-normal inputs such as StyleGAN's per-layer noise maps.
  The ``k``-th noise input (1, 2, ... in graph order) draws from its own stream,
  ``PCG64(SeedSequence([seed, k]))``, so it is chunk-invariant and never changes the latents.
- ``label``: class indices, given by the caller (balanced by default).
- ``truncation`` (schema 1.2): the truncation ``psi`` fed to the graph (1.0: none). A graph
  that takes one truncates itself (e.g. in a mapping network's ``w`` space), so its latents are
  drawn untruncated.
- ``state``: zeros (a recurrent model's initial state).
- ``data``: user data; for checks, uniform noise over the model's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genedge.runtime.backends.protocol import Backend
from genedge.runtime.errors import InputError, ManifestError
from genedge.runtime.manifest import GraphSpec, Manifest, TensorSpec
from genedge.runtime.noise import balanced_labels, draw_latents, make_rng

#: What psi a ``truncation`` input gets when the caller asks for none: no truncation.
NO_TRUNCATION = 1.0


def input_shape(t: TensorSpec, batch: int, length: int | None = None) -> tuple[int, ...]:
    """The concrete shape of input ``t`` for ``batch`` samples of ``length`` steps."""
    dims: list[int] = []
    for d in t.shape:
        if d == "batch":
            dims.append(batch)
        elif d == "length":
            dims.append(length or 1)
        elif isinstance(d, int):
            dims.append(d)
        else:
            raise InputError(f"input {t.name!r} has an unknown dynamic axis {d!r}")
    return tuple(dims)


def noise_stream(seed: int | None, k: int) -> np.random.Generator:
    """The stream of a graph's ``k``-th ``noise`` input (k >= 1) for a request's ``seed``.

    ``None`` gives a fresh stream from OS entropy, as :func:`make_rng` does.
    """
    if seed is None:
        return make_rng(None)
    make_rng(seed)  # the same validation as the latents' seed
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), k])))


@dataclass(frozen=True)
class Roles:
    """A graph's inputs grouped by role, looked up once."""

    latent: TensorSpec | None
    noise: tuple[TensorSpec, ...]
    label: TensorSpec | None
    truncation: TensorSpec | None
    states: tuple[TensorSpec, ...]
    data: tuple[TensorSpec, ...]

    @classmethod
    def of(cls, graph: GraphSpec) -> Roles:
        def all_of(role: str) -> tuple[TensorSpec, ...]:
            return tuple(t for t in graph.inputs if t.role == role)

        return cls(
            latent=graph.input("latent"),
            noise=all_of("noise"),
            label=graph.input("label"),
            truncation=graph.input("truncation"),
            states=all_of("state"),
            data=all_of("data"),
        )


def fixed_inputs(
    roles: Roles,
    batch: int,
    length: int | None,
    labels: np.ndarray | None,
    truncation: float | None,
) -> dict[str, np.ndarray]:
    """The inputs that draw nothing: labels, the truncation psi and zero states."""
    feed: dict[str, np.ndarray] = {}
    if roles.label is not None:
        if labels is None:
            raise InputError("this model is conditional: it needs labels")
        feed[roles.label.name] = labels
    if roles.truncation is not None:
        psi = NO_TRUNCATION if truncation is None else float(truncation)
        shape = input_shape(roles.truncation, batch, length)
        feed[roles.truncation.name] = np.full(shape, psi, np.float32)
    for st in roles.states:
        feed[st.name] = np.zeros(input_shape(st, batch, length), np.float32)
    return feed


def draw_noise_inputs(
    roles: Roles,
    streams: Sequence[np.random.Generator],
    batch: int,
    length: int | None = None,
) -> dict[str, np.ndarray]:
    """``batch`` samples' worth of each ``noise`` input, each from its own stream."""
    return {
        t.name: rng.standard_normal(input_shape(t, batch, length), dtype=np.float32)
        for t, rng in zip(roles.noise, streams, strict=True)
    }


def role_feed(
    graph: GraphSpec,
    manifest: Manifest,
    batch: int,
    seed: int,
    *,
    length: int | None = None,
    labels: np.ndarray | None = None,
    truncation: float | None = None,
) -> dict[str, np.ndarray]:
    """Seeded inputs for any graph of an artifact, every input built from its role.

    For a sampler graph this is exactly what ``Sampler.sample(batch, seed)`` feeds (labels
    default to balanced classes). ``data`` inputs (an encoder's) get uniform noise over the
    model's range from a stream of their own.
    """
    roles = Roles.of(graph)
    feed: dict[str, np.ndarray] = {}
    if roles.latent is not None:
        psi_in_graph = roles.truncation is not None
        shape = input_shape(roles.latent, batch, length)
        feed[roles.latent.name] = draw_latents(
            make_rng(seed), shape, None if psi_in_graph else truncation
        )
    streams = [noise_stream(seed, k) for k in range(1, len(roles.noise) + 1)]
    feed.update(draw_noise_inputs(roles, streams, batch, length))
    if roles.label is not None and labels is None:
        labels = balanced_labels(batch, max(1, manifest.num_classes))
    feed.update(fixed_inputs(roles, batch, length, labels, truncation))
    if roles.data:
        lo, hi = manifest.preprocessing.model_min, manifest.preprocessing.model_max
        data_rng = noise_stream(seed, 1 + len(roles.noise))
        for t in roles.data:
            shape = input_shape(t, batch, length)
            feed[t.name] = data_rng.uniform(lo, hi, shape).astype(np.float32)
    return {t.name: feed[t.name] for t in graph.inputs}


def check_graph_inputs(graph: GraphSpec, backend: Backend) -> None:
    """Refuse a graph file whose inputs are not the ones its manifest declares.

    Raises:
        ManifestError: The names differ.
    """
    graph_inputs = [t.name for t in backend.inputs]
    declared = [t.name for t in graph.inputs]
    if sorted(graph_inputs) != sorted(declared):
        raise ManifestError(
            f"manifest declares inputs {declared} but the graph takes {graph_inputs}"
        )
