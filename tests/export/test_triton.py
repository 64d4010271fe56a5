"""Triton model repositories: config.pbtxt agrees with the manifest, the model is the artifact.

The parse here uses a dependency-free subset of Triton's ModelConfig; test_triton_rules.py
checks every family against the real one (from tritonclient) and Triton's shape rules.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from genedge.export.engine_record import engine_record, record_engine
from genedge.export.triton import implicit_batch, triton_config, write_triton_repo
from genedge.runtime import read_manifest
from genedge.runtime.engines import model_sha256
from genedge.runtime.errors import InputError, OutputError
from genedge.runtime.manifest import GraphSpec, Manifest, Preprocessing, TensorSpec

# The subset of Triton's ModelConfig (triton-inference-server/common, protobuf/model_config.proto)
# that genedge writes, with Triton's field names, numbers and enum values. Parsing against it is
# strict: an unknown field, a wrong type or a bad enum name fails the test.
_DATA_TYPES = [
    "TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64",
    "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32",
    "TYPE_FP64", "TYPE_STRING", "TYPE_BF16",
]  # fmt: skip
_F = descriptor_pb2.FieldDescriptorProto


def _model_config_class() -> Any:
    f = descriptor_pb2.FileDescriptorProto(
        name="genedge_test_model_config.proto", package="inference", syntax="proto3"
    )
    dt = f.enum_type.add(name="DataType")
    for i, n in enumerate(_DATA_TYPES):
        dt.value.add(name=n, number=i)

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> Any:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name
        return m

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    tensor = [
        ("name", 1, _F.TYPE_STRING, one, ""),
        ("data_type", 2, _F.TYPE_ENUM, one, ".inference.DataType"),
        ("reshape", 5, _F.TYPE_MESSAGE, one, ".inference.ModelTensorReshape"),
    ]
    message("ModelTensorReshape", [("shape", 1, _F.TYPE_INT64, many, "")])
    message("ModelInput", [*tensor, ("dims", 4, _F.TYPE_INT64, many, "")])
    message("ModelOutput", [*tensor, ("dims", 3, _F.TYPE_INT64, many, "")])
    message(
        "ModelDynamicBatching",
        [
            ("preferred_batch_size", 1, _F.TYPE_INT32, many, ""),
            ("max_queue_delay_microseconds", 2, _F.TYPE_UINT64, one, ""),
        ],
    )
    group = message(
        "ModelInstanceGroup",
        [
            ("count", 2, _F.TYPE_INT32, one, ""),
            ("kind", 4, _F.TYPE_ENUM, one, ".inference.ModelInstanceGroup.Kind"),
        ],
    )
    kind = group.enum_type.add(name="Kind")
    for i, n in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]):
        kind.value.add(name=n, number=i)
    message(
        "ModelConfig",
        [
            ("name", 1, _F.TYPE_STRING, one, ""),
            ("platform", 2, _F.TYPE_STRING, one, ""),
            ("max_batch_size", 4, _F.TYPE_INT32, one, ""),
            ("input", 5, _F.TYPE_MESSAGE, many, ".inference.ModelInput"),
            ("output", 6, _F.TYPE_MESSAGE, many, ".inference.ModelOutput"),
            ("instance_group", 7, _F.TYPE_MESSAGE, many, ".inference.ModelInstanceGroup"),
            ("dynamic_batching", 11, _F.TYPE_MESSAGE, one, ".inference.ModelDynamicBatching"),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


ModelConfig = _model_config_class()
TRITON = {"float32": "TYPE_FP32", "int64": "TYPE_INT64", "float16": "TYPE_FP16"}


def parse_config(text: str) -> Any:
    return text_format.Parse(text, ModelConfig())


def type_name(cfg: Any, value: int) -> str:
    return cfg.DESCRIPTOR.file.enum_types_by_name["DataType"].values_by_number[value].name


def _manifest(inputs: list[TensorSpec], output: TensorSpec, **kw: Any) -> Manifest:
    return Manifest(
        family=kw.pop("family", "rgan"),
        graphs={"sampler": GraphSpec(None, tuple(inputs), (output,))},
        latent_dim=4,
        output_kind="sequence",
        sample_shape=("length", 3),
        preprocessing=Preprocessing(),
        default_length=24,
        **kw,
    )


@pytest.fixture()
def artifact(gan_points_onnx: Path, tmp_path: Path) -> Path:
    p = tmp_path / "art" / "ring.onnx"
    p.parent.mkdir()
    shutil.copyfile(gan_points_onnx, p)
    return p


def test_config_agrees_with_the_manifest(artifact: Path, tmp_path: Path) -> None:
    folder = write_triton_repo(artifact, tmp_path / "repo", preferred_batch_sizes=(8, 64))
    assert folder == tmp_path / "repo" / "ring"
    m = read_manifest(artifact)
    cfg = parse_config((folder / "config.pbtxt").read_text())
    assert cfg.name == "ring" and cfg.platform == "onnxruntime_onnx"
    assert cfg.max_batch_size == 1024
    for got, spec in zip(
        [*cfg.input, *cfg.output], [*m.sampler.inputs, *m.sampler.outputs], strict=True
    ):
        assert got.name == spec.name
        assert type_name(cfg, got.data_type) == TRITON[spec.dtype]
        assert spec.shape[0] == "batch"  # implicit in Triton, so left out of dims
        assert list(got.dims) == [-1 if isinstance(d, str) else d for d in spec.shape[1:]]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [8, 64]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 100
    (group,) = cfg.instance_group
    assert group.count == 1 and group.kind == 1  # KIND_GPU
    readme = (folder / "README.txt").read_text()
    assert "tritonserver --model-repository" in readme and "perf_analyzer -m ring" in readme
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["ring"]  # no temp left


def test_served_model_is_the_artifact(artifact: Path, tmp_path: Path) -> None:
    model = write_triton_repo(artifact, tmp_path / "repo") / "1" / "model.onnx"
    assert model.read_bytes() == artifact.read_bytes()
    z = np.random.default_rng(0).standard_normal((5, read_manifest(artifact).latent_dim))
    feed = {"z": z.astype(np.float32)}
    a = ort.InferenceSession(str(artifact), providers=["CPUExecutionProvider"]).run(None, feed)
    b = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, feed)
    np.testing.assert_array_equal(a[0], b[0])


def test_existing_model_folder_is_kept_unless_overwrite(artifact: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_triton_repo(artifact, repo, instances=1)
    with pytest.raises(OutputError, match="exists"):
        write_triton_repo(artifact, repo, instances=3)
    assert "count: 1" in (repo / "ring" / "config.pbtxt").read_text()
    write_triton_repo(artifact, repo, instances=3, kind="cpu", overwrite=True)
    cfg = parse_config((repo / "ring" / "config.pbtxt").read_text())
    assert cfg.instance_group[0].count == 3 and cfg.instance_group[0].kind == 2  # KIND_CPU
    assert sorted(p.name for p in repo.iterdir()) == ["ring"]


def test_batch_off_axis_0_turns_implicit_batching_off() -> None:
    m = _manifest(
        [
            TensorSpec("z", "float32", ("batch", "length", 4), "latent"),
            TensorSpec("h0", "float32", (2, "batch", 16), "state"),
        ],
        TensorSpec("x", "float32", ("batch", "length", 3)),
    )
    assert not implicit_batch(m)
    text = triton_config(m, "seq")
    assert "max_batch_size: 0" in text and "axis 0" in text  # the comment says why
    cfg = parse_config(text)
    assert cfg.max_batch_size == 0
    assert [list(t.dims) for t in cfg.input] == [[-1, -1, 4], [2, -1, 16]]
    assert [list(t.dims) for t in cfg.output] == [[-1, -1, 3]]
    assert not cfg.HasField("dynamic_batching")  # Triton's dynamic batcher needs a batch axis


def test_sequence_model_with_batch_first_keeps_batching() -> None:
    m = _manifest(
        [
            TensorSpec("z", "float32", ("batch", "length", 4), "latent"),
            TensorSpec("h0", "float32", ("batch", 2, 16), "state"),
        ],
        TensorSpec("x", "float32", ("batch", "length", 3)),
    )
    cfg = parse_config(triton_config(m, "seq", max_batch_size=256))
    assert cfg.max_batch_size == 256
    assert [list(t.dims) for t in cfg.input] == [[-1, 4], [2, 16]]


def _cgan_manifest() -> Manifest:
    return _manifest(
        [
            TensorSpec("z", "float32", ("batch", 4), "latent"),
            TensorSpec("y", "int64", ("batch",), "label"),
        ],
        TensorSpec("x", "float16", ("batch", 3)),
        family="cgan",
        num_classes=10,
    )


def test_labels_are_int64() -> None:
    cfg = parse_config(triton_config(_cgan_manifest(), "c"))
    assert [type_name(cfg, t.data_type) for t in cfg.input] == ["TYPE_FP32", "TYPE_INT64"]
    assert type_name(cfg, cfg.output[0].data_type) == "TYPE_FP16"


def test_batch_only_label_is_dims_1_with_an_empty_reshape() -> None:
    # Triton rejects `dims: [ ]` ("must specify 'dims'"): a tensor shaped (batch,) in the graph
    # is declared [1] per item and reshaped to [] before the model sees it.
    cfg = parse_config(triton_config(_cgan_manifest(), "c"))
    z, y = cfg.input
    assert list(z.dims) == [4] and not z.HasField("reshape")
    assert list(y.dims) == [1] and y.HasField("reshape") and list(y.reshape.shape) == []
    assert all(list(t.dims) for t in [*cfg.input, *cfg.output])


def test_a_scalar_without_implicit_batching_is_an_input_error() -> None:
    m = _manifest(
        [
            TensorSpec("z", "float32", ("batch", "length", 4), "latent"),
            TensorSpec("h0", "float32", (2, "batch", 16), "state"),
            TensorSpec("t", "float32", (), "data"),
        ],
        TensorSpec("x", "float32", ("batch", "length", 3)),
    )
    with pytest.raises(InputError, match="'t' is a scalar"):
        triton_config(m, "seq")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"preferred_batch_sizes": (64, 2048)}, "at most max_batch_size"),
        ({"preferred_batch_sizes": ()}, "preferred"),
        ({"max_queue_delay_us": -1}, "max_queue_delay_us"),
        ({"instances": 0}, "instances"),
        ({"kind": "GPU"}, "instance kind must be one of gpu, cpu"),
        ({"kind": "KIND_AUTO"}, "instance kind"),
        ({"kind": None}, "instance kind"),
        ({"name": "../evil"}, "model name"),
    ],
)
def test_bad_settings_are_input_errors(
    artifact: Path, tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        write_triton_repo(artifact, tmp_path / "repo", **kw)
    assert not (tmp_path / "repo" / "ring").exists()


def _record_fake_engine(artifact: Path, graph_hash: str, batch_max: int = 1024) -> Path:
    plan = artifact.parent / "ring.fp16.sm_89.plan"
    plan.write_bytes(b"not a real plan: Triton's config is what is tested")
    record_engine(
        artifact,
        engine_record(
            file=plan.name,
            precision="fp16",
            gpu_name="NVIDIA L4",
            compute_capability="8.9",
            tensorrt_version="10.3.0",
            batch_range=(1, 64, batch_max),
            length_range=None,
            onnx_sha256=graph_hash,
        ),
    )
    return plan


def test_a_recorded_engine_is_served_as_a_plan(artifact: Path, tmp_path: Path) -> None:
    plan = _record_fake_engine(artifact, model_sha256(artifact))
    folder = write_triton_repo(artifact, tmp_path / "repo", use_engine=plan)
    assert (folder / "1" / "model.plan").read_bytes() == plan.read_bytes()
    assert not (folder / "1" / "model.onnx").exists()
    assert parse_config((folder / "config.pbtxt").read_text()).platform == "tensorrt_plan"
    with pytest.raises(InputError, match="batches up to 1024"):
        write_triton_repo(artifact, tmp_path / "r2", use_engine=plan, max_batch_size=2048)


def test_kind_cpu_writes_a_cpu_instance_group(artifact: Path, tmp_path: Path) -> None:
    default = parse_config(
        (write_triton_repo(artifact, tmp_path / "gpu") / "config.pbtxt").read_text()
    )
    assert [g.kind for g in default.instance_group] == [1]  # KIND_GPU, as before
    folder = write_triton_repo(artifact, tmp_path / "cpu", kind="cpu", instances=2)
    text = (folder / "config.pbtxt").read_text()
    assert "kind: KIND_CPU" in text
    assert "--gpus" not in (folder / "README.txt").read_text()
    (group,) = parse_config(text).instance_group
    assert group.kind == 2 and group.count == 2  # KIND_CPU


def test_an_engine_on_the_cpu_is_an_input_error(artifact: Path, tmp_path: Path) -> None:
    plan = _record_fake_engine(artifact, model_sha256(artifact))
    with pytest.raises(InputError, match="runs only on a GPU"):
        write_triton_repo(artifact, tmp_path / "repo", use_engine=plan, kind="cpu")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
def test_written_files_honour_the_umask(artifact: Path, tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        folder = write_triton_repo(artifact, tmp_path / "repo")
        folder = write_triton_repo(artifact, tmp_path / "repo", overwrite=True)  # the swap path
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    for d in (tmp_path / "repo", folder, folder / "1"):
        assert mode(d) == 0o777 & ~umask, d
    for f in (folder / "config.pbtxt", folder / "README.txt", folder / "1" / "model.onnx"):
        assert mode(f) == 0o666 & ~umask, f
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["ring"]


def test_foreign_or_stale_engines_are_refused(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an engine of ring.onnx"):
        write_triton_repo(artifact, tmp_path / "repo", use_engine=tmp_path / "other.plan")
    plan = _record_fake_engine(artifact, "0" * 64)
    with pytest.raises(InputError, match="stale"):
        write_triton_repo(artifact, tmp_path / "repo", use_engine=plan)


def test_cli_export_writes_a_triton_repo(gan_points_run: Path, tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "genedge",
            "export",
            str(gan_points_run),
            "--out",
            str(tmp_path / "ring.onnx"),
            "--triton-repo",
            str(tmp_path / "repo"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert r.returncode == 0, r.stderr
    cfg = parse_config((tmp_path / "repo" / "ring" / "config.pbtxt").read_text())
    assert cfg.name == "ring" and cfg.input[0].name == "z"
    model = tmp_path / "repo" / "ring" / "1" / "model.onnx"
    assert model.read_bytes() == (tmp_path / "ring.onnx").read_bytes()
