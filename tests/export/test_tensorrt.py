"""``genedge compile`` and the TensorRT backends: clean "not available" here, parity on a GPU."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.export.tensorrt import engine_from_onnx
from genedge.runtime import Sampler
from genedge.runtime.backends.tensorrt_backend import tensorrt_status
from genedge.runtime.errors import BackendUnavailableError, InputError

NO_TRT = tensorrt_status() != "available"
needs_no_tensorrt = pytest.mark.skipif(not NO_TRT, reason="TensorRT is installed here")
INSTALL_HINT = (
    "not available: the tensorrt package is not installed (pip install genedge[tensorrt])"
)


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@needs_no_tensorrt
def test_compile_without_tensorrt_names_the_extra(gan_points_onnx: Path) -> None:
    with pytest.raises(BackendUnavailableError) as e:
        engine_from_onnx(gan_points_onnx)
    assert str(e.value) == INSTALL_HINT


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"precision": "int8"}, "precision must be one of fp16, fp32"),
        ({"batch_range": (1, 64)}, "three integers"),
        ({"batch_range": (64, 1, 1024)}, "min <= opt <= max"),
        ({"length_range": (0, 8, 16)}, "at least 1"),
    ],
)
def test_bad_compile_settings_are_input_errors(
    gan_points_onnx: Path, kw: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        engine_from_onnx(gan_points_onnx, **kw)  # type: ignore[arg-type]


@needs_no_tensorrt
def test_cli_compile_is_one_line_not_available(gan_points_onnx: Path) -> None:
    assert one_line_error(genedge("compile", str(gan_points_onnx))) == f"error: {INSTALL_HINT}"


def test_cli_compile_rejects_a_bad_range(gan_points_onnx: Path) -> None:
    line = one_line_error(genedge("compile", str(gan_points_onnx), "--batch-range", "1:64"))
    assert "--batch-range takes MIN:OPT:MAX" in line


@needs_no_tensorrt
def test_cli_export_trt_fails_before_exporting(gan_points_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    r = genedge("export", str(gan_points_run), "--out", str(out), "--trt")
    assert one_line_error(r) == f"error: {INSTALL_HINT}"
    assert not out.exists()


@pytest.mark.parametrize("backend", ["tensorrt", "cuda", "ort-tensorrt"])
def test_cli_verify_on_a_missing_gpu_backend_is_one_line(
    gan_points_run: Path, gan_points_onnx: Path, backend: str
) -> None:
    try:
        Sampler(gan_points_onnx, backend=backend)
    except BackendUnavailableError:
        pass
    else:  # pragma: no cover - only where that backend runs
        pytest.skip(f"{backend} is available here")
    r = genedge(
        "verify", str(gan_points_onnx), "--against", str(gan_points_run), "--backend", backend
    )
    assert one_line_error(r).startswith("error: not available: ")


def _gpu_or_skip() -> None:
    if NO_TRT:
        pytest.skip(tensorrt_status())
    from genedge.runtime.backends.tensorrt_backend import cuda_device

    try:
        cuda_device(0)
    except BackendUnavailableError as e:
        pytest.skip(f"no GPU: {e}")


@pytest.mark.gpu
def test_engine_matches_cpu_at_two_batch_sizes(gan_points_onnx: Path, tmp_path: Path) -> None:
    _gpu_or_skip()
    art = tmp_path / "gan.onnx"
    shutil.copyfile(gan_points_onnx, art)
    plan = engine_from_onnx(art, precision="fp16", batch_range=(1, 64, 1024))
    assert plan.exists() and plan.parent == tmp_path
    trt_sampler = Sampler(art, backend="tensorrt")
    cpu_sampler = Sampler(art, backend="cpu")
    lo, hi = trt_sampler.manifest.value_range
    for n in (1, 37):
        got = trt_sampler.sample(n, seed=n)
        want = cpu_sampler.sample(n, seed=n)
        assert got.shape == want.shape and np.isfinite(got).all()
        # fp16 kernels: about 1e-3 relative error on the data's range.
        np.testing.assert_allclose(got, want, atol=1e-2 * (hi - lo), rtol=1e-2)
