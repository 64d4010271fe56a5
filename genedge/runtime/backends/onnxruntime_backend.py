"""onnxruntime backends: CPU, the CUDA execution provider, and the TensorRT execution provider.

genedge asks onnxruntime for exactly one accelerator provider and then checks which providers the
session really uses: onnxruntime-gpu silently falls back to CPU when CUDA is missing, and a
benchmark that believes it ran on a GPU while it ran on the CPU is worse than an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from genedge.runtime.artifact import read_manifest, read_metadata
from genedge.runtime.backends.cuda_graph import CudaGraphRunner
from genedge.runtime.engines import (
    DEFAULT_BATCH_RANGE,
    TRT_CACHE_DIR,
    default_length_range,
    model_sha256,
    profile_shapes,
)
from genedge.runtime.errors import (
    ArtifactError,
    BackendUnavailableError,
    InputError,
    ManifestError,
    OutputError,
)

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


def session_options(
    threads: int | None, optimized_model_path: Path | None = None
) -> ort.SessionOptions:
    """Session options genedge uses: full graph optimisation, sequential execution, and
    ``threads`` intra-op threads (``None`` lets onnxruntime use one per physical core)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    if threads is not None:
        if not isinstance(threads, int) or threads <= 0:
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if optimized_model_path is not None:
        so.optimized_model_filepath = str(optimized_model_path)
    return so


def session_from_onnx(
    path: Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    provider_options: list[dict[str, str]] | None = None,
) -> ort.InferenceSession:
    """Open an ONNX file as an onnxruntime session, turning loader failures into ArtifactError."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"model file not found: {path}")
    if not path.is_file():
        raise ArtifactError(f"not a model file: {path}")
    if not os.access(path, os.R_OK):
        raise ArtifactError(f"model file is not readable: {path}")
    read_metadata(path)  # structure and external-data checks before onnxruntime parses it
    try:
        return ort.InferenceSession(
            str(path),
            sess_options=session_options(threads),
            providers=providers or ["CPUExecutionProvider"],
            provider_options=provider_options,
        )
    except InputError:
        raise
    except Exception as e:  # onnxruntime raises several unrelated types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArtifactError(f"cannot load {path.name} as an ONNX model: {first}") from None


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
        manifest = read_manifest(path)
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
    """

    def __init__(
        self,
        path: Path,
        device: str = "cpu",
        threads: int | None = None,
        provider_options: dict[str, str] | None = None,
        cuda_graph: bool = False,
    ) -> None:
        provider = _PROVIDERS[device]
        self.name = {"cpu": "cpu", "cuda": "cuda", "tensorrt-ep": "ort-tensorrt"}[device]
        if cuda_graph and device not in _CUDA_GRAPH_OPTION:
            raise InputError("cuda_graph needs the cuda or ort-tensorrt backend")
        if provider not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"onnxruntime {ort.__version__} has no {provider}; install genedge[gpu] "
                "(onnxruntime-gpu) on a machine with an NVIDIA GPU"
            )
        options = dict(provider_options or {})
        if device == "tensorrt-ep":
            cache_dir = options.get("trt_engine_cache_path")
            options = {**tensorrt_ep_options(Path(path), cache_dir), **options}
        if cuda_graph:
            options[_CUDA_GRAPH_OPTION[device]] = "True"
        providers = [provider] if device == "cpu" else [provider, "CPUExecutionProvider"]
        opts = [options] + ([{}] if device != "cpu" else [])
        self.session = session_from_onnx(path, providers, threads, opts)
        active = self.session.get_providers()
        if active[0] != provider:
            raise BackendUnavailableError(
                f"{provider} is installed but could not start (session runs on {active[0]}); "
                "check the CUDA/cuDNN/TensorRT libraries and the GPU driver"
            )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        # On the CPU, call the native session directly: the Python wrapper re-validates input
        # names and provider fallbacks on every call (~2 us, as much as a batch-1 MLP run);
        # genedge checks the names once, against the manifest, when the Sampler is built.
        native = getattr(self.session, "_sess", None)
        self._run = native.run if device == "cpu" and native is not None else self.session.run
        self._graphs = (
            CudaGraphRunner(self.session, device, int(options.get("device_id", 0)))
            if cuda_graph
            else None
        )

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self._graphs is not None:
            return self._graphs.run(feed)
        # Session runs are thread-safe; outputs are fresh arrays owned by the caller.
        return self._run(self.output_names, feed, None)

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "providers": self.session.get_providers(),
            "onnxruntime": ort.__version__,
            "cuda_graph": self._graphs is not None,
        }
