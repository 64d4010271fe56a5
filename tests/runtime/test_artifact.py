"""Bad model files give ArtifactError/ManifestError with a reason, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from genedge.runtime import ArtifactError, ManifestError, Sampler, read_manifest


def test_manifest_reads_without_a_session(gan_image_onnx: Path) -> None:
    m = read_manifest(gan_image_onnx)
    assert m.family == "gan" and m.sample_shape == (1, 8, 8)
    assert m.parity["passed"] is True
    assert m.provenance["step"] == 30


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        Sampler(tmp_path / "nope.onnx")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="got a folder"):
        Sampler(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(ArtifactError, match="empty"):
        Sampler(tmp_path / "e.onnx")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(gan_image_onnx: Path, tmp_path: Path, keep: float) -> None:
    data = gan_image_onnx.read_bytes()
    p = tmp_path / "t.onnx"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ArtifactError):
        Sampler(p)


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "r.onnx"
    p.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(ArtifactError):
        Sampler(p)


def test_onnx_without_manifest(gan_image_onnx: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(gan_image_onnx)
    del model.metadata_props[:]
    p = tmp_path / "plain.onnx"
    onnx.save(model, p)
    with pytest.raises(ManifestError, match="has no genedge manifest"):
        Sampler(p)


def test_corrupt_graph_with_valid_manifest(gan_image_onnx: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(gan_image_onnx)
    model.graph.node[0].op_type = "NoSuchOp"
    p = tmp_path / "bad.onnx"
    onnx.save(model, p)
    with pytest.raises(ArtifactError, match="cannot load bad.onnx"):
        Sampler(p, backend="cpu")


def _external_data_model(folder: Path, location: str) -> Path:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "W")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        e = w.external_data.add()
        e.key, e.value = k, v
    w.ClearField("raw_data")
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    g = helper.make_graph([helper.make_node("MatMul", ["z", "W"], ["x"])], "g", [z], [x], [w])
    path = folder / "m.onnx"
    path.write_bytes(helper.make_model(g).SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, location: str) -> None:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    (tmp_path / "secret.bin").write_bytes(b"S" * 16)
    (tmp_path / "art").mkdir()
    path = _external_data_model(tmp_path / "art", location)
    with pytest.raises(ArtifactError, match="outside its folder"):
        read_manifest(path)
    with pytest.raises(ArtifactError, match="outside its folder"):
        OnnxRuntimeBackend(path)


def test_external_data_beside_the_model_is_allowed(tmp_path: Path) -> None:
    import numpy as np

    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    (tmp_path / "m.onnx.data").write_bytes(np.full(4, 2.0, np.float32).tobytes())
    path = _external_data_model(tmp_path, "m.onnx.data")
    (out,) = OnnxRuntimeBackend(path).run({"z": np.ones((1, 2), np.float32)})
    np.testing.assert_array_equal(out, [[4.0, 4.0]])
