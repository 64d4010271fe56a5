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
    with pytest.raises(InputError, match=r"graphs need .* output x has axis 'n'.*cuda_graph=False"):
        runner.run({"z": np.zeros((4, 2), np.float32)})
    plain = CudaGraphRunner(fake, "cuda", buffer_device="cpu", capture=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"IOBinding needs .*\(set iobinding=False\)"):
        plain.run({"z": np.zeros((4, 2), np.float32)})


def test_cuda_graph_needs_a_gpu_backend(gan_points_onnx: Path) -> None:
    with pytest.raises(InputError, match="cuda_graph needs the cuda or ort-tensorrt backend"):
        OnnxRuntimeBackend(gan_points_onnx, "cpu", cuda_graph=True)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailableError, match="has no CUDAExecutionProvider"):
            OnnxRuntimeBackend(gan_points_onnx, "cuda", cuda_graph=True)


class _Marks:
    def __init__(self) -> None:
        self.labels: list[str] = []

    def mark(self, label: str, stream: object = None) -> None:
        self.labels.append(label)


def test_plain_iobinding_keeps_a_bounded_set_of_shapes(session: ort.InferenceSession) -> None:
    from genedge.runtime.backends.cuda_graph import MAX_BOUND_SHAPES

    runner = CudaGraphRunner(session, "cuda", buffer_device="cpu", capture=False)
    rng = np.random.default_rng(1)
    for n in range(1, MAX_BOUND_SHAPES + 4):
        z = rng.standard_normal((n, 2)).astype(np.float32)
        (x,) = runner.run({"z": z})
        np.testing.assert_array_equal(x, session.run(None, {"z": z})[0])
    assert len(runner.slots) == MAX_BOUND_SHAPES  # the oldest shapes were dropped
    assert [key[0][0] for key in runner.slots] == [(n, 2) for n in range(4, MAX_BOUND_SHAPES + 4)]
    # no CUDA graph: runs carry no gpu_graph_id, and a new shape is never refused
    single = CudaGraphRunner(session, "tensorrt-ep", buffer_device="cpu", capture=False)
    single.run({"z": np.zeros((8, 2), np.float32)})
    single.run({"z": np.zeros((3, 2), np.float32)})
    for slot in runner.slots.values():
        with pytest.raises(RuntimeError, match="does not have configuration with key"):
            slot[3].get_run_config_entry("gpu_graph_id")


def test_timed_runs_mark_h2d_compute_and_d2h(session: ort.InferenceSession) -> None:
    runner = CudaGraphRunner(session, "cuda", buffer_device="cpu", capture=False)
    for _ in range(2):  # the first call binds, the second copies in place
        timer = _Marks()
        runner.run({"z": np.ones((4, 2), np.float32)}, timer=timer)
        assert timer.labels == ["start", "h2d", "compute", "d2h"]


def test_cpu_backend_marks_one_run_phase(gan_points_onnx: Path) -> None:
    b = OnnxRuntimeBackend(gan_points_onnx, "cpu")
    timer = _Marks()
    (x,) = b.run({"z": np.ones((4, 2), np.float32)}, timer=timer)
    assert timer.labels == ["start", "run"] and x.shape == (4, 2)
    assert b.describe()["iobinding"] is False
