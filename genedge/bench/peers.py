"""Peers: the engines a user would pick instead of genedge, timed beside it.

``torch-compile`` is :func:`torch.compile` (inductor) of the same PyTorch module the ``torch``
row runs eagerly, drawing its noise with torch per call as that row does. ``openvino`` and
``openvino-default`` are bare OpenVINO on the artifact's ONNX file, as a user stitching it by
hand gets it: ``Core().compile_model(path, "CPU", config)`` and ``infer`` on the same pre-drawn
inputs as ``cpu-bare``, with ``PERFORMANCE_HINT LATENCY`` and ``INFERENCE_NUM_THREADS`` set to
the benchmark's threads; ``openvino`` forces ``INFERENCE_PRECISION_HINT f32``,
``openvino-default`` keeps OpenVINO's default precision (bf16 where the CPU has AMX or
AVX512-BF16). Both engines are imported only when their rows are asked for.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genedge.bench.runners import TorchSource, _torch_parts
from genedge.runtime.backends.openvino_backend import OV_PRECISION_NAMES
from genedge.runtime.errors import BackendUnavailableError

if TYPE_CHECKING:
    from genedge.runtime.backends.protocol import PhaseTimer
    from genedge.runtime.manifest import Manifest, TensorSpec

#: The peer rows, in table order. ``cpu-openvino`` (genedge's own OpenVINO runtime backend,
#: ``Sampler(backend="openvino")``) joins :data:`genedge.bench.run.ALL_BACKENDS` beside them.
PEER_BACKENDS = ("torch-compile", "openvino", "openvino-default")
#: Recompiles allowed while compiling a new batch size (dynamo's default of 8 would fall back
#: to eager without a word past the eighth shape).
_RECOMPILE_LIMIT = 64


def _one_line(e: BaseException, limit: int = 240) -> str:
    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {first}"[:limit]


class TorchCompiled:
    """``torch.compile(module, backend="inductor", dynamic=False)`` as a bench runner.

    Static shapes: each batch size compiles its own graph on its first call, the untimed one
    :func:`~genedge.bench.run.run_bench` makes before timing, and those seconds are kept in
    :attr:`compile_s`. (``dynamic=None``, torch's default, would compile the first size static
    and every later one into a single dynamic-shape graph: two regimes in one table.)

    Raises (from a call):
        BackendUnavailableError: The first compilation failed (no C++ compiler, an op inductor
            cannot lower): torch.compile cannot run here; the message is one line.
    """

    def __init__(self, source: TorchSource | str | Path, manifest: Manifest | None) -> None:
        import torch

        module, _, self._inputs, self._graph = _torch_parts(source, manifest)
        #: The compiled module (torch types torch.compile's result loosely).
        self.module: Any = torch.compile(module, backend="inductor", dynamic=False)
        #: Seconds of the first call at each batch size: tracing, codegen and one run.
        self.compile_s: dict[int, float] = {}
        self._failed: str | None = None

    def _compiling(self) -> Any:
        import torch._dynamo

        return torch._dynamo.config.patch(
            recompile_limit=_RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True
        )

    def __call__(self, batch: int) -> object:
        import torch

        if batch in self.compile_s:
            with torch.inference_mode():
                return self.module(*self._inputs(batch))
        if self._failed is not None:
            raise BackendUnavailableError(self._failed)
        t0 = time.perf_counter()
        try:
            with torch.inference_mode(), self._compiling():
                out = self.module(*self._inputs(batch))
        except Exception as e:  # noqa: BLE001 - inductor raises many kinds; reported as a row
            if self.compile_s:  # compiled at another size: a failure at this size only
                raise
            self._failed = f"torch {torch.__version__} inductor failed: {_one_line(e)}"
            raise BackendUnavailableError(self._failed) from e
        self.compile_s[batch] = time.perf_counter() - t0
        return out

    def parity(self, manifest: Manifest, probe: Any, reference: Any) -> float | None:
        """Max abs difference (raw model units) from ``reference`` (the eager sampler) on
        ``probe``'s seeded latents, at the smallest batch size already compiled."""
        if not self.compile_s:
            return None
        from genedge.runtime import Sampler
        from genedge.train.reference import TorchBackend

        n = min(self.compile_s)
        z, ys = probe.latents(n, seed=0), probe.labels_for(n)
        graph = self._graph
        compiled = Sampler.from_backend(
            manifest, TorchBackend(self.module, graph.inputs, graph.outputs)
        )
        with self._compiling():
            got = compiled.generate(z, ys, raw=True, batch_size=n)
        return float(np.abs(got - reference.generate(z, ys, raw=True, batch_size=n)).max())


class OpenVinoBare:
    """Bare OpenVINO on an artifact's sampler graph, with the runtime backends' protocol (so a
    ``Sampler.from_backend`` over it reports parity like the other rows).

    One infer request, called from one thread (the benchmark's): not for concurrent use.

    Args:
        model: The ``.onnx`` artifact (its main file holds the sampler graph).
        inputs, outputs: The sampler graph's tensors (the manifest's).
        threads: ``INFERENCE_NUM_THREADS`` (``None``: OpenVINO's default).
        precision: ``INFERENCE_PRECISION_HINT`` (``"f32"``), or ``None`` for OpenVINO's default.

    Raises:
        BackendUnavailableError: openvino is not installed, or cannot compile the graph.
    """

    name = "openvino"

    def __init__(
        self,
        model: Path,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        try:
            import openvino as ov
        except ImportError as e:
            raise BackendUnavailableError("pip install openvino") from e
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision is not None:
            config["INFERENCE_PRECISION_HINT"] = precision
        t0 = time.perf_counter()
        try:
            self._compiled = ov.Core().compile_model(str(model), "CPU", config)
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError for anything
            raise BackendUnavailableError(f"openvino {ov.__version__}: {_one_line(e)}") from e
        #: Seconds of ``compile_model`` (once, for every batch size: the batch axis stays dynamic).
        self.compile_s = time.perf_counter() - t0
        self._request = self._compiled.create_infer_request()
        self._ov_outputs = list(self._compiled.outputs)
        self._inputs, self._outputs = tuple(inputs), tuple(outputs)
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        #: The precision OpenVINO runs in, in genedge's names (``fp32``, ``bf16``, ``fp16``).
        self.precision = OV_PRECISION_NAMES.get(name, name)
        self._version = ov.__version__
        self._config = {k: str(v) for k, v in config.items()}

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Infer on ``feed``; output copies owned by the caller (OpenVINO's default)."""
        if timer is not None:
            timer.mark("start")
        result = self._request.infer(dict(feed))
        outs = [np.asarray(result[o]) for o in self._ov_outputs]
        if timer is not None:
            timer.mark("run")
        return outs

    def describe(self) -> dict[str, object]:
        return {
            "backend": "openvino (bare)",
            "openvino": self._version,
            "precision": self.precision,
            "config": self._config,
        }

    def close(self) -> None:
        """Drops the infer request and compiled model."""
        self.__dict__.pop("_request", None)
        self.__dict__.pop("_compiled", None)
