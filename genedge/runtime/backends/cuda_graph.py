"""Device buffers bound through IOBinding, for CUDA graphs and plain CUDA runs.

onnxruntime captures and replays graphs only for runs through IOBinding whose inputs and outputs
sit in device buffers that keep their address and shape; this module owns those buffers. Without
capture, the same binding keeps one set of device buffers per input shape, so each call copies
its inputs in, runs, and copies its outputs out with no allocation, and the three steps can be
timed apart (``genedge bench``'s H2D / compute / D2H columns).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnxruntime as ort

from genedge.runtime.backends.protocol import ONNX_DTYPES, PhaseTimer
from genedge.runtime.backends.protocol import dims as spec_dims
from genedge.runtime.errors import InputError
from genedge.runtime.manifest import TensorSpec

__all__ = ["MAX_BOUND_SHAPES", "CudaGraphRunner", "PhaseTimer"]

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}

#: Without capture, at most this many shapes keep bound buffers (the oldest is dropped).
MAX_BOUND_SHAPES = 8


class CudaGraphRunner:
    """Feeds a session whose provider captures CUDA graphs.

    A captured graph replays fixed device addresses and shapes, so each input shape gets its
    own input and output buffers on the device, bound once; later calls of that shape copy the
    new inputs into them and replay. The CUDA EP keeps one graph per shape (``gpu_graph_id``,
    onnxruntime 1.18+); older releases and the TensorRT EP replay a single shape.

    It is a :class:`~genedge.runtime.backends.Backend` over the session it binds (the
    onnxruntime backend runs its ``cuda`` and CUDA-graph calls through one).

    Args:
        session: A session created with ``enable_cuda_graph`` / ``trt_cuda_graph_enable``.
        device: ``"cuda"`` or ``"tensorrt-ep"``: the provider that captures.
        device_id: The GPU the session runs on.
        buffer_device: Where the bound buffers live: ``"cuda"``; ``"cpu"`` only to exercise
            the binding logic without a GPU.
        capture: Whether the session captures CUDA graphs. ``False`` keeps the buffers per
            shape (at most :data:`MAX_BOUND_SHAPES`) for plain IOBinding runs.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        device: str,
        device_id: int = 0,
        buffer_device: str = "cuda",
        capture: bool = True,
    ) -> None:
        self.session = session
        self.device_id = device_id
        self.buffer_device = buffer_device
        self.capture = capture
        version = tuple(int(p) for p in ort.__version__.split(".")[:2] if p.isdigit())
        self.multi = not capture or (device == "cuda" and version >= (1, 18))
        self._in_shapes = {i.name: i.shape for i in session.get_inputs()}
        self._outputs = [(o.name, o.shape, _NUMPY_TYPES[o.type]) for o in session.get_outputs()]
        self.slots: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.lock = threading.Lock()  # the bound buffers are shared by every caller
        self._device = device

    @property
    def name(self) -> str:
        """``cuda-graph`` when capturing, else ``iobinding``."""
        return "cuda-graph" if self.capture else "iobinding"

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The session's inputs (name, dtype, shape)."""
        return tuple(
            TensorSpec(i.name, ONNX_DTYPES.get(i.type, i.type), spec_dims(i.shape))
            for i in self.session.get_inputs()
        )

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The session's outputs, in the order :meth:`run` returns them."""
        return tuple(
            TensorSpec(name, np.dtype(dtype).name, spec_dims(shape))
            for name, shape, dtype in self._outputs
        )

    def describe(self) -> dict[str, object]:
        """The provider, the device and how many shapes have bound buffers."""
        return {
            "backend": self.name,
            "provider": self._device,
            "device_id": self.device_id,
            "bound_shapes": len(self.slots),
        }

    def close(self) -> None:
        """Drop every shape's bound buffers (a later call binds them again)."""
        with self.lock:
            self.slots.clear()

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Copy the inputs into the shape's bound buffers, run, and copy the outputs out.

        ``timer`` (for benchmarks) is told where each phase ends; the first call of a shape
        also allocates and binds its buffers inside ``h2d``.
        """
        arrays = {name: np.ascontiguousarray(feed[name]) for name in self._in_shapes}
        key = tuple((a.shape, a.dtype.str) for a in arrays.values())
        with self.lock:
            if timer is not None:
                timer.mark("start")
            slot = self.slots.get(key)
            if slot is None:
                if not self.capture and len(self.slots) >= MAX_BOUND_SHAPES:
                    del self.slots[next(iter(self.slots))]  # the oldest shape's buffers
                slot = self.slots[key] = self._bind(arrays)
            else:
                # update_inplace copies host -> device into the same address (a blocking copy).
                for name, value in slot[1].items():
                    value.update_inplace(arrays[name])
            if timer is not None:
                timer.mark("h2d")
            binding, _, outputs, run_options = slot
            self.session.run_with_iobinding(binding, run_options)  # returns once synchronised
            if timer is not None:
                timer.mark("compute")
            # From the GPU, .numpy() copies to a fresh host array; a CPU buffer would be
            # returned as a view of memory the next call overwrites.
            if self.buffer_device == "cpu":
                result = [v.numpy().copy() for v in outputs]
            else:
                result = [v.numpy() for v in outputs]
            if timer is not None:
                timer.mark("d2h")
            return result

    def _bind(self, arrays: dict[str, np.ndarray]) -> tuple[Any, ...]:
        if self.slots and not self.multi:
            first = [shape for shape, _ in next(iter(self.slots))]
            raise InputError(
                f"a CUDA graph was captured for input shapes {first} and this provider replays "
                f"one shape (onnxruntime {ort.__version__}); keep every batch the same size (a "
                "batch_size that divides n) or drop cuda_graph"
            )
        sizes = {
            d: n
            for name, dims in self._in_shapes.items()
            for d, n in zip(dims, arrays[name].shape, strict=False)
            if isinstance(d, str)
        }
        shapes = []
        for name, dims, _ in self._outputs:
            unknown = [d for d in dims if not isinstance(d, int) and d not in sizes]
            if unknown:
                what, fix = (
                    ("CUDA graphs need", "cuda_graph")
                    if self.capture
                    else ("IOBinding needs", "iobinding")
                )
                raise InputError(
                    f"{what} output sizes known in advance; output {name} has axis "
                    f"{unknown[0]!r} that no input defines (set {fix}=False)"
                )
            shapes.append([d if isinstance(d, int) else sizes[d] for d in dims])
        where = (self.buffer_device, self.device_id)
        binding = self.session.io_binding()
        inputs = {}
        for name, a in arrays.items():
            # A CPU OrtValue wraps the array's own memory: bind a private copy, never the
            # caller's array, since later calls write into it.
            own = a.copy() if self.buffer_device == "cpu" else a
            inputs[name] = ort.OrtValue.ortvalue_from_numpy(own, *where)
            binding.bind_ortvalue_input(name, inputs[name])
        outputs = []
        for (name, _, dtype), shape in zip(self._outputs, shapes, strict=True):
            value = ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, *where)
            binding.bind_ortvalue_output(name, value)
            outputs.append(value)
        run_options = ort.RunOptions()
        if self.capture and self.multi:
            run_options.add_run_config_entry("gpu_graph_id", str(len(self.slots) + 1))
        return binding, inputs, outputs, run_options
