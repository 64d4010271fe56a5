"""Every family's config.pbtxt, parsed by Triton's real ModelConfig, obeys Triton's shape rules.

The message class is ``tritonclient``'s generated ``model_config_pb2`` (Triton's own
model_config.proto), so an unknown field, a wrong type or a bad enum name fails the parse. The
rules are those Triton checks when it loads a model (``ValidateModelConfig``,
``ValidateIOShape`` and ``ValidateInstanceGroup`` in triton-inference-server/core's
model_config_utils.cc) and those its ONNX Runtime backend checks against the graph: names and
data types as in the graph, and ``dims`` (or the ``reshape`` shape, when one is given) equal to
the graph's shape less the batch axis when ``max_batch_size > 0``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from google.protobuf import text_format

from genedge.export import export_module
from genedge.export.engine_record import engine_record, record_engine
from genedge.export.onnx_export import export_run
from genedge.export.triton import write_triton_repo
from genedge.runtime import read_manifest
from genedge.runtime.engines import model_sha256, profile_shapes


def _model_config_pb2() -> ModuleType:
    """Triton's ``model_config_pb2`` from tritonclient, with or without its grpc extra.

    ``tritonclient.grpc``'s ``__init__`` needs grpcio (the ``[grpc]`` extra, which also pins
    protobuf below 7); the generated module itself needs only protobuf, so without grpcio it is
    loaded from its file in the installed package.
    """
    try:
        from tritonclient.grpc import model_config_pb2

        return model_config_pb2
    except (ImportError, RuntimeError):  # RuntimeError: tritonclient without the grpc extra
        pass
    spec = importlib.util.find_spec("tritonclient")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "grpc" / "model_config_pb2.py" if locations else None
    if path is None or not path.is_file():
        pytest.skip(
            "tritonclient is not installed (pip install 'tritonclient>=2.40'): Triton's "
            "ModelConfig protobuf comes from it",
            allow_module_level=True,
        )
    module_spec = importlib.util.spec_from_file_location("_triton_model_config_pb2", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


pb2 = _model_config_pb2()
from tritonclient.utils import np_to_triton_dtype  # noqa: E402  (after the skip above)

sys.path.insert(0, str(Path(__file__).parent))
import byom_models as bm  # noqa: E402

WILDCARD = -1  # triton::common::WILDCARD_DIM
STEPS = 3  # shapes and names are what is tested, not quality
FAMILIES = {  # family -> (data, overrides)
    "dcgan": ("digits", {"batch_size": 16}),
    "cgan": ("ring8", {}),
    "vae": ("digits", {"batch_size": 16}),
    "rgan": ("sines", {"batch_size": 16}),
}


@pytest.fixture(scope="module")
def artifacts(
    gan_points_onnx: Path, short_run: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """One exported artifact per family (gan from the shared fixture, the others briefly
    trained here)."""
    root = tmp_path_factory.mktemp("triton-families")
    out = {"gan": gan_points_onnx}
    for family, (data, overrides) in FAMILIES.items():
        run = short_run(root / family, family, data, STEPS, **overrides)
        out[family] = export_run(run, root / f"{family}.onnx").path
    return out


@pytest.fixture(params=["gan", "dcgan", "cgan", "vae", "rgan"])
def artifact(request: pytest.FixtureRequest, artifacts: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of one family's artifact (engine tests record into its manifest)."""
    p = tmp_path / "art" / f"{request.param}.onnx"
    p.parent.mkdir()
    shutil.copyfile(artifacts[request.param], p)
    return p


def _element_count(dims: list[int]) -> int:
    """Triton's GetElementCount: -1 with a wildcard, 0 for no dims, else the product."""
    if WILDCARD in dims:
        return WILDCARD
    count = 0
    for i, d in enumerate(dims):
        count = d if i == 0 else count * d
    return count


def _trunks(dims: list[int]) -> list[int]:
    """Element counts of the runs of fixed dims between wildcards (Triton's reshape check)."""
    counts, current = [], 1
    for d in dims:
        if d == WILDCARD:
            counts.append(current)
            current = 1
        else:
            current *= d
    return [*counts, current]


def _graph_tensors(model: onnx.ModelProto, section: str) -> dict[str, tuple[str, list[int]]]:
    """name -> (Triton data type, shape with -1 for a named or unknown axis) of a graph's
    inputs (initializers left out) or outputs."""
    graph = model.graph
    if section == "input":
        initializers = {i.name for i in graph.initializer}
        values = [v for v in graph.input if v.name not in initializers]
    else:
        values = list(graph.output)
    out = {}
    for v in values:
        t = v.type.tensor_type
        np_type = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        shape = [d.dim_value if d.HasField("dim_value") else WILDCARD for d in t.shape.dim]
        out[v.name] = (f"TYPE_{np_to_triton_dtype(np_type)}", shape)
    return out


def triton_problems(cfg: Any, folder: Path, graph: onnx.ModelProto, platform: str) -> list[str]:
    """Every way ``cfg`` (a parsed ModelConfig for ``folder``) breaks Triton's rules or
    disagrees with the graph it serves; empty when Triton would load it."""
    problems = []
    data_types = pb2.DataType.keys()
    kinds = pb2.ModelInstanceGroup.Kind
    if cfg.name != folder.name:
        problems.append(f"name {cfg.name!r} is not the folder's, {folder.name!r}")
    if cfg.platform != platform:
        problems.append(f"platform {cfg.platform!r}, expected {platform!r}")
    backend = {"onnxruntime_onnx": "onnxruntime", "tensorrt_plan": "tensorrt"}[platform]
    if cfg.backend not in ("", backend):
        problems.append(f"backend {cfg.backend!r} does not go with platform {platform!r}")
    if cfg.max_batch_size < 0:
        problems.append(f"max_batch_size {cfg.max_batch_size} is negative")
    batched = cfg.max_batch_size > 0
    for section, ios in (("input", cfg.input), ("output", cfg.output)):
        in_graph = _graph_tensors(graph, section)
        names = [io.name for io in ios]
        if sorted(names) != sorted(in_graph):
            problems.append(f"{section} names {names} are not the graph's {sorted(in_graph)}")
        for io in ios:
            where = f"{section} {io.name!r}"
            dims, has_reshape = list(io.dims), io.HasField("reshape")
            reshape = list(io.reshape.shape) if has_reshape else None
            type_name = pb2.DataType.Name(io.data_type)
            if not io.name:
                problems.append(f"{section} without a name")
            if io.data_type == pb2.TYPE_INVALID or type_name not in data_types:
                problems.append(f"{where}: data_type {type_name} is not valid")
            if not dims:
                problems.append(f"{where}: dims is empty (Triton: must specify 'dims')")
            if any(d < 1 and d != WILDCARD for d in dims):
                problems.append(f"{where}: dims {dims} must each be >= 1 or -1")
            if reshape is not None:
                if not reshape and not batched:
                    problems.append(f"{where}: empty reshape with max_batch_size 0")
                if any(d < 1 and d != WILDCARD for d in reshape):
                    problems.append(f"{where}: reshape {reshape} must each be >= 1 or -1")
                n_dims, n_reshape = _element_count(dims), _element_count(reshape)
                if n_dims != n_reshape and (n_reshape != 0 or n_dims != 1):
                    problems.append(f"{where}: dims {dims} and reshape {reshape} differ in size")
                if n_dims == WILDCARD and _trunks(dims) != _trunks(reshape):
                    problems.append(f"{where}: dims {dims} and reshape {reshape} do not match")
            if io.name not in in_graph:
                continue
            graph_type, graph_shape = in_graph[io.name]
            if type_name != graph_type:
                problems.append(f"{where}: data_type {type_name}, graph has {graph_type}")
            model_shape = reshape if reshape is not None else dims
            if batched:
                if graph_shape[:1] != [WILDCARD]:
                    problems.append(f"{where}: graph shape {graph_shape} has no dynamic batch")
                expected = graph_shape[1:]  # Triton's batch axis is implicit: not in dims
            else:
                expected = graph_shape
            if model_shape != expected:
                what = "reshape" if reshape is not None else "dims"
                problems.append(f"{where}: {what} {model_shape}, graph shape less batch {expected}")
    if not cfg.instance_group:
        problems.append("no instance_group")
    for group in cfg.instance_group:
        if group.kind not in (kinds.Value("KIND_GPU"), kinds.Value("KIND_CPU")):
            problems.append(f"instance_group kind {kinds.Name(group.kind)}")
        if group.count < 1:
            problems.append(f"instance_group count {group.count}")
        if platform == "tensorrt_plan" and group.kind != kinds.Value("KIND_GPU"):
            problems.append("a TensorRT plan in a non-GPU instance group")
    if cfg.HasField("dynamic_batching"):
        if not batched:
            problems.append("dynamic_batching with max_batch_size 0")
        for size in cfg.dynamic_batching.preferred_batch_size:
            if not 0 < size <= cfg.max_batch_size:
                problems.append(f"preferred batch size {size} not in 1..{cfg.max_batch_size}")
    return problems


def parse(folder: Path) -> Any:
    return text_format.Parse((folder / "config.pbtxt").read_text(), pb2.ModelConfig())


def test_every_familys_onnx_config_obeys_triton(artifact: Path, tmp_path: Path) -> None:
    folder = write_triton_repo(artifact, tmp_path / "repo")
    cfg = parse(folder)
    graph = onnx.load(str(folder / "1" / "model.onnx"))
    assert triton_problems(cfg, folder, graph, "onnxruntime_onnx") == []
    assert cfg.max_batch_size > 0  # every family today keeps its batch on axis 0


def test_every_familys_cpu_config_obeys_triton(artifact: Path, tmp_path: Path) -> None:
    folder = write_triton_repo(artifact, tmp_path / "repo", kind="cpu")
    cfg = parse(folder)
    assert triton_problems(cfg, folder, onnx.load(str(artifact)), "onnxruntime_onnx") == []
    assert [g.kind for g in cfg.instance_group] == [pb2.ModelInstanceGroup.KIND_CPU]


def test_every_familys_plan_config_obeys_triton(artifact: Path, tmp_path: Path) -> None:
    plan = artifact.with_suffix(".fp16.sm_89.plan")
    plan.write_bytes(b"not a real plan: Triton's config is what is tested")
    record_engine(
        artifact,
        engine_record(
            file=plan.name,
            precision="fp16",
            gpu_name="NVIDIA L4",
            compute_capability="8.9",
            tensorrt_version="10.3.0",
            batch_range=(1, 64, 1024),
            length_range=(1, 24, 256) if read_manifest(artifact).family == "rgan" else None,
            onnx_sha256=model_sha256(artifact),
        ),
    )
    folder = write_triton_repo(artifact, tmp_path / "repo", use_engine=plan)
    # The plan was built from the artifact's graph and keeps its tensors' names and shapes.
    assert triton_problems(parse(folder), folder, onnx.load(str(artifact)), "tensorrt_plan") == []


def test_a_label_input_is_dims_1_reshaped_to_batch_only(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    folder = write_triton_repo(artifacts["cgan"], tmp_path / "repo", name="cgan")
    label = next(i for i in parse(folder).input if i.data_type == pb2.TYPE_INT64)
    assert list(label.dims) == [1]
    assert label.HasField("reshape") and list(label.reshape.shape) == []
    assert "send it to Triton as [batch, 1]" in (folder / "README.txt").read_text()


def test_the_rule_checker_catches_what_triton_rejects(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    folder = write_triton_repo(artifacts["cgan"], tmp_path / "repo", name="cgan")
    graph = onnx.load(str(folder / "1" / "model.onnx"))

    def problems_after(change: Any) -> list[str]:
        cfg = parse(folder)
        change(cfg)
        return triton_problems(cfg, folder, graph, "onnxruntime_onnx")

    def label(cfg: Any) -> Any:
        return next(i for i in cfg.input if i.data_type == pb2.TYPE_INT64)

    assert problems_after(lambda cfg: None) == []
    # The defect this guards against: a batch-only label as `dims: [ ]`, no reshape.
    assert any(
        "dims is empty" in p
        for p in problems_after(
            lambda c: (label(c).ClearField("dims"), label(c).ClearField("reshape"))
        )
    )
    assert problems_after(lambda c: label(c).reshape.shape.append(2))  # reshape size != dims
    assert problems_after(lambda c: c.input[0].dims.insert(0, -1))  # batch axis left in dims
    assert problems_after(lambda c: c.input[0].dims.append(0))  # a 0 dim
    assert problems_after(lambda c: setattr(c.output[0], "data_type", pb2.TYPE_FP16))
    assert problems_after(lambda c: setattr(c.output[0], "name", "out"))
    assert problems_after(lambda c: setattr(c, "name", "other"))
    assert problems_after(lambda c: setattr(c, "max_batch_size", 0))  # empty reshape, batcher
    assert problems_after(lambda c: c.dynamic_batching.preferred_batch_size.append(4096))
    assert problems_after(lambda c: setattr(c.instance_group[0], "kind", 0))  # KIND_AUTO


class _StyleWithMapLatent(torch.nn.Module):
    """StyleLike fed a latent of rank 3, (N, 16, 1, 1), as DCGAN-style models take theirs."""

    def __init__(self) -> None:
        super().__init__()
        self.net = bm.StyleLike(z_dim=16, ch=4)

    def forward(self, z: Any, noise0: Any, noise1: Any, psi: Any) -> Any:
        return self.net(z.flatten(1), noise0, noise1, psi)


def test_a_custom_artifact_with_noise_truncation_and_a_rank_3_latent_obeys_triton(
    tmp_path: Path, torch_seed: int
) -> None:
    out = tmp_path / "style.onnx"
    export_module(
        _StyleWithMapLatent(), out, latent_shape=(16, 1, 1), value_range=(0, 255),
        model_range=(-1, 1), noise={"noise0": (1, 4, 4), "noise1": (1, 8, 8)}, truncation=True,
    )  # fmt: skip
    folder = write_triton_repo(out, tmp_path / "repo")
    cfg = parse(folder)
    assert triton_problems(cfg, folder, onnx.load(str(out)), "onnxruntime_onnx") == []
    assert cfg.max_batch_size > 0
    dims = {i.name: list(i.dims) for i in cfg.input}
    assert dims == {"z": [16, 1, 1], "noise0": [1, 4, 4], "noise1": [1, 8, 8], "psi": [1]}
    psi = next(i for i in cfg.input if i.name == "psi")
    assert psi.HasField("reshape") and list(psi.reshape.shape) == []  # (batch,) in the graph
    readme = (folder / "README.txt").read_text()
    assert "noise0: float32 ['batch', 1, 4, 4], standard normal noise (a noise input" in readme
    assert "psi: float32 ['batch'], the truncation psi, 1.0 for none" in readme
    assert "send it to Triton as [batch, 1]" in readme.split("psi:")[1]
    # What Triton would run: the model file as served gives the runtime's samples (raw).
    import onnxruntime as ort

    from genedge.runtime import Sampler

    s = Sampler(out, backend="cpu", threads=1)
    feed = s.feed(3, seed=5, truncation=0.7)
    served = ort.InferenceSession(str(folder / "1" / "model.onnx"))
    (raw,) = served.run(["sample"], feed)
    np.testing.assert_array_equal(raw, s.sample(3, seed=5, truncation=0.7, raw=True))
    # A TensorRT profile covers every input, psi and the noise maps included, and the plan's
    # config obeys the same rules.
    assert profile_shapes(s.manifest.sampler, (1, 64, 1024)) == {
        "z": ((1, 16, 1, 1), (64, 16, 1, 1), (1024, 16, 1, 1)),
        "noise0": ((1, 1, 4, 4), (64, 1, 4, 4), (1024, 1, 4, 4)),
        "noise1": ((1, 1, 8, 8), (64, 1, 8, 8), (1024, 1, 8, 8)),
        "psi": ((1,), (64,), (1024,)),
    }
    plan = out.with_suffix(".fp16.sm_89.plan")
    plan.write_bytes(b"not a real plan: Triton's config is what is tested")
    record_engine(
        out,
        engine_record(
            file=plan.name, precision="fp16", gpu_name="NVIDIA L4", compute_capability="8.9",
            tensorrt_version="10.3.0", batch_range=(1, 64, 1024), length_range=None,
            onnx_sha256=model_sha256(out),
        ),
    )  # fmt: skip
    folder = write_triton_repo(out, tmp_path / "repo", name="style-plan", use_engine=plan)
    assert triton_problems(parse(folder), folder, onnx.load(str(out)), "tensorrt_plan") == []
