"""CUDA graph capture and replay for onnxruntime sessions (CUDA and TensorRT providers).

onnxruntime captures and replays graphs only for runs through IOBinding whose inputs and outputs
sit in device buffers that keep their address and shape; this module owns those buffers.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import onnxruntime as ort

from genedge.runtime.errors import InputError

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class CudaGraphRunner:
    """Feeds a session whose provider captures CUDA graphs.

    A captured graph replays fixed device addresses and shapes, so each input shape gets its
    own input and output buffers on the device, bound once; later calls of that shape copy the
    new inputs into them and replay. The CUDA EP keeps one graph per shape (``gpu_graph_id``,
    onnxruntime 1.18+); older releases and the TensorRT EP replay a single shape.
    """

    def __init__(self, session: ort.InferenceSession, device: str, device_id: int) -> None:
        self.session = session
        self.device_id = device_id
        version = tuple(int(p) for p in ort.__version__.split(".")[:2] if p.isdigit())
        self.multi = device == "cuda" and version >= (1, 18)
        self.inputs = {i.name: i.shape for i in session.get_inputs()}
        self.outputs = [(o.name, o.shape, _NUMPY_TYPES[o.type]) for o in session.get_outputs()]
        self.slots: dict[tuple[tuple[int, ...], ...], tuple[Any, ...]] = {}
        self.lock = threading.Lock()  # the bound buffers are shared by every caller

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = {name: np.ascontiguousarray(feed[name]) for name in self.inputs}
        key = tuple(a.shape for a in arrays.values())
        with self.lock:
            slot = self.slots.get(key)
            if slot is None:
                slot = self.slots[key] = self._bind(arrays)
            else:
                for name, value in slot[1].items():
                    value.update_inplace(arrays[name])
            binding, _, outputs, run_options = slot
            self.session.run_with_iobinding(binding, run_options)
            # .numpy() copies device -> host: the caller owns a fresh array.
            return [v.numpy() for v in outputs]

    def _bind(self, arrays: dict[str, np.ndarray]) -> tuple[Any, ...]:
        if self.slots and not self.multi:
            first = next(iter(self.slots))
            raise InputError(
                f"a CUDA graph was captured for input shapes {list(first)} and this provider "
                f"replays one shape (onnxruntime {ort.__version__}); keep every batch the same "
                "size (a batch_size that divides n) or drop cuda_graph"
            )
        sizes = {
            d: n
            for name, dims in self.inputs.items()
            for d, n in zip(dims, arrays[name].shape, strict=False)
            if isinstance(d, str)
        }
        binding = self.session.io_binding()
        inputs = {}
        for name, a in arrays.items():
            inputs[name] = ort.OrtValue.ortvalue_from_numpy(a, "cuda", self.device_id)
            binding.bind_ortvalue_input(name, inputs[name])
        outputs = []
        for name, dims, dtype in self.outputs:
            unknown = [d for d in dims if not isinstance(d, int) and d not in sizes]
            if unknown:
                raise InputError(
                    f"CUDA graphs need output sizes known in advance; output {name} has axis "
                    f"{unknown[0]!r} that no input defines (drop cuda_graph)"
                )
            shape = [d if isinstance(d, int) else sizes[d] for d in dims]
            value = ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, "cuda", self.device_id)
            binding.bind_ortvalue_output(name, value)
            outputs.append(value)
        run_options = ort.RunOptions()
        if self.multi:
            run_options.add_run_config_entry("gpu_graph_id", str(len(self.slots) + 1))
        return binding, inputs, outputs, run_options
