"""Native TensorRT engine execution (NVIDIA's ``tensorrt`` and ``cuda-python`` bindings; no torch).

TensorRT is an optional extra that CI never installs; without it, or without a GPU, the backend
reports "not available" with the reason. With it, the backend runs the engine that
``genedge compile`` recorded in the artifact's manifest for this GPU, and refuses a foreign or
stale one (see :mod:`genedge.runtime.engines`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genedge.runtime.artifact import read_manifest
from genedge.runtime.backends.protocol import PhaseTimer
from genedge.runtime.engines import ENGINE_PRECISIONS, select_engine, sm_label
from genedge.runtime.errors import BackendUnavailableError, InputError
from genedge.runtime.manifest import TensorSpec


def tensorrt_status() -> str:
    """``"available"`` or ``"not available: <reason>"``."""
    if importlib.util.find_spec("tensorrt") is None:
        return (
            "not available: the tensorrt package is not installed (pip install genedge[tensorrt])"
        )
    if importlib.util.find_spec("cuda") is None:
        return "not available: cuda-python is not installed (pip install genedge[tensorrt])"
    return "available"


def import_cudart() -> Any:
    """cuda-python's runtime API module (``cuda.bindings.runtime``; ``cuda.cudart`` before 12.6)."""
    try:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart
    except (ImportError, OSError) as e:
        raise BackendUnavailableError(f"cuda-python is installed but does not load ({e})") from None
    return cudart


def cuda_call(cudart: Any, result: Any) -> Any:
    """Unpack a cuda-python ``(error, *values)`` result, raising on any CUDA error.

    Raises:
        BackendUnavailableError: The call failed (no device, driver mismatch, out of memory).
    """
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(err)
        raise BackendUnavailableError(f"CUDA error {name.decode(errors='replace')}")
    return values[0] if len(values) == 1 else tuple(values)


def cuda_device(device: int = 0) -> tuple[str, str]:
    """``(name, compute capability)`` of a CUDA device, e.g. ``("NVIDIA L4", "8.9")``.

    Raises:
        BackendUnavailableError: cuda-python is missing or no such GPU is visible.
    """
    try:
        cudart = import_cudart()
        count = cuda_call(cudart, cudart.cudaGetDeviceCount())
    except BackendUnavailableError as e:
        raise BackendUnavailableError(f"no usable CUDA GPU ({e})") from None
    if device >= count:
        raise BackendUnavailableError(f"no CUDA GPU {device} (this machine has {count})")
    prop = cuda_call(cudart, cudart.cudaGetDeviceProperties(device))
    name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else prop.name
    return str(name), f"{prop.major}.{prop.minor}"


def local_gpu(device: int = 0) -> tuple[str, str] | str:
    """``(name, compute capability)`` of this machine's GPU, or why there is none to use.

    Never raises: for ``genedge info``, which reports engines against this machine.
    """
    if importlib.util.find_spec("cuda") is not None:
        try:
            return cuda_device(device)
        except BackendUnavailableError as e:
            return f"no GPU ({e})"
    if not Path("/proc/driver/nvidia").exists() and not Path("/dev/nvidiactl").exists():
        return "no GPU (no NVIDIA driver on this machine)"
    return "no GPU query: cuda-python is not installed (pip install genedge[tensorrt])"


def local_tensorrt_version() -> str | None:
    """The installed TensorRT's version, or ``None`` if it is missing or does not load."""
    if importlib.util.find_spec("tensorrt") is None:
        return None
    try:
        import tensorrt as trt
    except (ImportError, OSError):
        return None
    return str(trt.__version__)


class TensorRTBackend:
    """Runs a serialized TensorRT engine named in the artifact's manifest.

    One execution context serves every call under a lock; device buffers are allocated on the
    first call, reused, and grown when a larger batch arrives.

    Args:
        path: The artifact's ``.onnx`` file (the sampler); its engine sits beside it.
        precision: ``"fp16"`` or ``"fp32"`` to insist on one; ``None`` takes either.
        device: CUDA device index.

    Raises:
        BackendUnavailableError: TensorRT, cuda-python or a GPU is missing, or no engine
            recorded for this artifact fits this GPU, TensorRT version and precision.
    """

    name = "tensorrt"

    def __init__(
        self, path: Path, precision: str | None = None, device: int = 0, **_: object
    ) -> None:
        if precision is not None and precision not in ENGINE_PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(ENGINE_PRECISIONS)}")
        status = tensorrt_status()
        if status != "available":
            raise BackendUnavailableError(status.removeprefix("not available: "))
        path = Path(path)
        manifest = read_manifest(path, companions=True)
        if manifest.companion is not None:
            raise BackendUnavailableError(
                f"{path.name} is a companion graph; TensorRT engines are compiled for the "
                "sampler only (run companions on the cuda or cpu backend)"
            )
        if not manifest.engines:  # say so before TensorRT's import loads its large libraries
            raise BackendUnavailableError(select_engine(manifest, path, "", "", "")[1])
        try:
            import tensorrt as trt
        except (ImportError, OSError) as e:  # e.g. libnvinfer missing or for another CUDA
            raise BackendUnavailableError(
                f"tensorrt is installed but does not load ({e})"
            ) from None
        self._trt = trt
        self._cudart = cudart = import_cudart()
        self._lock = threading.Lock()
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)
        self._stream: Any = None
        gpu_name, cc = cuda_device(device)
        cuda_call(cudart, cudart.cudaSetDevice(device))
        plan, self._reason = select_engine(manifest, path, gpu_name, cc, trt.__version__, precision)
        if plan is None:
            raise BackendUnavailableError(self._reason)
        self._plan, self._gpu = plan, f"{gpu_name} ({sm_label(cc)})"
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(plan.read_bytes())
        if self._engine is None:
            raise BackendUnavailableError(
                f"TensorRT could not load {plan.name}: rebuild it with `genedge compile "
                f"{path.name}`"
            )
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        # The sampler reads output 0, so keep the manifest's output order, not the engine's.
        wanted = [t.name for t in manifest.sampler.outputs]
        self.output_names = [n for n in wanted if n in names] + [
            n for n in names if not is_input[n] and n not in wanted
        ]
        self._dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        # Shapes with the manifest's axis names where it declares the tensor, else the
        # engine's (-1 for a dynamic axis, shown as "?").
        declared = {t.name: t.shape for t in (*manifest.sampler.inputs, *manifest.sampler.outputs)}

        def spec(n: str) -> TensorSpec:
            shape = declared.get(n)
            if shape is None:
                shape = tuple(int(d) if d >= 0 else "?" for d in self._engine.get_tensor_shape(n))
            return TensorSpec(n, self._dtypes[n].name, shape)

        self._inputs = tuple(spec(n) for n in self.input_names)
        self._outputs = tuple(spec(n) for n in self.output_names)
        self._stream = cuda_call(cudart, cudart.cudaStreamCreate())

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The engine's inputs: name, numpy dtype name, shape."""
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The engine's outputs, in the order :meth:`run` returns them (the manifest's)."""
        return self._outputs

    @property
    def stream(self) -> Any:
        """The CUDA stream every call is queued on (for timing with CUDA events)."""
        return self._stream

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Copy inputs in, execute, copy outputs out, all queued on one stream, then wait.

        ``timer`` (benchmarks) gets ``mark(label, stream)`` between the queued phases, so CUDA
        events recorded there time H2D, compute and D2H on the device.
        """
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        stream = self._stream
        with self._lock:
            inputs = [
                (name, np.ascontiguousarray(feed[name], dtype=self._dtypes[name]))
                for name in self.input_names
            ]
            # Every shape is checked before the first copy is queued, so a refused call leaves
            # nothing in flight on the stream.
            for name, host in inputs:
                if not self._context.set_input_shape(name, host.shape):
                    lo, _, hi = self._engine.get_tensor_profile_shape(name, 0)
                    raise InputError(
                        f"input {name} of shape {host.shape} is outside the engine's profile "
                        f"({tuple(lo)} to {tuple(hi)}); rebuild it with a wider --batch-range "
                        "or --length-range"
                    )
            # Output arrays are fresh per call and owned by the caller.
            outputs = [
                (name, np.empty(tuple(self._context.get_tensor_shape(name)), self._dtypes[name]))
                for name in self.output_names
            ]
            try:
                if timer is not None:
                    timer.mark("start", stream)
                for name, host in inputs:
                    ptr = self._device_buffer(name, host.nbytes)
                    self._context.set_tensor_address(name, ptr)
                    cuda_call(
                        cudart,
                        cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, stream),
                    )
                for name, host in outputs:
                    self._context.set_tensor_address(name, self._device_buffer(name, host.nbytes))
                if timer is not None:
                    timer.mark("h2d", stream)
                if not self._context.execute_async_v3(int(stream)):
                    raise BackendUnavailableError(f"TensorRT failed to run {self._plan.name}")
                if timer is not None:
                    timer.mark("compute", stream)
                for name, host in outputs:
                    ptr = self._buffers[name][0]
                    cuda_call(
                        cudart,
                        cudart.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, d2h, stream),
                    )
                if timer is not None:
                    timer.mark("d2h", stream)
            finally:
                # The host arrays (kept alive by `inputs` and `outputs`) are read and written
                # asynchronously until the stream is drained, also when a step failed.
                cuda_call(cudart, cudart.cudaStreamSynchronize(stream))
        return [host for _, host in outputs]

    def _device_buffer(self, name: str, nbytes: int) -> int:
        """A device buffer of at least ``nbytes`` for a tensor, reused across calls."""
        ptr, size = self._buffers.get(name, (0, 0))
        if nbytes <= size:
            return ptr
        if ptr:
            cuda_call(self._cudart, self._cudart.cudaFree(ptr))
            del self._buffers[name]
        # Grow geometrically so a slowly rising batch size does not reallocate every call.
        size = max(nbytes, 2 * size, 256)
        ptr = int(cuda_call(self._cudart, self._cudart.cudaMalloc(size)))
        self._buffers[name] = (ptr, size)
        return ptr

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "engine": self._plan.name,
            "gpu": self._gpu,
            "tensorrt": self._trt.__version__,
            "selection": self._reason,
        }

    def close(self) -> None:
        """Free the device buffers and the stream (also done when the backend is collected)."""
        cudart = getattr(self, "_cudart", None)
        lock = getattr(self, "_lock", None)
        if cudart is None or lock is None:
            return
        with lock:
            for ptr, _ in self._buffers.values():
                cudart.cudaFree(ptr)
            self._buffers.clear()
            if self._stream is not None:
                cudart.cudaStreamDestroy(self._stream)
                self._stream = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit CUDA may already be gone
            self.close()
