"""Every backend says what it offers through one protocol: metadata, run with a timer, close."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from genedge.runtime import Sampler
from genedge.runtime.backends import Backend
from genedge.runtime.backends.cuda_graph import CudaGraphRunner
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.backends.openvino_backend import OpenVinoBackend
from genedge.runtime.backends.tensorrt_backend import TensorRTBackend
from genedge.runtime.manifest import METADATA_KEY, GraphSpec, Manifest, Preprocessing, TensorSpec

#: The protocol's members (what ``genedge.runtime.backends.Backend`` declares).
MEMBERS = ("name", "inputs", "outputs", "run", "describe", "close")
BACKEND_CLASSES = (OnnxRuntimeBackend, CudaGraphRunner, TensorRTBackend, OpenVinoBackend)


@pytest.fixture(scope="module")
def gan_points_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny artifact without training: ``x = tanh(z)`` over 2-D points."""
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    graph = helper.make_graph([helper.make_node("Tanh", ["z"], ["x"])], "g", [z], [x])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    manifest = Manifest(
        family="toy",
        graphs={
            "sampler": GraphSpec(
                None,
                (TensorSpec("z", "float32", ("batch", 2), "latent"),),
                (TensorSpec("x", "float32", ("batch", 2)),),
            )
        },
        latent_dim=2,
        output_kind="points",
        sample_shape=(2,),
        preprocessing=Preprocessing("minmax", -2.0, 2.0, -1.0, 1.0),
    )
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, manifest.to_json()
    path = tmp_path_factory.mktemp("tiny") / "tanh.onnx"
    onnx.save(model, path)
    return path


class _Marks:
    def __init__(self) -> None:
        self.labels: list[str] = []

    def mark(self, label: str, stream: object = None) -> None:
        self.labels.append(label)


def test_the_protocol_declares_metadata_run_and_close() -> None:
    declared = {m for m in vars(Backend) if not m.startswith("_")}
    assert declared == set(MEMBERS)


@pytest.mark.parametrize("cls", BACKEND_CLASSES, ids=lambda c: c.__name__)
def test_each_backend_class_has_the_protocols_members(cls: type) -> None:
    missing = [m for m in MEMBERS if not hasattr(cls, m)]
    assert missing == []
    run = inspect.signature(cls.run)
    timer = run.parameters["timer"]
    assert timer.kind is inspect.Parameter.KEYWORD_ONLY and timer.default is None
    assert list(run.parameters)[:2] == ["self", "feed"]
    for prop in ("inputs", "outputs"):
        assert isinstance(inspect.getattr_static(cls, prop), property), prop


def test_onnxruntime_backend_is_a_backend_with_metadata(gan_points_onnx: Path) -> None:
    b = OnnxRuntimeBackend(gan_points_onnx, "cpu")
    assert isinstance(b, Backend) and b.name == "cpu"
    session = ort.InferenceSession(str(gan_points_onnx), providers=["CPUExecutionProvider"])
    want = [(i.name, i.shape) for i in session.get_inputs()]
    got = [(t.name, list(t.shape)) for t in b.inputs]
    assert got == want and all(t.dtype == "float32" for t in b.inputs)
    assert [t.name for t in b.outputs] == [o.name for o in session.get_outputs()]
    b.close()
    b.close()  # idempotent


def test_onnxruntime_run_with_a_timer_marks_its_phase(gan_points_onnx: Path) -> None:
    b = OnnxRuntimeBackend(gan_points_onnx, "cpu")
    z = np.random.default_rng(0).standard_normal((5, b.inputs[0].shape[1]), dtype=np.float32)
    timer = _Marks()
    (timed,) = b.run({"z": z}, timer=timer)
    assert timer.labels == ["start", "run"]
    np.testing.assert_array_equal(timed, b.run({"z": z})[0])


def test_cuda_graph_runner_is_a_backend_over_its_session(gan_points_onnx: Path) -> None:
    session = ort.InferenceSession(str(gan_points_onnx), providers=["CPUExecutionProvider"])
    runner = CudaGraphRunner(session, "cuda", buffer_device="cpu", capture=False)
    assert isinstance(runner, Backend)
    assert [t.name for t in runner.inputs] == [i.name for i in session.get_inputs()]
    assert [t.dtype for t in runner.outputs] == ["float32"]
    z = np.ones((4, runner.inputs[0].shape[1]), np.float32)
    timer = _Marks()
    runner.run({"z": z}, timer=timer)
    assert timer.labels == ["start", "h2d", "compute", "d2h"] and len(runner.slots) == 1
    runner.close()
    assert runner.slots == {} and runner.describe()["bound_shapes"] == 0


def test_sampler_runs_its_graph_through_the_public_surface(gan_points_onnx: Path) -> None:
    """What bench needs: the feed, one timed graph run, the backend's metadata, close."""
    with Sampler(gan_points_onnx, backend="cpu") as s:
        timer = _Marks()
        (x,) = s.run_graph(s.feed(6, seed=3), timer=timer)
        assert timer.labels == ["start", "run"]
        np.testing.assert_array_equal(x, s.sample(6, seed=3, raw=True))
        assert s.graph_backend.name == s.backend == "cpu"
        assert [t.name for t in s.graph_backend.inputs] == [
            t.name for t in s.manifest.sampler.inputs
        ]
