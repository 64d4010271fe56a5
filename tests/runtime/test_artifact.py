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
