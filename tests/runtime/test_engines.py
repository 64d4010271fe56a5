"""Engine keying: which compiled engine may run on this GPU, and why the others may not."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genedge.export.engine_record import engine_file_name, engine_record, record_engine
from genedge.runtime import Sampler, read_manifest
from genedge.runtime.engines import (
    check_range,
    default_length_range,
    model_sha256,
    parse_range,
    profile_shapes,
    select_engine,
)
from genedge.runtime.errors import InputError
from genedge.runtime.manifest import METADATA_KEY, GraphSpec, Manifest, Preprocessing, TensorSpec

GPU = ("NVIDIA A100-SXM4-80GB", "8.0", "10.5.0")  # name, compute capability, TensorRT


@pytest.fixture()
def artifact(gan_points_onnx: Path, tmp_path: Path) -> Path:
    p = tmp_path / "gan.onnx"
    shutil.copyfile(gan_points_onnx, p)
    return p


def add_engine(artifact: Path, *, write: bool = True, **changes: Any) -> Path:
    """Record an engine built on GPU (a plain file stands in for the plan)."""
    fields: dict[str, Any] = {
        "precision": "fp16",
        "gpu_name": GPU[0],
        "compute_capability": GPU[1],
        "tensorrt_version": GPU[2],
        "batch_range": (1, 64, 1024),
        "length_range": None,
        "onnx_sha256": model_sha256(artifact),
    }
    fields.update(changes)
    name = engine_file_name(artifact.stem, fields["precision"], fields["compute_capability"])
    if write:
        (artifact.parent / name).write_bytes(b"plan")
    record_engine(artifact, engine_record(file=name, **fields))
    return artifact.parent / name


def select(artifact: Path, precision: str | None = "fp16", gpu: tuple[str, str, str] = GPU):
    return select_engine(read_manifest(artifact), artifact, *gpu, precision)


def test_matching_engine_is_selected(artifact: Path) -> None:
    plan = add_engine(artifact)
    assert plan.name == "gan.fp16.sm_80.plan"
    got, reason = select(artifact)
    assert got == plan
    assert "using gan.fp16.sm_80.plan" in reason and "TensorRT 10.5.0" in reason


def test_no_engine_says_how_to_build_one(artifact: Path) -> None:
    got, reason = select(artifact)
    assert got is None
    assert "no TensorRT engine has been compiled for gan.onnx" in reason
    assert "genedge compile gan.onnx" in reason


def test_engine_for_another_architecture_is_refused(artifact: Path) -> None:
    add_engine(artifact, compute_capability="9.0", tensorrt_version="10.3.0")
    got, reason = select(artifact)
    assert got is None
    assert "was built for sm_90 / TensorRT 10.3.0; this GPU is sm_80 / TensorRT 10.5.0" in reason
    assert reason.endswith("rebuild it with `genedge compile gan.onnx --precision fp16`")


def test_engine_for_another_tensorrt_version_is_refused(artifact: Path) -> None:
    add_engine(artifact, tensorrt_version="10.3.0")
    got, reason = select(artifact)
    assert got is None
    assert "built for sm_80 / TensorRT 10.3.0; this GPU is sm_80 / TensorRT 10.5.0" in reason


def test_engine_of_another_precision_is_refused(artifact: Path) -> None:
    add_engine(artifact, precision="fp32")
    got, reason = select(artifact, "fp16")
    assert got is None and "is fp32; fp16 was asked for" in reason
    got, _ = select(artifact, None)  # either precision will do
    assert got is not None and got.name == "gan.fp32.sm_80.plan"


def test_fp16_is_preferred_when_any_precision_will_do(artifact: Path) -> None:
    add_engine(artifact, precision="fp32")
    add_engine(artifact, precision="fp16")
    got, _ = select(artifact, None)
    assert got is not None and got.name == "gan.fp16.sm_80.plan"


def test_stale_engine_is_refused(artifact: Path) -> None:
    add_engine(artifact, onnx_sha256="ab" * 32)
    got, reason = select(artifact)
    assert got is None
    assert "engine gan.fp16.sm_80.plan is stale" in reason and "abababababab" in reason


def test_engine_goes_stale_when_the_graph_changes(artifact: Path, tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    add_engine(artifact)
    model = onnx.load(artifact)
    init = model.graph.initializer[0]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1, init.name))
    onnx.save(model, artifact)  # same manifest (engine record included), new weights
    got, reason = select(artifact)
    assert got is None and "stale" in reason


def test_missing_engine_file_is_refused(artifact: Path) -> None:
    add_engine(artifact, write=False)
    got, reason = select(artifact)
    assert got is None
    assert "engine gan.fp16.sm_80.plan is in the manifest but missing beside" in reason


def test_incomplete_record_is_refused(artifact: Path) -> None:
    record_engine(artifact, {"file": "gan.fp16.sm_80.plan", "precision": "fp16"})
    got, reason = select(artifact)
    assert got is None and "incomplete record (no gpu_name" in reason


def test_same_architecture_other_gpu_model_runs_and_says_so(artifact: Path) -> None:
    add_engine(artifact, gpu_name="NVIDIA A30")
    got, reason = select(artifact)
    assert got is not None
    assert "built on NVIDIA A30, running on NVIDIA A100-SXM4-80GB" in reason


def test_every_mismatch_is_listed(artifact: Path) -> None:
    add_engine(artifact, compute_capability="8.9")
    add_engine(artifact, precision="fp32")
    got, reason = select(artifact)
    assert got is None
    assert "gan.fp16.sm_89.plan was built for sm_89" in reason
    assert "gan.fp32.sm_80.plan is fp32" in reason


def test_recording_an_engine_keeps_the_model_and_its_hash(artifact: Path) -> None:
    before = read_manifest(artifact)
    graph_hash = model_sha256(artifact)
    x0 = Sampler(artifact, backend="cpu").sample(37, seed=3)
    add_engine(artifact)
    add_engine(artifact, tensorrt_version="10.6.0")  # same file name: replaces the record
    after = read_manifest(artifact)
    assert len(after.engines) == 1 and after.engines[0]["tensorrt_version"] == "10.6.0"
    assert after.with_updates(engines=()) == before
    assert model_sha256(artifact) == graph_hash
    np.testing.assert_array_equal(Sampler(artifact, backend="cpu").sample(37, seed=3), x0)


def test_recording_keeps_other_metadata(artifact: Path) -> None:
    import onnx

    model = onnx.load(artifact)
    extra = model.metadata_props.add()
    extra.key, extra.value = "owner", "team-a"
    onnx.save(model, artifact)
    add_engine(artifact)
    props = {p.key: p.value for p in onnx.load(artifact).metadata_props}
    assert props["owner"] == "team-a" and METADATA_KEY in props


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:64", "MIN:OPT:MAX"),
        ("1:64:1024:2048", "MIN:OPT:MAX"),
        ("a:b:c", "MIN:OPT:MAX"),
        ("", "MIN:OPT:MAX"),
        ("0:1:2", "at least 1"),
        ("-1:1:2", "at least 1"),
        ("8:4:16", "min <= opt <= max"),
        ("1:64:32", "min <= opt <= max"),
    ],
)
def test_bad_ranges_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_range(text, "--batch-range")


def test_good_ranges_parse() -> None:
    assert parse_range("1:64:1024") == (1, 64, 1024)
    assert parse_range("8:8:8") == (8, 8, 8)
    with pytest.raises(InputError):
        check_range((1, 2.5, 3))  # type: ignore[arg-type]
    with pytest.raises(InputError):
        check_range((True, 2, 3))


def _seq_manifest(h0_shape: tuple[int | str, ...]) -> Manifest:
    graph = GraphSpec(
        None,
        (
            TensorSpec("z", "float32", ("batch", "length", 4), "latent"),
            TensorSpec("h0", "float32", h0_shape, "state"),
        ),
        (TensorSpec("x", "float32", ("batch", "length", 3)),),
    )
    return Manifest(
        family="rgan",
        graphs={"sampler": graph},
        latent_dim=4,
        output_kind="sequence",
        sample_shape=("length", 3),
        preprocessing=Preprocessing(),
        default_length=24,
    )


def test_profile_covers_batch_on_any_axis_and_length() -> None:
    m = _seq_manifest((2, "batch", 16))
    assert default_length_range(m) == (1, 24, 256)
    shapes = profile_shapes(m.sampler, (1, 64, 1024), (8, 24, 256))
    assert shapes == {
        "z": ((1, 8, 4), (64, 24, 4), (1024, 256, 4)),
        "h0": ((2, 1, 16), (2, 64, 16), (2, 1024, 16)),
    }


def test_profile_errors_name_the_problem(gan_points_onnx: Path) -> None:
    seq = _seq_manifest(("batch", 2, 16))
    with pytest.raises(InputError, match="axis 'length' with no range"):
        profile_shapes(seq.sampler, (1, 64, 1024))
    gan = read_manifest(gan_points_onnx)
    assert default_length_range(gan) is None
    with pytest.raises(InputError, match="only to sequence models"):
        profile_shapes(gan.sampler, (1, 64, 1024), (1, 8, 16))
    odd = GraphSpec(None, (TensorSpec("z", "float32", ("n", 4), "latent"),), seq.sampler.outputs)
    with pytest.raises(InputError, match="axis 'n'"):
        profile_shapes(odd, (1, 64, 1024))


def test_tensorrt_ep_options_key_the_cache_and_list_every_dynamic_input(
    artifact: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    from genedge.runtime.backends.onnxruntime_backend import tensorrt_ep_options

    opts = tensorrt_ep_options(artifact)
    cache = Path(opts["trt_engine_cache_path"])
    assert cache == tmp_path / ".genedge-trt-cache" / (
        f"gan-{model_sha256(artifact)[:16]}-ort{ort.__version__}"
    )
    assert cache.is_dir() and opts["trt_timing_cache_path"] == str(cache)
    assert opts["trt_engine_cache_enable"] == opts["trt_timing_cache_enable"] == "True"
    assert opts["trt_profile_min_shapes"] == "z:1x2"
    assert opts["trt_profile_opt_shapes"] == "z:64x2"
    assert opts["trt_profile_max_shapes"] == "z:1024x2"
    mine = tensorrt_ep_options(artifact, tmp_path / "elsewhere")
    assert mine["trt_engine_cache_path"] == str(tmp_path / "elsewhere")


def test_describe_engines_gives_each_key_and_whether_it_runs_here(artifact: Path) -> None:
    from genedge.runtime.engines import describe_engines

    add_engine(artifact)
    add_engine(artifact, precision="fp32", compute_capability="9.0", gpu_name="NVIDIA H100")
    (artifact.parent / "gan.fp16.sm_75.plan").write_bytes(b"left over")  # never recorded
    m = read_manifest(artifact)
    key = "fp16, sm_80 (NVIDIA A100-SXM4-80GB), TensorRT 10.5.0, batch 1:64:1024"
    here = describe_engines(m, artifact, (GPU[0], GPU[1]), GPU[2])
    assert here[0] == ("gan.fp16.sm_80.plan", key, "available")
    assert here[1][0] == "gan.fp32.sm_90.plan"
    assert here[1][2] == (
        "not available: was built for sm_90 / TensorRT 10.5.0; this GPU is sm_80 / TensorRT 10.5.0"
    )
    assert here[2][0] == "gan.fp16.sm_75.plan"
    assert here[2][2].startswith("not available: not recorded in the manifest")
    # on this machine: no GPU, so nothing is available, and it says why
    nogpu = describe_engines(m, artifact, "no GPU (no NVIDIA driver on this machine)", None)
    assert nogpu[0] == (
        "gan.fp16.sm_80.plan",
        key,
        "not available: no GPU (no NVIDIA driver on this machine)",
    )
    # a GPU but no TensorRT
    assert describe_engines(m, artifact, (GPU[0], GPU[1]), None)[0][2] == (
        "not available: TensorRT is not installed"
    )


def test_describe_engines_reports_stale_and_missing_plans(artifact: Path) -> None:
    from genedge.runtime.engines import describe_engines

    add_engine(artifact, onnx_sha256="0" * 64)
    add_engine(artifact, precision="fp32", write=False)
    rows = describe_engines(read_manifest(artifact), artifact, (GPU[0], GPU[1]), GPU[2])
    assert "is stale: it was built from another version of gan.onnx" in rows[0][2]
    assert rows[1][2] == "not available: is in the manifest but missing beside the artifact"


def test_info_lists_engines_and_says_there_is_no_gpu(artifact: Path) -> None:
    from typer.testing import CliRunner

    from genedge.cli import app
    from genedge.runtime.backends.tensorrt_backend import local_gpu

    gpu = local_gpu()
    if not isinstance(gpu, str):  # pragma: no cover - a GPU machine
        pytest.skip("this machine has a GPU")
    add_engine(artifact)
    r = CliRunner().invoke(app, ["info", str(artifact)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "engine gan.fp16.sm_80.plan" in text
    assert "TensorRT 10.5.0, batch 1:64:1024: not available: no GPU" in text
    assert "backend auto │ cpu (skipped tensorrt:" in text
    assert not (artifact.parent / ".genedge-ort-cache").exists()  # info writes nothing
