"""What every execution backend offers: metadata, ``run`` with per-call options, ``close``.

A backend is any object with these members (a structural :class:`typing.Protocol`, as
Polygraphy's runners are one small class each): the runtime's onnxruntime and TensorRT
backends, genedge's PyTorch reference (``genedge.train.reference.TorchBackend``), or a user's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from genedge.runtime.manifest import TensorSpec

#: numpy dtype names of ONNX / onnxruntime tensor types.
ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


class PhaseTimer(Protocol):
    """Receives the boundaries of a run's phases: ``start``, then ``h2d``, ``compute`` and
    ``d2h`` where the backend runs them apart, else ``run``.

    ``stream`` is the CUDA stream the phase's work was queued on, when the backend owns one
    (``None``: the timer's own stream, which the caller gave the session).
    """

    def mark(self, label: str, stream: Any = None) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """What the sampler, parity and the benchmarks need from an execution engine.

    Attributes:
        name: The backend's name (``cpu``, ``cuda``, ``ort-tensorrt``, ``tensorrt``, ``torch``).
        inputs: The graph's inputs, in the order the graph takes them: name, numpy dtype name
            and shape (sizes; strings name dynamic axes, ``"?"`` where unnamed). ``role`` is
            empty: roles are the manifest's business.
        outputs: The graph's outputs, in the order :meth:`run` returns them.
    """

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> Sequence[TensorSpec]: ...

    @property
    def outputs(self) -> Sequence[TensorSpec]: ...

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Run the graph on ``{input name: array}``; fresh output arrays owned by the caller.

        Safe to call from several threads at once. ``timer`` (benchmarks) is told where each
        phase of the call ends (see :class:`PhaseTimer`).
        """
        ...

    def describe(self) -> dict[str, object]:
        """Providers, devices and options, for ``genedge info`` and benchmark records."""
        ...

    def close(self) -> None:
        """Release sessions and device memory now (idempotent; also done on collection)."""
        ...


def dims(shape: Sequence[object]) -> tuple[int | str, ...]:
    """A shape as the manifest writes it: sizes, names of dynamic axes, ``"?"`` if unnamed."""
    return tuple(d if isinstance(d, int) else str(d) if d else "?" for d in shape)


def input_names(backend: Backend) -> list[str]:
    """The names of a backend's inputs, in order."""
    return [t.name for t in backend.inputs]
