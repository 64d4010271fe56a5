"""Reduced-precision export: fp16 and int8 graphs keep float32 edges and pass their parity."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto

from genedge.export.onnx_export import ExportResult, export_run
from genedge.export.parity import DEFAULT_TOLERANCES
from genedge.export.precision import decision_nodes
from genedge.runtime import Sampler, read_manifest
from genedge.runtime.errors import GenedgeError, InputError

if TYPE_CHECKING:
    from conftest import ShortRun

PRECISIONS = ("fp16", "int8")
QDQ = {"QuantizeLinear", "DequantizeLinear"}

Trainer = Callable[[str, str], Path]


@pytest.fixture(scope="module")
def train_briefly(
    tmp_path_factory: pytest.TempPathFactory, short_run: ShortRun, pinned_threads: int
) -> Trainer:
    """Train a family for 20 steps (shapes and graph structure, not quality), on one thread:
    on a busy machine torch's GRU is ~50x slower with more."""

    def run(family: str, data: str) -> Path:
        return short_run(tmp_path_factory.mktemp("runs") / family, family, data, 20)

    return run


@pytest.fixture(scope="module")
def gan_exports(gan_image_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("precision")
    return {p: export_run(gan_image_run, folder / f"gan-{p}.onnx", precision=p) for p in PRECISIONS}


@pytest.fixture(scope="module")
def dcgan_exports(
    train_briefly: Trainer, digits_npz: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    run = train_briefly("dcgan", str(digits_npz))
    folder = tmp_path_factory.mktemp("precision")
    return {
        p: export_run(run, folder / f"dcgan-{p}.onnx", precision=p) for p in ("fp32", *PRECISIONS)
    }


def _io_types(model: onnx.ModelProto) -> set[int]:
    return {t.type.tensor_type.elem_type for t in (*model.graph.input, *model.graph.output)}


def _check_artifact(result: ExportResult, precision: str) -> onnx.ModelProto:
    """Manifest, parity at two batch sizes with the precision's tolerances, float32 edges."""
    manifest = read_manifest(result.path)
    assert manifest.precision == precision
    assert result.report.passed
    assert [c.batch for c in result.report.cases] == [1, 37]
    atol, rtol = DEFAULT_TOLERANCES[precision]
    assert (manifest.parity["atol"], manifest.parity["rtol"]) == (atol, rtol)
    model = onnx.load(result.path)
    assert _io_types(model) == {TensorProto.FLOAT}
    ops = {n.op_type for n in model.graph.node}
    if precision == "fp16":
        # Everything but the inputs of discrete decisions (see decision_nodes) is float16.
        decided = {i for n in model.graph.node if n.name in decision_nodes(model) for i in n.input}
        floats = {i.data_type for i in model.graph.initializer if i.name not in decided}
        assert floats - {TensorProto.INT64} == {TensorProto.FLOAT16}
        assert not ops & QDQ
    else:
        assert ops >= QDQ
        assert [o.domain for o in model.opset_import] == [""]  # no onnxruntime-only domains
    return model


@pytest.mark.parametrize("precision", PRECISIONS)
def test_gan_export(gan_exports: dict, gan_image_onnx: Path, precision: str) -> None:
    result = gan_exports[precision]
    _check_artifact(result, precision)
    fp32 = Sampler(gan_image_onnx, backend="cpu").sample(9, seed=0)
    got = Sampler(result.path, backend="cpu").sample(9, seed=0)
    assert got.shape == fp32.shape == (9, 1, 8, 8)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    # Model units are [-1, 1] and data units 0..16: the parity bound, scaled by 8.
    atol, rtol = DEFAULT_TOLERANCES[precision]
    assert np.abs(got - fp32).max() <= 8 * (atol + rtol)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_dcgan_conv_graphs(dcgan_exports: dict, precision: str) -> None:
    result = dcgan_exports[precision]
    model = _check_artifact(result, precision)
    ops = {n.op_type for n in model.graph.node}
    if precision == "int8":
        # onnxruntime has no int8 ConvTranspose: the upsampling runs as int8 phase Convs.
        assert "ConvTranspose" not in ops and {"Conv", "DepthToSpace"} <= ops
        quantised = {n.input[0] for n in model.graph.node if n.op_type == "Conv"}
        dequantised = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
        assert quantised <= dequantised  # every Conv reads a dequantised (int8) tensor
    else:
        assert {"ConvTranspose", "Conv"} <= ops
    x = Sampler(result.path, backend="cpu").sample(37, seed=1)
    assert x.shape == (37, 1, 8, 8) and np.isfinite(x).all()


def test_fp16_keeps_the_cluster_choice_in_float32(dcgan_exports: dict) -> None:
    """The self-conditioned DCGAN picks its cluster by comparing the latent's last value with
    thresholds; float16 rounding would flip latents near a threshold to another cluster."""
    path = dcgan_exports["fp16"].path
    model = onnx.load(path)
    greater = [n for n in model.graph.node if n.op_type == "Greater"]
    assert len(greater) == 1 and greater[0].name in decision_nodes(model)
    # The thresholds are a float32 constant, read directly or through a Cast to float32.
    casts = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Cast"}
    names = {casts.get(i, i) for i in greater[0].input}
    thresholds = next(
        onnx.numpy_helper.to_array(i) for i in model.graph.initializer if i.name in names
    )
    assert thresholds.dtype == np.float32 and thresholds.size == 3  # 4 clusters of 200 digits
    z = np.random.default_rng(0).standard_normal((2 * thresholds.size, 65)).astype(np.float32)
    z[:, -1] = np.concatenate([thresholds - 2e-4, thresholds + 2e-4])
    half = Sampler(path, backend="cpu").generate(z)
    full = Sampler(dcgan_exports["fp32"].path, backend="cpu").generate(z)
    atol, rtol = DEFAULT_TOLERANCES["fp16"]
    bound = 8 * (atol + rtol)  # the parity bound in data units (0..16 from [-1, 1])
    # Just below and just above a threshold the clusters differ, and so do the images...
    assert (
        np.abs(full[: thresholds.size] - full[thresholds.size :]).max(axis=(1, 2, 3)).min() > bound
    )
    # ...and float16 keeps every latent on the float32 graph's side of its threshold.
    assert np.abs(half - full).max() <= bound


def test_vae_converts_both_graphs(train_briefly: Trainer, digits_npz: Path, tmp_path: Path) -> None:
    run = train_briefly("vae", str(digits_npz))
    result = export_run(run, tmp_path / "vae.onnx", precision="int8")
    assert result.report.passed
    assert {c.graph for c in result.report.cases} == {"sampler", "encoder"}
    assert sorted(p.name for p in result.files) == ["vae.encoder.onnx", "vae.onnx"]
    for path in result.files:
        model = onnx.load(path)
        assert {n.op_type for n in model.graph.node} >= QDQ
        assert _io_types(model) == {TensorProto.FLOAT}


def test_rgan_fp16_exports_and_int8_is_refused(train_briefly: Trainer, tmp_path: Path) -> None:
    run = train_briefly("rgan", "sines")
    result = export_run(run, tmp_path / "r16.onnx", precision="fp16")
    assert result.report.passed and read_manifest(result.path).precision == "fp16"
    with pytest.raises(GenedgeError, match="int8 is not supported for rgan: .*GRU"):
        export_run(run, tmp_path / "r8.onnx", precision="int8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r16.onnx"]


def test_unknown_precision_is_an_input_error(gan_image_run: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="precision must be one of fp32, fp16, int8"):
        export_run(gan_image_run, tmp_path / "g.onnx", precision="fp8")
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_unknown_precision_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "genedge", "export", str(tmp_path), "--precision", "bf16"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "'bf16' is not one of" in lines[0], r.stderr
    assert "'fp32', 'fp16', 'int8'" in lines[0], r.stderr


def test_quality_gate_measures_and_records(tmp_path: Path) -> None:
    from genedge.train.loop import train

    # Long enough for a real share of high-quality samples (measured 18%): a junk model's
    # share is near zero, where a relative comparison means nothing. (int8 measured 15% here,
    # 20% worse, and is refused: the modes' 0.02 std is finer than its quantisation steps.)
    run = tmp_path / "run"
    train(run, "gan", "ring8", overrides={"steps": 2000}, device="cpu", threads=1)
    out = tmp_path / "ring-fp16.onnx"
    result = export_run(run, out, precision="fp16", quality_data="ring8", quality_n=500)
    q = result.quality
    assert q is not None and q.metric == "high_quality" and q.better == "higher"
    assert q.fp32 > 0.1 and q.passed and abs(q.candidate - q.fp32) <= 0.1 * q.fp32
    recorded = read_manifest(out).parity["quality"]
    assert recorded["metric"] == "high_quality" and recorded["passed"] is True
    assert recorded["precision"] == "fp16" and recorded["data"] == "ring8"


def test_quality_gate_refuses_and_writes_nothing(
    gan_points_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genedge.export import onnx_export
    from genedge.export.quality_gate import QualityCheck, QualityError

    junk = QualityCheck("fd", "lower", fp32=2.0, candidate=2.5, precision="fp16", data="x", n=9)
    monkeypatch.setattr(onnx_export, "check_quality", lambda *a, **k: junk)
    with pytest.raises(QualityError, match=r"fd 2\.5 \(fp16\) vs 2 \(fp32\), 25\.0% worse"):
        export_run(gan_points_run, tmp_path / "m.onnx", precision="fp16", quality_data="ring8")
    assert list(tmp_path.iterdir()) == []
    kept = export_run(
        gan_points_run, tmp_path / "m.onnx", precision="fp16", quality_data="ring8", force=True
    )
    assert kept.quality is junk and read_manifest(kept.path).parity["quality"]["passed"] is False


@pytest.mark.parametrize(
    ("better", "fp32", "candidate", "change", "passed"),
    [
        ("lower", 10.0, 10.9, 0.09, True),
        ("lower", 10.0, 11.5, 0.15, False),
        ("lower", 10.0, 8.0, -0.2, True),  # better than fp32 passes
        ("higher", 0.9, 0.85, 0.0556, True),
        ("higher", 0.9, 0.7, 0.2222, False),
    ],
)
def test_quality_check_direction(
    better: str, fp32: float, candidate: float, change: float, passed: bool
) -> None:
    from genedge.export.quality_gate import QualityCheck

    q = QualityCheck("m", better, fp32=fp32, candidate=candidate, precision="int8", data="d", n=1)
    assert q.change == pytest.approx(change, abs=1e-3) and q.passed is passed


# -- a user's own module (docs/byom.md): the same gate, on export_module ----------------------


class _ModeMixture(torch.nn.Module):
    """A sane points generator, set by hand: z[:, 2:] picks one of ``modes`` through a sharp
    softmax, z[:, :2] spreads the sample around it by ``std``."""

    def __init__(self, modes: np.ndarray, std: float, sharp: float = 10.0) -> None:
        super().__init__()
        k = len(modes)
        self.pick = torch.nn.Linear(k, k, bias=False)
        self.place = torch.nn.Linear(k, 2, bias=False)
        self.spread = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.pick.weight.copy_(sharp * torch.eye(k))
            self.place.weight.copy_(torch.as_tensor(modes, dtype=torch.float32).T)
            self.spread.weight.copy_(std * torch.eye(2))
            self.spread.bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.place(torch.softmax(self.pick(z[:, 2:]), dim=1)) + self.spread(z[:, :2])


@pytest.fixture
def ring_module(pinned_threads: int, torch_seed: int) -> torch.nn.Module:
    from genedge.train.data import load_dataset

    ds = load_dataset("ring8", seed=0, n=16)
    assert ds.modes is not None
    return _ModeMixture(ds.modes, ds.mode_std)


POINTS = {"latent_shape": (10,), "value_range": (-5.0, 5.0)}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_modules_reduced_export_passes_the_quality_gate(
    ring_module: torch.nn.Module, tmp_path: Path, precision: str
) -> None:
    from genedge.export import export_module

    out = tmp_path / f"ring-{precision}.onnx"
    result = export_module(
        ring_module, out, precision=precision, quality_data="ring8", quality_n=500, **POINTS
    )
    q = result.quality
    assert result.report.passed and q is not None and q.passed
    assert q.metric == "high_quality" and q.fp32 > 0.3  # a real share, where 10% means something
    assert abs(q.candidate - q.fp32) <= 0.1 * q.fp32
    m = read_manifest(out)
    assert m.precision == precision and m.provenance["source"] == "module"
    assert m.parity["quality"]["passed"] is True and m.parity["quality"]["data"] == "ring8"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no reference left over
    x = Sampler(out, backend="cpu", threads=1).sample(200, seed=0)
    assert x.shape == (200, 2) and np.isfinite(x).all()


def test_a_modules_failed_gate_refuses_and_writes_nothing(
    ring_module: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genedge.export import export_module, module_export
    from genedge.export.quality_gate import QualityCheck, QualityError

    junk = QualityCheck(
        "high_quality", "higher", fp32=0.5, candidate=0.3, precision="int8", data="ring8", n=9
    )
    monkeypatch.setattr(module_export, "check_quality", lambda *a, **k: junk)
    out = tmp_path / "ring.onnx"
    with pytest.raises(QualityError, match=r"quality FAILED: high_quality 0\.3 \(int8\) vs 0\.5"):
        export_module(ring_module, out, precision="int8", quality_data="ring8", **POINTS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_modules_reduced_export_without_data_is_refused(
    ring_module: torch.nn.Module, tmp_path: Path, precision: str
) -> None:
    from genedge.export import export_module

    with pytest.raises(InputError, match=f"the {precision} quality gate needs data"):
        export_module(ring_module, tmp_path / "r.onnx", precision=precision, **POINTS)
    assert list(tmp_path.iterdir()) == []
    # Switched off, parity alone decides (and int8 calibrates on the runtime's own draws).
    kept = export_module(
        ring_module, tmp_path / "r.onnx", precision=precision, quality_check=False, **POINTS
    )
    assert kept.report.passed and kept.quality is None


def test_runtime_bf16_is_held_by_the_same_gate(gan_points_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from genedge.export.quality_gate import check_runtime_precision

    art = export_run(gan_points_run, tmp_path / "ring.onnx").path
    q = check_runtime_precision(art, "ring8", precision="bf16", n=300, threads=1)
    assert q.metric == "high_quality" and q.precision == "bf16 (openvino runtime)"
    # The same artifact, seed and real halves: only the engine's arithmetic differs.
    assert q.passed and abs(q.candidate - q.fp32) <= 0.1 * max(q.fp32, 1e-3)
