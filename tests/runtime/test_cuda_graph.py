"""CUDA-graph binding logic (fixed buffers per input shape), exercised with CPU buffers.

Capture and replay need a GPU and onnxruntime-gpu; what runs here is genedge's part: one set of
bound buffers per shape, inputs copied in place, fresh outputs, and the clear errors.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from genedge.runtime.backends.cuda_graph import CudaGraphRunner
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.errors import BackendUnavailableError, InputError


@pytest.fixture()
def session(gan_points_onnx: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(gan_points_onnx), providers=["CPUExecutionProvider"])


def test_each_shape_gets_its_own_bound_buffers(session: ort.InferenceSession) -> None:
    runner = CudaGraphRunner(session, "cuda", buffer_device="cpu")
    rng = np.random.default_rng(0)
    for n in (1, 37, 1, 37, 5):
        z = rng.standard_normal((n, 2)).astype(np.float32)
        kept = z.copy()
        (x,) = runner.run({"z": z})
        np.testing.assert_array_equal(x, session.run(None, {"z": z})[0])
        np.testing.assert_array_equal(z, kept)  # the caller's input is never written
        x[...] = np.nan  # the caller owns the output; the next call must not see this
    assert len(runner.slots) == 3


def test_single_shape_providers_refuse_a_second_shape(session: ort.InferenceSession) -> None:
    runner = CudaGraphRunner(session, "tensorrt-ep", buffer_device="cpu")
    runner.run({"z": np.zeros((8, 2), np.float32)})
    runner.run({"z": np.ones((8, 2), np.float32)})
    with pytest.raises(InputError, match=r"captured for input shapes \[\(8, 2\)\]"):
        runner.run({"z": np.zeros((3, 2), np.float32)})


def test_output_axis_unknown_from_inputs_is_an_input_error() -> None:
    def arg(name: str, shape: list, type_: str = "tensor(float)") -> types.SimpleNamespace:
        return types.SimpleNamespace(name=name, shape=shape, type=type_)

    fake = types.SimpleNamespace(
        get_inputs=lambda: [arg("z", ["batch", 2])], get_outputs=lambda: [arg("x", ["n", 2])]
    )
    runner = CudaGraphRunner(fake, "cuda", buffer_device="cpu")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="output x has axis 'n'"):
        runner.run({"z": np.zeros((4, 2), np.float32)})


def test_cuda_graph_needs_a_gpu_backend(gan_points_onnx: Path) -> None:
    with pytest.raises(InputError, match="cuda_graph needs the cuda or ort-tensorrt backend"):
        OnnxRuntimeBackend(gan_points_onnx, "cpu", cuda_graph=True)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailableError, match="has no CUDAExecutionProvider"):
            OnnxRuntimeBackend(gan_points_onnx, "cuda", cuda_graph=True)
