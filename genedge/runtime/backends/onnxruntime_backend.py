"""onnxruntime backends: CPU, the CUDA execution provider, and the TensorRT execution provider.

genedge asks onnxruntime for exactly one accelerator provider and then checks which providers the
session really uses: onnxruntime-gpu silently falls back to CPU when CUDA is missing, and a
benchmark that believes it ran on a GPU while it ran on the CPU is worse than an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from genedge.runtime.artifact import read_manifest
from genedge.runtime.backends.cuda_graph import CudaGraphRunner
from genedge.runtime.backends.ort_cache import (
    cached_session,
)
from genedge.runtime.backends.protocol import ONNX_DTYPES, PhaseTimer, dims
from genedge.runtime.engines import (
    DEFAULT_BATCH_RANGE,
    TRT_CACHE_DIR,
    default_length_range,
    model_sha256,
    profile_shapes,
)
from genedge.runtime.errors import (
    BackendUnavailableError,
    InputError,
    ManifestError,
    OutputError,
)
from genedge.runtime.manifest import TensorSpec

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt-ep": "TensorrtExecutionProvider",
}
#: Provider option that makes each accelerator capture and replay CUDA graphs.
_CUDA_GRAPH_OPTION = {"cuda": "enable_cuda_graph", "tensorrt-ep": "trt_cuda_graph_enable"}


def provider_status() -> dict[str, str]:
    """Availability of the onnxruntime-based backends, as the installed wheel reports it."""
    available = set(ort.get_available_providers())
    out = {}
    for name, provider in (
        ("cpu", "CPUExecutionProvider"),
        ("cuda", "CUDAExecutionProvider"),
        ("ort-tensorrt", "TensorrtExecutionProvider"),
    ):
        if provider in available:
            out[name] = "available (provider listed; a session checks the device)"
        else:
            out[name] = (
                f"not available: onnxruntime {ort.__version__} lacks {provider}; "
                "install genedge[gpu]"
            )
    out["cpu"] = "available"
    return out


def tensorrt_ep_options(path: Path, cache_dir: str | Path | None = None) -> dict[str, str]:
    """The TensorRT EP options genedge sets for an artifact.

    Engines and the timing cache go to ``cache_dir``, by default
    ``<artifact folder>/.genedge-trt-cache/<stem>-<graph hash>-ort<version>/``, so a changed
    graph or onnxruntime never reuses a stale engine (the EP adds the GPU's compute capability
    to its file names; clear the folder after a TensorRT upgrade, which older onnxruntime
    releases do not notice). For genedge artifacts, one optimisation profile covers every
    dynamic input (batch 1..1024, and lengths for sequence models), so the EP does not rebuild
    its engine when the batch grows.

    Raises:
        OutputError: The cache folder cannot be created.
    """
    path = Path(path)
    if cache_dir is None:
        key = f"{path.stem}-{model_sha256(path)[:16]}-ort{ort.__version__}"
        cache = path.parent / TRT_CACHE_DIR / key
    else:
        cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            f"cannot create the TensorRT engine cache {cache}: {e.strerror or e}; pass "
            "provider_options={'trt_engine_cache_path': ...} to put it elsewhere"
        ) from None
    opts = {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache),
    }
    try:
        manifest = read_manifest(path, companions=True)
    except ManifestError:  # a plain ONNX file: the EP picks profiles from the shapes it sees
        return opts
    graph = next((g for g in manifest.graphs.values() if g.file == path.name), manifest.sampler)
    shapes = profile_shapes(graph, DEFAULT_BATCH_RANGE, default_length_range(manifest))
    for i, which in enumerate(("min", "opt", "max")):
        opts[f"trt_profile_{which}_shapes"] = ",".join(
            f"{name}:{'x'.join(map(str, s[i]))}" for name, s in shapes.items()
        )
    return opts


class OnnxRuntimeBackend:
    """Runs an ONNX graph with onnxruntime on the CPU, CUDA or the TensorRT provider.

    Args:
        path: ONNX file.
        device: ``"cpu"``, ``"cuda"`` or ``"tensorrt-ep"``.
        threads: Intra-op threads for the CPU; ``None`` for onnxruntime's default.
        provider_options: Extra options for the accelerator provider (plain strings); they
            override genedge's (for the TensorRT EP: :func:`tensorrt_ep_options`).
        cuda_graph: Capture each input shape's run as a CUDA graph and replay it (``cuda`` and
            ``tensorrt-ep``): inputs and outputs then live in fixed device buffers, one set per
            shape. Defaults to False.
        iobinding: ``cuda`` only: run through IOBinding with device buffers kept per input
            shape (no allocation per call; H2D, compute and D2H can be timed apart). Defaults
            to True; ``cuda_graph`` implies it.
        optimized_cache: Reuse the optimised model saved by an earlier load (``cpu`` and
            ``cuda``; see :func:`cached_session`): ``False`` (the default here; the Sampler
            turns it on), ``True``, ``None`` to follow ``$GENEDGE_ORT_CACHE``, or a folder.
    """

    def __init__(
        self,
        path: Path,
        device: str = "cpu",
        threads: int | None = None,
        provider_options: dict[str, str] | None = None,
        cuda_graph: bool = False,
        iobinding: bool = True,
        optimized_cache: bool | str | os.PathLike[str] | None = False,
    ) -> None:
        provider = _PROVIDERS[device]
        self._name = {"cpu": "cpu", "cuda": "cuda", "tensorrt-ep": "ort-tensorrt"}[device]
        if cuda_graph and device not in _CUDA_GRAPH_OPTION:
            raise InputError("cuda_graph needs the cuda or ort-tensorrt backend")
        if provider not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"onnxruntime {ort.__version__} has no {provider}; install genedge[gpu] "
                "(onnxruntime-gpu) on a machine with an NVIDIA GPU"
            )
        options = {k: str(v) for k, v in (provider_options or {}).items()}
        if device == "tensorrt-ep":
            cache_dir = options.get("trt_engine_cache_path")
            options = {**tensorrt_ep_options(Path(path), cache_dir), **options}
            # Sessions of the TensorRT EP hold compiled nodes, which cannot be saved as ONNX;
            # the EP's own engine cache does that job.
            optimized_cache = False
        if cuda_graph:
            options[_CUDA_GRAPH_OPTION[device]] = "True"
        providers = [provider] if device == "cpu" else [provider, "CPUExecutionProvider"]
        opts = [options] + ([{}] if device != "cpu" else [])
        self.session, self.cache_status = cached_session(
            Path(path), providers, threads, opts, optimized_cache
        )
        active = self.session.get_providers()
        if active[0] != provider:
            raise BackendUnavailableError(
                f"{provider} is installed but could not start (session runs on {active[0]}); "
                "check the CUDA/cuDNN/TensorRT libraries and the GPU driver"
            )
        self._inputs = tuple(
            TensorSpec(i.name, ONNX_DTYPES.get(i.type, i.type), dims(i.shape))
            for i in self.session.get_inputs()
        )
        self._outputs = tuple(
            TensorSpec(o.name, ONNX_DTYPES.get(o.type, o.type), dims(o.shape))
            for o in self.session.get_outputs()
        )
        self.input_names = [t.name for t in self._inputs]
        self.output_names = [t.name for t in self._outputs]
        # On the CPU, call the native session directly: the Python wrapper re-validates input
        # names and provider fallbacks on every call (~2 us, as much as a batch-1 MLP run);
        # genedge checks the names once, against the manifest, when the Sampler is built.
        native = getattr(self.session, "_sess", None)
        self._run: Callable[[list[str], dict[str, np.ndarray], Any], list[np.ndarray]]
        self._run = native.run if device == "cpu" and native is not None else self.session.run
        bound = cuda_graph or (device == "cuda" and iobinding)
        self._graphs = (
            CudaGraphRunner(
                self.session, device, int(options.get("device_id", 0)), capture=cuda_graph
            )
            if bound
            else None
        )
        self._cuda_graph = cuda_graph

    @property
    def name(self) -> str:
        """``cpu``, ``cuda`` or ``ort-tensorrt``."""
        return self._name

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The session's inputs: name, numpy dtype name, shape (axis names where dynamic)."""
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The session's outputs, in the order :meth:`run` returns them."""
        return self._outputs

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Run the session on ``{input name: array}``.

        ``timer`` (benchmarks) is told where each phase ends: ``h2d``, ``compute`` and ``d2h``
        through device buffers (``cuda``, CUDA graphs), else one ``run`` phase, copies
        included.
        """
        if self._graphs is not None:
            return self._graphs.run(feed, timer=timer)
        # The native session wants a dict; a caller's mapping is used as is when it is one.
        arrays = feed if isinstance(feed, dict) else dict(feed)
        if timer is not None:
            timer.mark("start")
            out = self._run(self.output_names, arrays, None)
            timer.mark("run")
            return out
        # Session runs are thread-safe; outputs are fresh arrays owned by the caller.
        return self._run(self.output_names, arrays, None)

    def close(self) -> None:
        """Drop bound device buffers; the session itself goes when the backend is collected
        (onnxruntime has no explicit release)."""
        if self._graphs is not None:
            self._graphs.close()

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "providers": self.session.get_providers(),
            "onnxruntime": ort.__version__,
            "cuda_graph": self._cuda_graph,
            "iobinding": self._graphs is not None,
            "optimized_model_cache": self.cache_status,
        }
