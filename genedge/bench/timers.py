"""Per-call timers: host clock marks, CUDA events (cuda-python) and torch.cuda.Event."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The phases a timed GPU call is split into, in order.
PHASES = ("h2d", "compute", "d2h")


@dataclass(frozen=True)
class Timing:
    """What a self-timing runner returns instead of its output: the call's duration in seconds
    as its own clock measured it (e.g. CUDA events), and the phases it was split into."""

    total_s: float
    phases: dict[str, float] = field(default_factory=dict)


class HostPhaseTimer:
    """Phase boundaries on a host clock: for backends that block until each phase is done, and
    the fallback where cuda-python is missing."""

    kind = "perf_counter"

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._marks: list[tuple[str, float]] = []

    def reset(self) -> None:
        self._marks.clear()

    def mark(self, label: str, stream: Any = None) -> None:
        self._marks.append((label, self._clock()))

    def finish(self) -> Timing:
        return _timing([m[0] for m in self._marks], [m[1] for m in self._marks])


def _timing(labels: list[str], stamps: list[float]) -> Timing:
    """Phases between consecutive marks (seconds); a phase marked twice adds up."""
    if len(stamps) < 2:
        raise ValueError("a timed call needs at least a start and an end mark")
    phases: dict[str, float] = {}
    for label, a, b in zip(labels[1:], stamps, stamps[1:], strict=False):
        phases[label] = phases.get(label, 0.0) + (b - a)
    return Timing(stamps[-1] - stamps[0], phases)


class CudaEventTimer:
    """Phase boundaries as CUDA events (cuda-python's runtime API), recorded on a stream.

    Events are created once and reused. :meth:`finish` waits for the last event and reads the
    elapsed time between consecutive ones (``cudaEventElapsedTime``, milliseconds, about 0.5 us
    resolution). The timer owns a stream (:attr:`stream`) that onnxruntime sessions are given as
    ``user_compute_stream``; the native TensorRT backend passes its own stream with each mark.

    Raises:
        BackendUnavailableError: cuda-python is missing or no GPU is visible.
    """

    kind = "cuda events"

    def __init__(self, max_marks: int = 8, cudart: Any = None) -> None:
        from genedge.runtime.backends.tensorrt_backend import cuda_call, import_cudart

        self._cudart = cudart = cudart or import_cudart()
        self._call = cuda_call
        self.stream = cuda_call(cudart, cudart.cudaStreamCreate())
        self._events = [cuda_call(cudart, cudart.cudaEventCreate()) for _ in range(max_marks)]
        self._labels: list[str] = []

    def reset(self) -> None:
        self._labels.clear()

    def mark(self, label: str, stream: Any = None) -> None:
        event = self._events[len(self._labels)]
        where = self.stream if stream is None else stream
        self._call(self._cudart, self._cudart.cudaEventRecord(event, where))
        self._labels.append(label)

    def finish(self) -> Timing:
        rt, n = self._cudart, len(self._labels)
        self._call(rt, rt.cudaEventSynchronize(self._events[n - 1]))
        stamps = [0.0]
        for a, b in zip(self._events[: n - 1], self._events[1:n], strict=True):
            stamps.append(stamps[-1] + self._call(rt, rt.cudaEventElapsedTime(a, b)) / 1e3)
        return _timing(list(self._labels), stamps)


class TorchEventTimer:
    """Phase boundaries as ``torch.cuda.Event(enable_timing=True)`` on torch's current stream."""

    kind = "torch.cuda.Event"

    def __init__(self, max_marks: int = 8) -> None:
        import torch

        self._events = [
            torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]  # torch: untyped
            for _ in range(max_marks)
        ]
        self._labels: list[str] = []

    def reset(self) -> None:
        self._labels.clear()

    def mark(self, label: str, stream: Any = None) -> None:
        self._events[len(self._labels)].record()
        self._labels.append(label)

    def finish(self) -> Timing:
        n = len(self._labels)
        self._events[n - 1].synchronize()
        stamps = [0.0]
        for a, b in zip(self._events[: n - 1], self._events[1:n], strict=True):
            stamps.append(stamps[-1] + a.elapsed_time(b) / 1e3)
        return _timing(list(self._labels), stamps)
