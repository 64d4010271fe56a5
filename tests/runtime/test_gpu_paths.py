"""The onnxruntime-CUDA and bench GPU paths on a real GPU (marked ``gpu``; skipped here).

These have never run in this project (no GPU on its machines): they are the first checks to run
on one, with ``onnxruntime-gpu`` and ``cuda-python`` installed (docs/gpu.md lists the rest).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime import Sampler
from genedge.runtime.errors import BackendUnavailableError, GenedgeError

pytestmark = pytest.mark.gpu


@pytest.fixture()
def artifact(gan_image_onnx: Path, tmp_path: Path) -> Path:
    p = tmp_path / "gan.onnx"
    shutil.copyfile(gan_image_onnx, p)
    try:
        Sampler(p, backend="cuda")
    except BackendUnavailableError as e:
        pytest.skip(f"no CUDA backend here: {e}")
    return p


def _close(got: np.ndarray, want: np.ndarray) -> None:
    # raw model units (tanh range); allows TF32 matrix products on Ampere and later
    assert got.shape == want.shape and np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=5e-3, rtol=5e-3)


def test_auto_picks_cuda_and_iobinding_matches_the_cpu(artifact: Path) -> None:
    s = Sampler(artifact)
    assert s.backend == "cuda", s.backend_selection
    assert s.describe()["iobinding"] is True
    cpu = Sampler(artifact, backend="cpu")
    for n in (1, 37, 256, 1, 37):  # new shapes bind, repeated ones copy in place
        _close(s.sample(n, seed=n, raw=True), cpu.sample(n, seed=n, raw=True))


def test_cuda_graphs_match_the_cpu(artifact: Path) -> None:
    s = Sampler(artifact, backend="cuda", backend_options={"cuda_graph": True})
    cpu = Sampler(artifact, backend="cpu")
    for seed in range(3):  # capture, then replays with new inputs
        _close(
            s.sample(256, seed=seed, batch_size=64, raw=True),
            cpu.sample(256, seed=seed, batch_size=64, raw=True),
        )


def test_plain_session_run_still_works(artifact: Path) -> None:
    s = Sampler(artifact, backend="cuda", backend_options={"iobinding": False})
    _close(
        s.sample(16, seed=0, raw=True),
        Sampler(artifact, backend="cpu").sample(16, seed=0, raw=True),
    )


def test_bench_gpu_rows_time_with_cuda_events(artifact: Path, gan_image_run: Path) -> None:
    from genedge.bench import run_bench

    try:
        from genedge.bench import CudaEventTimer

        CudaEventTimer()
    except GenedgeError as e:
        pytest.skip(f"cuda-python is needed for CUDA events: {e}")
    report = run_bench(
        artifact,
        gan_image_run,
        backends=("cuda", "cuda-graph", "torch-cuda", "torch-cuda-graph"),
        batch_sizes=(1, 4096),
        budget_s=0.1,
        gemm_n=256,
    )
    rows = {(r.backend, r.batch): r for r in report.rows}
    for batch in (1, 4096):
        for name in ("cuda", "cuda-graph"):
            r = rows[(name, batch)]
            assert r.status == "ok" and r.timing == "cuda events", (name, r.status)
            assert None not in (r.h2d_ms, r.compute_ms, r.d2h_ms)
            assert r.parity_max_abs is not None and r.parity_max_abs < 5e-3
        torch_rows = [rows.get((n, batch)) for n in ("torch-cuda", "torch-cuda-graph")]
        for r in torch_rows:
            if r is not None:  # a CPU-only torch build lists them as not available
                assert r.status == "ok" and r.timing == "torch.cuda.Event"
                assert r.compute_ms is not None and r.d2h_ms is not None
