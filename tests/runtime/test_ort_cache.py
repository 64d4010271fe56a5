"""The optimised-model cache: written once atomically, reused, keyed, and never in the way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from genedge.export.engine_record import engine_record, record_engine
from genedge.runtime import Sampler
from genedge.runtime.backends import ort_cache as orc
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.backends.ort_cache import ORT_CACHE_DIR, cached_session, optimized_model_key
from genedge.runtime.engines import model_sha256


@pytest.fixture()
def artifact(gan_image_onnx: Path, tmp_path: Path) -> Path:
    p = tmp_path / "gan.onnx"
    shutil.copyfile(gan_image_onnx, p)
    return p


def cached_models(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / ORT_CACHE_DIR).glob("*.ort-opt.onnx"))


def run(b: OnnxRuntimeBackend) -> np.ndarray:
    dim = b.session.get_inputs()[0].shape[1]
    z = np.random.default_rng(0).standard_normal((5, dim)).astype(np.float32)
    return b.run({b.inputs[0].name: z})[0]


def test_first_load_writes_later_loads_reuse(artifact: Path) -> None:
    plain = OnnxRuntimeBackend(artifact, "cpu")  # off unless asked (export's own checks)
    assert plain.cache_status == "off" and not (artifact.parent / ORT_CACHE_DIR).exists()
    first = OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    assert first.cache_status.startswith("written ")
    (name,) = cached_models(artifact.parent)
    assert name.startswith("gan.") and name.endswith(".ort-opt.onnx")
    second = OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    assert second.cache_status == f"hit {artifact.parent / ORT_CACHE_DIR / name}"
    np.testing.assert_array_equal(run(second), run(plain))
    np.testing.assert_array_equal(run(first), run(plain))
    # nothing half-written is left behind: the model and the remembered hash only
    left = sorted(p.name for p in (artifact.parent / ORT_CACHE_DIR).iterdir())
    assert left == [name, "gan.sha256.json"]


def test_sampler_uses_the_cache_by_default_and_can_opt_out(artifact: Path) -> None:
    s = Sampler(artifact, backend="cpu", backend_options={"optimized_model_cache": False})
    assert s.describe()["optimized_model_cache"] == "off"
    assert not (artifact.parent / ORT_CACHE_DIR).exists()
    s = Sampler(artifact, backend="cpu")
    assert str(s.describe()["optimized_model_cache"]).startswith("written ")
    assert str(Sampler(artifact).describe()["optimized_model_cache"]).startswith("hit ")


def test_environment_variable_turns_it_off_or_moves_it(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENEDGE_ORT_CACHE", "0")
    assert Sampler(artifact, backend="cpu").describe()["optimized_model_cache"] == "off"
    monkeypatch.setenv("GENEDGE_ORT_CACHE", str(tmp_path / "elsewhere"))
    status = str(Sampler(artifact, backend="cpu").describe()["optimized_model_cache"])
    assert status.startswith(f"written {tmp_path / 'elsewhere'}/gan.")
    assert not (artifact.parent / ORT_CACHE_DIR).exists()


def test_a_changed_artifact_gets_a_new_file_and_the_old_one_goes(artifact: Path) -> None:
    OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    (old,) = cached_models(artifact.parent)
    # Recording an engine rewrites the file's manifest: other bytes, so another cache entry.
    record = engine_record(
        file="gan.fp16.sm_89.plan",
        precision="fp16",
        gpu_name="L4",
        compute_capability="8.9",
        tensorrt_version="10.3.0",
        batch_range=(1, 64, 1024),
        length_range=None,
        onnx_sha256=model_sha256(artifact),
    )
    record_engine(artifact, record)
    b = OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    assert b.cache_status.startswith("written ")
    (new,) = cached_models(artifact.parent)
    assert new != old and new.split(".")[2] == old.split(".")[2]  # same settings, new bytes


def test_key_covers_onnxruntime_version_and_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = ["CPUExecutionProvider"]
    key = optimized_model_key("ab" * 32, cpu, None)
    assert key.startswith("ab" * 10 + ".")
    assert optimized_model_key("cd" * 32, cpu, None) != key
    assert optimized_model_key("ab" * 32, ["CUDAExecutionProvider", *cpu], None) != key
    assert optimized_model_key("ab" * 32, cpu, [{"device_id": "1"}]) != key
    # a per-process stream handle must not make every process write its own file
    with_stream = [{"device_id": "1", "user_compute_stream": "1234"}]
    assert optimized_model_key("ab" * 32, cpu, with_stream) == optimized_model_key(
        "ab" * 32, cpu, [{"device_id": "1"}]
    )
    monkeypatch.setattr(ort, "__version__", "9.99.0")
    assert optimized_model_key("ab" * 32, cpu, None) != key


def test_unwritable_folder_falls_back_silently(artifact: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    session, status = cached_session(artifact, cache=blocker / "cache")
    assert status == "skipped: folder not writable"
    assert session.get_inputs()[0].name == "z"


def test_save_failure_keeps_the_session(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: object, dst: object) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(orc.os, "replace", fail)
    session, status = cached_session(artifact, cache=True)
    assert status == "skipped: could not write the optimised model"
    assert session.get_inputs()[0].name == "z"
    assert cached_models(artifact.parent) == []
    assert not list((artifact.parent / ORT_CACHE_DIR).glob(".*.tmp*"))


def test_a_corrupt_cache_file_is_rebuilt(artifact: Path) -> None:
    OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    (name,) = cached_models(artifact.parent)
    (artifact.parent / ORT_CACHE_DIR / name).write_bytes(b"truncated")
    b = OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    assert b.cache_status.startswith("written ")
    np.testing.assert_array_equal(run(b), run(OnnxRuntimeBackend(artifact, "cpu")))


def test_the_remembered_hash_is_dropped_when_the_file_changes(artifact: Path) -> None:
    OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    memo = artifact.parent / ORT_CACHE_DIR / "gan.sha256.json"
    known = json.loads(memo.read_text())
    known["sha256"] = "f" * 64  # planted: used as long as the file's stat is unchanged
    memo.write_text(json.dumps(known))
    b = OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    assert b.cache_status.startswith(f"written {artifact.parent / ORT_CACHE_DIR}/gan.{'f' * 20}.")
    artifact.write_bytes(artifact.read_bytes())  # same bytes, rewritten: stat changes
    b = OnnxRuntimeBackend(artifact, "cpu", optimized_cache=True)
    assert f"gan.{'f' * 20}." not in b.cache_status
    assert json.loads(memo.read_text())["sha256"] != "f" * 64


def test_models_with_external_data_are_not_cached(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, path, save_as_external_data=True, size_threshold=0)
    b = OnnxRuntimeBackend(path, "cpu", optimized_cache=True)
    assert b.cache_status == "skipped: external data"
    assert not (tmp_path / ORT_CACHE_DIR / "ext.sha256.json").exists()
