"""How much one request and one backend call may hold: sample counts, memory bounds and the
default batch size that keeps a process's peak memory flat for any ``n``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genedge.runtime.errors import InputError
from genedge.runtime.manifest import Manifest

#: Refuse requests past this many samples: almost surely a typo, and it would never finish.
MAX_SAMPLES = 2**31
#: In-memory results above this size must be streamed to disk instead.
MAX_IN_MEMORY_BYTES = 8 * 2**30
#: Working memory of one backend call at the default batch size: the graph's tensors as the
#: manifest measures them (``GraphSpec.memory``), plus latents and the output in data units.
#: With the runtime's own ~80 MiB this keeps a process under :data:`PEAK_RSS_BOUND`.
CHUNK_BYTES = 64 * 2**20
#: The peak resident memory the default batch size keeps ``genedge sample`` under, any ``n``.
PEAK_RSS_BOUND = 256 * 2**20
#: Artifacts without a measured ``memory`` (schema 1.0): assume the graph's tensors hold this
#: many times the output (a DCGAN's feature maps measured ~60x its 28x28 output).
UNMEASURED_ACTIVATION_FACTOR = 128


def check_count(n: object) -> int:
    """Validate a sample count."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise InputError(f"n must be an integer, got {type(n).__name__}")
    if n <= 0:
        raise InputError(f"n must be positive, got {n}")
    if n > MAX_SAMPLES:
        raise InputError(f"n={n} is more than genedge samples in one request ({MAX_SAMPLES})")
    return int(n)


def check_batch_size(batch_size: object) -> int:
    """Validate an explicit batch size: a positive integer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def default_batch_size(manifest: Manifest, length: int = 0) -> int:
    """Samples per backend call that keep one call's working memory within
    :data:`CHUNK_BYTES`: the sampler graph's measured tensors per sample, plus its latents
    and its output after conversion to data units."""
    graph = manifest.sampler
    steps = max(1, length)
    out_bytes = 4 * steps * math.prod(d for d in manifest.sample_shape if isinstance(d, int))
    latent_bytes = 4 * steps * manifest.latent_dim
    if graph.memory is not None:
        tensors = graph.memory.per_sample(length)
    else:
        tensors = UNMEASURED_ACTIVATION_FACTOR * out_bytes
    per_sample = max(1, tensors + 2 * out_bytes + latent_bytes)
    return max(1, min(65536, CHUNK_BYTES // per_sample))


def balanced_batch_size(n: int, limit: int) -> int:
    """The batch of equal calls that covers ``n`` samples in as few calls of at most ``limit``
    as possible: 1024 samples at a limit of 312 run as 4 x 256, not 312 + 312 + 312 + 88.
    Engines run a batch they have seen before faster (OpenVINO re-plans a dynamic graph
    for each new shape: measured 0.77x for the uneven split of a DCGAN, 0.90x for the
    even one, against one call of 1024)."""
    calls = max(1, -(-n // limit))
    return max(1, -(-n // calls))


@dataclass(frozen=True)
class Plan:
    """A validated request's shapes and batching (the sampler caches one per request size)."""

    output_shape: tuple[int, ...]
    latent_shape: tuple[int, ...]
    batch_size: int
    single: bool


def resolve_length(manifest: Manifest, length: object) -> int:
    """A request's sequence length: ``length`` validated, the training length when ``None``;
    0 for models without a time axis (which refuse a length)."""
    if manifest.output_kind != "sequence":
        if length is not None:
            raise InputError("length applies only to sequence models")
        return 0
    if length is None:
        return manifest.default_length
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
        raise InputError(f"length must be a positive integer, got {length!r}")
    return int(length)
