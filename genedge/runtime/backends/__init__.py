"""Execution backends for the runtime: a small protocol, one module per backend, a registry.

Each backend turns an ONNX file into something that maps ``{input name: array}`` to a list of
output arrays. Optional dependencies are imported inside the factories, so a missing GPU stack
costs nothing until that backend is asked for, and then fails with a clear reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from genedge.runtime.errors import BackendUnavailableError, InputError


class Backend(Protocol):
    """What the sampler needs from an execution engine."""

    name: str

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the graph; safe to call from several threads at once."""
        ...

    def describe(self) -> dict[str, object]:
        """Providers, devices and options, for ``genedge info`` and benchmark records."""
        ...


Factory = Callable[..., Backend]


def _cpu(path: Path, **kw: object) -> Backend:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device="cpu", **kw)


def _cuda(path: Path, **kw: object) -> Backend:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device="cuda", **kw)


def _ort_tensorrt(path: Path, **kw: object) -> Backend:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device="tensorrt-ep", **kw)


def _tensorrt(path: Path, **kw: object) -> Backend:
    from genedge.runtime.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(path, **kw)


#: Backend names in the order ``auto`` tries them (fastest first).
REGISTRY: dict[str, Factory] = {
    "tensorrt": _tensorrt,
    "ort-tensorrt": _ort_tensorrt,
    "cuda": _cuda,
    "cpu": _cpu,
}


def create_backend(name: str, path: Path, **options: object) -> Backend:
    """Build the named backend, or for ``auto`` the first one that is available here.

    Raises:
        BackendUnavailableError: The backend's dependencies or hardware are missing.
        InputError: The name is not a known backend.
    """
    if name == "auto":
        reasons = []
        for candidate in ("tensorrt", "cuda", "cpu"):
            try:
                return REGISTRY[candidate](path, **options)
            except BackendUnavailableError as e:
                reasons.append(f"{candidate}: {e}")
        raise BackendUnavailableError("no backend is available: " + "; ".join(reasons))
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}; choose one of: auto, {', '.join(REGISTRY)}")
    return REGISTRY[name](path, **options)


def backend_status() -> dict[str, str]:
    """For each backend, ``"available"`` or ``"not available: <reason>"`` (no model needed)."""
    from genedge.runtime.backends.onnxruntime_backend import provider_status
    from genedge.runtime.backends.tensorrt_backend import tensorrt_status

    status = provider_status()
    status["tensorrt"] = tensorrt_status()
    return status
