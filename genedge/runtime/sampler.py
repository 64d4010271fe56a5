"""The embeddable sampler: seeded numpy noise in, samples in the data's own units out."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import numpy as np

from genedge.runtime.artifact import read_manifest
from genedge.runtime.backends import (
    Backend,
    PhaseTimer,
    open_backend,
)
from genedge.runtime.batching import (
    MAX_IN_MEMORY_BYTES,
    Plan,
    balanced_batch_size,
    check_batch_size,
    check_count,
    default_batch_size,
    resolve_length,
)
from genedge.runtime.errors import InputError
from genedge.runtime.feeds import (
    Roles,
    check_graph_inputs,
    check_latents,
    fixed_inputs,
    input_draws,
    input_shape,
    noise_stream,
    required_input,
    take_inputs,
)
from genedge.runtime.manifest import Manifest
from genedge.runtime.noise import (
    NoiseDraw,
    balanced_labels,
    check_labels,
    check_seed,
    check_seeded_start,
    check_start,
    make_rng,
)

log = logging.getLogger("genedge.runtime")

_S = TypeVar("_S", bound="Sampler")


class Sampler:
    """Draw samples from a genedge ONNX artifact. Loads no torch.

    Args:
        path: The artifact's ``.onnx`` file.
        backend: ``"auto"`` (fastest available), ``"cpu"``, ``"openvino"``, ``"cuda"``,
            ``"ort-tensorrt"`` or ``"tensorrt"``. Defaults to ``"auto"``, which tries a
            compiled TensorRT engine that matches this GPU, then onnxruntime's CUDA provider,
            then the CPU, and says which it took and why (:attr:`backend_selection`, logged
            on ``genedge.runtime``). On the CPU, ``auto`` takes OpenVINO over onnxruntime only
            where ``genedge calibrate`` measured it faster on this machine (at the batch size
            nearest ``batch_size_hint``, default 64); it never measures on its own.
            ``auto`` tries onnxruntime's TensorRT provider only when ``backend_options``
            names a ``trt_engine_cache_path`` (its first session builds engines for minutes).
        threads: CPU threads for onnxruntime; ``None`` for its default.
        backend_options: Options for the backend, as plain data (onnxruntime-style):
            ``device_id``, ``cuda_graph``, ``iobinding``, ``fp16``, ``precision`` (TensorRT:
            fp16/fp32; OpenVINO: fp32, bf16 or its default), ``trt_engine_cache_path``,
            ``optimized_model_cache``, ``provider_options``, ``batch_size_hint`` (auto); see
            :data:`genedge.runtime.backends.BACKEND_OPTIONS` for which backend takes which.
            With ``auto``, each candidate gets the options it takes.

    Example:
        >>> s = Sampler("gan.onnx")
        >>> x = s.sample(64, seed=0)        # float32, (64, 1, 28, 28), data units
        >>> s = Sampler("gan.onnx", backend="cuda", backend_options={"cuda_graph": True})

    Raises:
        ArtifactError: The file is missing, corrupt or not a genedge artifact.
        BackendUnavailableError: The backend cannot run here.
        InputError: An unknown backend option, or a value of the wrong type.
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
        chosen, selection = open_backend(self.path, backend, threads, backend_options)
        log.info("%s: backend %s", self.path.name, selection)
        check_graph_inputs(manifest.sampler, chosen)
        self._setup(manifest, chosen)
        #: The backend in use and, for ``auto``, why each faster one was skipped.
        self.backend_selection = selection

    @classmethod
    def from_backend(cls: type[_S], manifest: Manifest, backend: Backend) -> _S:
        """A sampler over any object with the :class:`Backend` protocol (e.g. genedge's PyTorch
        reference), sharing the exact noise, label and post-processing path.

        The backend is trusted to take the manifest's sampler inputs (it is usually built from
        them); a sampler opened from a file checks its graph's inputs against the manifest.
        """
        self = cls.__new__(cls)
        self.path = Path("")
        self._setup(manifest, backend)
        self.backend_selection = f"{backend.name} (given)"
        return self

    def _setup(self, manifest: Manifest, backend: Backend) -> None:
        self.manifest = manifest
        self._backend = backend
        self._stream = make_rng(None)
        self._plans: dict[tuple[object, ...], Plan] = {}
        spec = self.manifest.sampler
        self._roles = Roles.of(spec)
        self._latent = required_input(self._roles.latent, "latent")
        self._label = self._roles.label
        # seed=None continues these, one per noise input (schema 1.2), like self._stream.
        self._noise_streams = [noise_stream(None, k) for k in range(1, len(self._roles.noise) + 1)]
        self._scale, self._offset = self.manifest.preprocessing.scale_offset
        self._a, self._b = np.float32(self._scale), np.float32(self._offset)
        self._is_sequence = self.manifest.output_kind == "sequence"

    @property
    def backend(self) -> str:
        """Name of the backend in use."""
        return self._backend.name

    @property
    def graph_backend(self) -> Backend:
        """The backend object that runs the sampler graph: its ``inputs``/``outputs`` metadata,
        ``describe()``; for benchmarks and checks (sampling goes through :meth:`sample`)."""
        return self._backend

    def describe(self) -> dict[str, object]:
        """Backend details (providers, versions) and how the backend was chosen."""
        return {**self._backend.describe(), "selection": self.backend_selection}

    def run_graph(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Run the sampler graph once on prepared inputs, e.g. :meth:`feed`'s.

        The graph's own outputs in the model's range: no noise is drawn and nothing is
        converted to data units. For benchmarks (``timer`` gets the call's phases, see
        :class:`~genedge.runtime.backends.PhaseTimer`) and checks.

        Example:
            >>> s = Sampler("gan.onnx", backend="cpu")
            >>> (x,) = s.run_graph(s.feed(16, seed=0))  # == s.sample(16, 0, raw=True)
        """
        return self._backend.run(feed, timer=timer)

    def close(self) -> None:
        """Release the backend's sessions and device memory now (also done on collection).
        A sampler is also a context manager that closes on exit."""
        self._backend.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- noise -------------------------------------------------------------------------------

    def latent_shape(self, n: int, length: int | None = None) -> tuple[int, ...]:
        """Shape of the latent input for ``n`` samples (and ``length`` steps for sequences)."""
        steps = self._length(length) if "length" in self._latent.shape else None
        return input_shape(self._latent, n, steps)

    def latents(
        self,
        n: int,
        seed: int | None = None,
        *,
        length: int | None = None,
        truncation: float | None = None,
        start: int = 0,
    ) -> np.ndarray:
        """The latents ``sample(n, seed, start=start)`` would use, as float32 (``truncation``
        applied as given, also for a graph that truncates itself)."""
        n = check_count(n)
        check_seeded_start(seed, start)
        shape = self.latent_shape(n, length)[1:]
        return self._latent_draw(seed, start, shape, truncation).take(n)

    def labels_for(
        self, n: int, labels: object = None, *, repeat: bool = False, start: int = 0
    ) -> np.ndarray | None:
        """Validated labels for ``n`` samples; balanced over classes when ``labels`` is None.

        With ``repeat``, a list shorter than ``n`` repeats in order (what ``genedge sample
        --labels 0,1,2`` does). Balanced labels are positional: sample ``i`` gets class
        ``i % K``, and ``start`` is the position of the first of the ``n``; given labels are
        taken as the ``n`` samples' own.
        """
        k = self.manifest.num_classes
        if self._label is None:
            if labels is not None:
                raise InputError("this model takes no labels (it is not conditional)")
            return None
        if labels is None:
            return balanced_labels(n, k, check_start(start))
        return check_labels(labels, n, k, repeat=repeat)

    # -- sampling ----------------------------------------------------------------------------

    def sample(
        self,
        n: int,
        seed: int | None = None,
        *,
        labels: object = None,
        length: int | None = None,
        truncation: float | None = None,
        batch_size: int | None = None,
        raw: bool = False,
        start: int = 0,
    ) -> np.ndarray:
        """Draw ``n`` samples.

        Args:
            n: Number of samples.
            seed: Seed of the noise (PCG64 generators, drawn by the manifest's
                ``noise_scheme``; the recipe is in ``docs/manifest.md``): the same seed gives
                the same samples on every backend and at every batch size. ``None``
                continues the sampler's own stream (seeded from OS entropy): fresh samples
                with the least overhead.
            labels: For conditional models: one class for all, or one per sample. Defaults to
                classes balanced in turn (0, 1, ..., K-1, 0, ...).
            length: For sequence models, the number of time steps. Defaults to the training
                length.
            truncation: Draw latents from a normal truncated to ``[-psi, psi]``.
            batch_size: Samples per backend call. Defaults to a size that bounds memory,
                evened out over the calls (1024 at a bound of 312: 4 x 256).
            raw: Return the model's own range (e.g. tanh's [-1, 1]) instead of data units.
            start: The position of the first sample in the seed's sequence of samples:
                ``sample(n, seed, start=s)`` equals ``sample(s + n, seed)[s:]`` (default
                labels included), so a run can be split across machines (``--shard``). Needs
                a seed. An artifact of the ``blocks64`` noise scheme (every 2.x export) draws
                only the samples asked for; one of the legacy ``stream`` scheme (1.x) draws
                and discards the first ``start`` samples' noise: exact, but its cost grows
                with ``start``.

        Returns:
            float32 array of shape ``(n, *sample_shape)``.

        Raises:
            InputError: A bad count, seed, start, labels, length or truncation.
        """
        x, _ = self.sample_labelled(
            n,
            seed,
            labels=labels,
            length=length,
            truncation=truncation,
            batch_size=batch_size,
            raw=raw,
            start=start,
        )
        return x

    def sample_labelled(
        self,
        n: int,
        seed: int | None = None,
        *,
        labels: object = None,
        length: int | None = None,
        truncation: float | None = None,
        batch_size: int | None = None,
        raw: bool = False,
        start: int = 0,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Like :meth:`sample`, returning ``(x, labels)`` (labels ``None`` if unconditional)."""
        plan = self._plans.get((n, length, batch_size))
        if plan is None:
            plan = self._plan(n, length, batch_size)
        if start:
            check_seeded_start(seed, start)
        if self._label is None and labels is None:
            ys = None
        else:
            ys = self.labels_for(n, labels, start=start)
        if plan.single and not self._roles.noise and self._roles.truncation is None:
            # The common case: one backend call, its output returned as is.
            z = self._latent_draw(seed, start, plan.latent_shape[1:], truncation).take(n)
            return self._run(z, ys, raw, {}, length, None), ys
        out = np.empty(plan.output_shape, np.float32)
        chunks = self._chunks(n, seed, start, ys, length, truncation, plan.batch_size, raw)
        for at, xb in chunks:
            out[at : at + len(xb)] = xb
        return out, ys

    def _plan(self, n: int, length: int | None, batch_size: int | None) -> Plan:
        """Validate a request's sizes once and remember the shapes it needs."""
        n = check_count(n)
        self._length(length)
        shape = self.output_shape(n, length)
        nbytes = 4 * math.prod(shape)
        if nbytes > MAX_IN_MEMORY_BYTES:
            raise InputError(
                f"{n} samples need {nbytes / 2**30:.1f} GiB in memory; stream them to disk "
                "instead (`genedge sample ... --out FILE.npy` or Sampler.iter_samples)"
            )
        bs = self._batch_size(batch_size, length, n)
        plan = Plan(shape, self.latent_shape(n, length), bs, n <= bs)
        if len(self._plans) > 256:  # bounded: callers rarely use many distinct sizes
            self._plans.clear()
        self._plans[(n, length, batch_size)] = plan
        return plan

    def iter_samples(
        self,
        n: int,
        seed: int | None = None,
        *,
        labels: object = None,
        length: int | None = None,
        truncation: float | None = None,
        batch_size: int | None = None,
        raw: bool = False,
        start: int = 0,
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(x, labels)`` chunks of at most ``batch_size`` samples; memory stays flat
        for any ``n``. The concatenated chunks equal ``sample_labelled(n, seed, ...)``
        (``start`` as there)."""
        n = check_count(n)
        self._length(length)  # validates it, also for models without a time axis
        bs = self._batch_size(batch_size, length, n)
        check_seeded_start(seed, start)
        ys = self.labels_for(n, labels, start=start)
        for at, xb in self._chunks(n, seed, start, ys, length, truncation, bs, raw):
            yield xb, None if ys is None else ys[at : at + len(xb)]

    def feed(
        self,
        n: int,
        seed: int | None = None,
        *,
        labels: object = None,
        length: int | None = None,
        truncation: float | None = None,
        start: int = 0,
    ) -> dict[str, np.ndarray]:
        """The sampler graph's inputs, by name, that ``sample(n, seed, start=start, ...)``
        feeds it in one call (latents, noise inputs, labels, truncation, states): for
        benchmarks and checks."""
        n = check_count(n)
        length = self._length(length) or None
        check_seeded_start(seed, start)
        ys = self.labels_for(n, labels, start=start)
        feed = take_inputs(self._roles, self._draws(seed, start, length, truncation), n)
        feed.update(fixed_inputs(self._roles, n, length, ys, truncation))
        return feed

    def _latent_draw(
        self, seed: int | None, start: int, shape: tuple[int, ...], truncation: float | None
    ) -> NoiseDraw:
        """The latent's draw: positional by the manifest's scheme when seeded; ``seed=None``
        continues the sampler's own stream (numpy generators are thread-safe), which skips
        the ~20 us of seeding a fresh generator on every call."""
        if seed is None:
            return NoiseDraw.continuing(self._stream, shape, truncation)
        check_seed(seed)
        return NoiseDraw(self.manifest.noise_scheme, seed, 0, start, shape, truncation)

    def _draws(
        self, seed: int | None, start: int, length: int | None, truncation: float | None
    ) -> tuple[NoiseDraw, ...]:
        """The latent's and the noise inputs' draws of a request (see :func:`input_draws`)."""
        return input_draws(
            self._roles,
            self.manifest.noise_scheme,
            seed,
            start=start,
            length=length,
            truncation=truncation,
            streams=[self._stream, *self._noise_streams],
        )

    def _chunks(
        self,
        n: int,
        seed: int | None,
        start: int,
        ys: np.ndarray | None,
        length: int | None,
        truncation: float | None,
        bs: int,
        raw: bool,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(position in the request, samples)`` of each backend call."""
        steps = self._length(length) or None
        draws = self._draws(seed, start, steps, truncation)
        for at in range(0, n, bs):
            m = min(bs, n - at)
            inputs = take_inputs(self._roles, draws, m)
            z = inputs.pop(self._latent.name)
            ys_m = None if ys is None else ys[at : at + m]
            yield at, self._run(z, ys_m, raw, inputs, steps, truncation)

    def generate(
        self,
        z: np.ndarray,
        labels: object = None,
        *,
        seed: int | None = 0,
        truncation: float | None = None,
        batch_size: int | None = None,
        raw: bool = False,
    ) -> np.ndarray:
        """Run the generator on given latents (e.g. an interpolation path).

        Args:
            z: float latents shaped like :meth:`latent_shape` without the batch size, any
                rank: ``(n, latent_dim)``, ``(n, 100, 1, 1)`` for a latent of that shape (or
                flat, ``(n, 100)``), ``(n, length, latent_dim)`` for sequences.
            labels: As in :meth:`sample`.
            seed: Seeds the graph's other noise inputs (schema 1.2 ``noise``, e.g. per-layer
                noise maps), if it has any: ``generate(latents(n, s), seed=s)`` equals
                ``sample(n, s)``.
            truncation: Fed to a graph that takes a truncation psi; the latents are used as
                given either way.
        """
        z = check_latents(z, self._latent, self._is_sequence)
        n = z.shape[0]
        ys = self.labels_for(n, labels)
        length = z.shape[1] if self._is_sequence else None
        bs = self._batch_size(batch_size, length, n)
        out = np.empty(self.output_shape(n, length), np.float32)
        # The noise inputs only, from position 0, as sample(n, seed) draws them.
        noise_roles = replace(self._roles, latent=None)
        draws = input_draws(
            noise_roles,
            self.manifest.noise_scheme,
            seed,
            length=length,
            streams=self._noise_streams,
        )
        for s in range(0, n, bs):
            zb = z[s : s + bs]
            noise = take_inputs(noise_roles, draws, len(zb))
            ys_b = None if ys is None else ys[s : s + bs]
            out[s : s + bs] = self._run(zb, ys_b, raw, noise, length, truncation)
        return out

    def output_shape(self, n: int, length: int | None = None) -> tuple[int, ...]:
        """Shape of ``n`` samples."""
        dims = [self._length(length) if d == "length" else d for d in self.manifest.sample_shape]
        return (n, *(int(d) for d in dims))

    # -- internals ---------------------------------------------------------------------------

    def _run(
        self,
        z: np.ndarray,
        labels: np.ndarray | None,
        raw: bool,
        noise: dict[str, np.ndarray],
        length: int | None,
        truncation: float | None,
    ) -> np.ndarray:
        feed = {self._latent.name: z, **noise}
        feed.update(fixed_inputs(self._roles, z.shape[0], length, labels, truncation))
        x = self._backend.run(feed)[0]
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if not raw:
            # data = a * model + b, in place on the backend's fresh output buffer.
            x *= self._a
            x += self._b
        return x

    def _length(self, length: int | None) -> int:
        return resolve_length(self.manifest, length)

    def _batch_size(self, batch_size: int | None, length: int | None, n: int) -> int:
        if batch_size is not None:
            return check_batch_size(batch_size)
        return balanced_batch_size(n, default_batch_size(self.manifest, self._length(length)))
