"""Export: parity at two batch sizes, the manifest, all-or-nothing writes, and the graph lint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from genedge.export.lint import lint_graph
from genedge.export.onnx_export import ParityError, export_run, verify_artifact
from genedge.runtime import Sampler, read_manifest
from genedge.runtime.errors import OutputError
from genedge.train.reference import load_torch_sampler


def test_export_checks_parity_at_two_batch_sizes(gan_image_run: Path, tmp_path: Path) -> None:
    result = export_run(gan_image_run, tmp_path / "g.onnx")
    assert result.report.passed
    assert [c.batch for c in result.report.cases] == [1, 37]
    assert result.report.max_abs < 1e-5
    m = read_manifest(tmp_path / "g.onnx")
    assert m.parity["passed"] and m.parity["atol"] == 1e-5
    assert m.family == "gan" and m.latent_dim == 100 and m.sample_shape == (1, 8, 8)
    assert m.value_range == (0.0, 16.0)
    assert m.provenance["step"] == 30 and m.provenance["hparams"]["z_dim"] == 100


def test_exported_graph_is_clean(gan_image_onnx: Path) -> None:
    model = onnx.load(gan_image_onnx)
    assert lint_graph(model) == []
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch


def test_runtime_and_pytorch_give_the_same_samples_for_a_seed(
    gan_image_run: Path, gan_image_onnx: Path
) -> None:
    ref = load_torch_sampler(gan_image_run).sample(64, seed=0)
    got = Sampler(gan_image_onnx).sample(64, seed=0)
    # data units 0..16: the fp32 graph's 1e-7 error times the scale of 8
    np.testing.assert_allclose(got, ref, rtol=0, atol=16 * 1e-5)


def test_verify_reports_the_same_check(gan_image_run: Path, gan_image_onnx: Path) -> None:
    report = verify_artifact(gan_image_onnx, gan_image_run, batch_sizes=(2, 65))
    assert report.passed and [c.batch for c in report.cases] == [2, 65]


def test_failed_parity_writes_nothing_and_keeps_the_old_artifact(
    gan_image_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "g.onnx"
    out.write_bytes(b"previous artifact")
    with pytest.raises(ParityError, match="nothing written") as info:
        export_run(gan_image_run, out, atol=0.0, rtol=0.0, batch_sizes=(64,))
    assert not info.value.report.passed
    assert out.read_bytes() == b"previous artifact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]


def test_force_keeps_a_failed_export_and_says_so(gan_image_run: Path, tmp_path: Path) -> None:
    result = export_run(
        gan_image_run, tmp_path / "g.onnx", atol=0.0, rtol=0.0, batch_sizes=(64,), force=True
    )
    assert not result.report.passed
    assert read_manifest(tmp_path / "g.onnx").parity["passed"] is False


def test_export_refuses_bad_output_paths(gan_image_run: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"writes an \.onnx file"):
        export_run(gan_image_run, tmp_path / "g.txt")
    with pytest.raises(OutputError, match="does not exist"):
        export_run(gan_image_run, tmp_path / "missing" / "g.onnx")


def _graph(nodes, inputs, outputs) -> onnx.ModelProto:
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs))


def test_lint_names_training_mode_batchnorm_random_ops_and_static_batch() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    bn = helper.make_node(
        "BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn1", training_mode=1
    )
    rnd = helper.make_node("RandomNormalLike", ["x"], ["r"], name="noise")
    problems = lint_graph(_graph([bn, rnd], [x], [y]))
    assert any("bn1" in p and "training mode" in p for p in problems)
    assert any("noise" in p and "RandomNormalLike" in p for p in problems)
    assert any("input 'x'" in p and "not dynamic" in p for p in problems)
    assert not any("output 'y'" in p for p in problems)
