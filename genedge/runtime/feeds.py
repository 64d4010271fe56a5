"""Graph inputs built from their roles: the one place that turns a manifest into a feed.

The runtime's :class:`~genedge.runtime.Sampler`, the export's parity check and the benchmarks
all feed graphs through :func:`role_feed`, so what parity checks is what sampling runs.

Roles (see ``docs/manifest.md``):

- ``latent``: standard-normal noise (graph input ``k = 0``), optionally truncated to
  ``[-psi, psi]``, drawn by the manifest's ``noise_scheme``
  (:class:`~genedge.runtime.noise.NoiseDraw`): ``stream`` from ``make_rng(seed)``, ``blocks64``
  positionally, sample ``i`` from block ``i // 64``'s own generator.
- ``noise`` (schema 1.2): further standard-normal inputs such as StyleGAN's per-layer noise maps.
  The ``k``-th noise input (1, 2, ... in graph order) draws as the latent does with its own
  ``k`` (``stream``: ``PCG64(SeedSequence([seed, k]))``), so it never changes the latents.
- ``label``: class indices, given by the caller (balanced by default).
- ``truncation`` (schema 1.2): the truncation ``psi`` fed to the graph (1.0: none). A graph
  that takes one truncates itself (e.g. in a mapping network's ``w`` space), so its latents are
  drawn untruncated.
- ``state``: zeros (a recurrent model's initial state).
- ``data``: user data; for checks, uniform noise over the model's range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genedge.runtime.backends.protocol import Backend
from genedge.runtime.errors import InputError, ManifestError
from genedge.runtime.manifest import GraphSpec, Manifest, TensorSpec
from genedge.runtime.noise import NoiseDraw, balanced_labels, make_rng, stream_generator

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
    return stream_generator(seed, k)


def per_sample_shape(t: TensorSpec, length: int | None = None) -> tuple[int, ...]:
    """One sample's shape of input ``t`` (its batch axis, which must come first, dropped)."""
    if not t.shape or t.shape[0] != "batch":
        raise ManifestError(f"manifest: input {t.name!r} must have its batch axis first")
    return input_shape(t, 1, length)[1:]


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


def input_draws(
    roles: Roles,
    scheme: str,
    seed: int | None,
    *,
    start: int = 0,
    length: int | None = None,
    truncation: float | None = None,
    streams: Sequence[np.random.Generator] = (),
) -> tuple[NoiseDraw, ...]:
    """The draws of a request's latent (first, if the graph has one) and ``noise`` inputs.

    A seeded request draws by the manifest's ``scheme`` from sample ``start`` on; ``seed=None``
    continues ``streams`` (one per drawn input, e.g. a sampler's own), which is not
    positional. The latent is truncated to ``truncation`` unless the graph takes a
    ``truncation`` input (then it truncates itself); noise inputs never are.
    """
    inputs = ([] if roles.latent is None else [roles.latent]) + list(roles.noise)
    ks = ([] if roles.latent is None else [0]) + list(range(1, len(roles.noise) + 1))
    z_trunc = None if roles.truncation is not None else truncation
    truncs = [z_trunc if t.role == "latent" else None for t in inputs]
    shapes = [per_sample_shape(t, length) for t in inputs]
    if seed is None:
        return tuple(
            NoiseDraw.continuing(rng, shape, psi)
            for rng, shape, psi in zip(streams, shapes, truncs, strict=True)
        )
    return tuple(
        NoiseDraw(scheme, seed, k, start, shape, psi)
        for k, shape, psi in zip(ks, shapes, truncs, strict=True)
    )


def take_inputs(roles: Roles, draws: Sequence[NoiseDraw], count: int) -> dict[str, np.ndarray]:
    """The next ``count`` samples of each drawn input (:func:`input_draws`), by name."""
    inputs = ([] if roles.latent is None else [roles.latent]) + list(roles.noise)
    return {t.name: d.take(count) for t, d in zip(inputs, draws, strict=True)}


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
    default to balanced classes), drawn by the manifest's ``noise_scheme``. ``data`` inputs
    (an encoder's) get uniform noise over the model's range from a stream of their own.
    """
    roles = Roles.of(graph)
    draws = input_draws(roles, manifest.noise_scheme, seed, length=length, truncation=truncation)
    feed = take_inputs(roles, draws, batch)
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


def check_latents(z: object, latent: TensorSpec, sequence: bool) -> np.ndarray:
    """User latents for ``latent``: floating point, finite, non-empty, shaped like the input
    without its batch axis (flat ``(n, prod)`` accepted for a higher-rank latent); float32,
    C-contiguous."""
    arr = np.asarray(z)
    if arr.dtype.kind != "f":
        raise InputError(f"latents must be floating point, got dtype {arr.dtype}")
    want = latent.shape
    fixed = tuple(int(d) for d in want[1:] if isinstance(d, int))
    flat = not sequence and arr.ndim == 2 and len(want) > 2
    if flat and arr.size and arr.shape[1] == math.prod(fixed):
        arr = arr.reshape(arr.shape[0], *fixed)  # flat latents of a higher-rank latent
    ok = arr.ndim == len(want) and all(
        d == "length" or a == d for a, d in zip(arr.shape[1:], want[1:], strict=True)
    )
    if not ok:
        dims = ", ".join(str(d) for d in want[1:])
        raise InputError(f"latents must be shaped (n, {dims}), got {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError("latents are empty")
    if not np.isfinite(arr).all():
        raise InputError("latents contain NaN or Inf")
    return np.ascontiguousarray(arr, dtype=np.float32)


def required_input(spec: TensorSpec | None, role: str) -> TensorSpec:
    """``spec``, which a sampler graph must have: a :class:`ManifestError` naming ``role``."""
    if spec is None:
        raise ManifestError(f"manifest: the sampler graph has no {role} input")
    return spec
