"""Peer rows of the bench (torch.compile, bare OpenVINO): they appear beside genedge's with
their parity, precision and compile time, or as one row that says why they cannot run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from genedge.bench import run_bench
from genedge.bench.machine import _cpuinfo, machine_info
from genedge.bench.report import BenchRow


def _by_backend(rows: list[BenchRow]) -> dict[tuple[str, int], BenchRow]:
    return {(r.backend, r.batch): r for r in rows}


def test_openvino_rows_run_the_artifact_in_f32_and_its_default_precision(
    gan_points_onnx: Path, gan_points_run: Path, torch_seed: int
) -> None:
    pytest.importorskip("openvino")
    report = run_bench(
        gan_points_onnx,
        gan_points_run,
        backends=("cpu-bare", "openvino", "openvino-default"),
        batch_sizes=(1, 8),
        budget_s=0.02,
        threads=1,
        gemm_n=64,
    )
    rows = _by_backend(report.rows)
    for batch in (1, 8):
        bare, f32, default = (
            rows[(b, batch)] for b in ("cpu-bare", "openvino", "openvino-default")
        )
        assert f32.status == default.status == "ok"
        assert f32.latency is not None and f32.latency.calls >= 1 and f32.samples_per_s
        assert f32.precision == "fp32" and f32.parity_max_abs is not None
        assert f32.parity_max_abs < 1e-5  # the same graph, forced to f32
        # bf16 where the CPU has bf16 units, else f32: reported either way, a looser bound
        assert default.precision in ("bf16", "fp32", "fp16")
        assert default.parity_max_abs is not None and default.parity_max_abs < 0.1
        assert f32.model_bytes == bare.model_bytes  # OpenVINO reads the same file
        assert f32.compile_s is not None and f32.compile_s > 0  # compile_model, untimed
        assert bare.compile_s is None
    assert "openvino" in report.settings["peers"]
    if report.machine.get("bf16_units") is False:
        assert rows[("openvino-default", 1)].precision == "fp32"


def test_without_openvino_its_rows_say_how_to_get_it(
    gan_points_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    report = run_bench(
        gan_points_onnx,
        None,
        backends=("cpu", "openvino", "openvino-default", "torch-compile"),
        batch_sizes=(2,),
        budget_s=0.01,
        threads=1,
        gemm_n=64,
    )
    rows = _by_backend(report.rows)
    assert rows[("openvino", 0)].status == "not available: pip install openvino"
    assert rows[("openvino-default", 0)].status == "not available: pip install openvino"
    assert rows[("torch-compile", 0)].status.startswith("skipped: pass --against")
    assert rows[("cpu", 2)].status == "ok"
    assert machine_info()["openvino"] is None


def test_torch_compile_row_compiles_untimed_and_matches_eager(
    gan_points_onnx: Path, gan_points_run: Path, torch_seed: int
) -> None:
    # One real inductor compilation (seconds), at batch 1 only.
    report = run_bench(
        gan_points_onnx,
        gan_points_run,
        backends=("torch", "torch-compile"),
        batch_sizes=(1,),
        budget_s=0.02,
        threads=1,
        gemm_n=64,
    )
    rows = _by_backend(report.rows)
    row = rows[("torch-compile", 1)]
    assert row.status == "ok", row.status
    assert row.latency is not None and row.latency.calls >= 1
    assert row.compile_s is not None and row.compile_s > 0
    assert row.speedup_vs_torch is not None and row.speedup_vs_torch > 0
    assert row.parity_max_abs is not None and row.parity_max_abs < 1e-5
    assert rows[("torch", 1)].compile_s is None


def test_torch_compile_that_cannot_compile_is_one_row_with_the_reason(
    gan_points_onnx: Path,
    gan_points_run: Path,
    torch_seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    compiled: list[int] = []

    def no_compiler(module: object, **kwargs: object) -> object:
        def run(*args: object) -> object:
            compiled.append(1)
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(details)")

        return run

    monkeypatch.setattr(torch, "compile", no_compiler)
    report = run_bench(
        gan_points_onnx,
        gan_points_run,
        backends=("torch", "torch-compile"),
        batch_sizes=(1, 4),
        budget_s=0.01,
        threads=1,
        gemm_n=64,
    )
    mine = [r for r in report.rows if r.backend == "torch-compile"]
    assert [r.batch for r in mine] == [0]  # one row, not one per batch size
    assert mine[0].status.startswith(f"not available: torch {torch.__version__} inductor failed")
    assert mine[0].status.endswith(
        "RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
    )
    assert compiled == [1]  # tried once, not again at batch 4
    assert {(r.backend, r.batch) for r in report.rows if r.status == "ok"} == {
        ("torch", 1),
        ("torch", 4),
    }


def test_machine_info_names_the_cpu_its_flags_and_versions() -> None:
    text = (
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
        "flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile "
        "amx_int8 avx512_fp16 avx_vnni sha_ni\n"
        "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n"
    )
    info = _cpuinfo(text)
    assert info["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert info["cpu_flags"] == sorted(
        [
            "avx2",
            "fma",
            "avx512f",
            "avx512_vnni",
            "avx512_bf16",
            "amx_bf16",
            "amx_tile",
            "amx_int8",
            "avx512_fp16",
            "avx_vnni",
        ]
    )
    here = machine_info()
    for key in ("cpu", "cores", "onnxruntime", "numpy", "torch", "torch_threads", "openvino"):
        assert key in here, key


def test_cli_bench_lists_the_peer_rows(gan_points_onnx: Path) -> None:
    from typer.testing import CliRunner

    from genedge.cli import app

    r = CliRunner().invoke(
        app,
        ["bench", str(gan_points_onnx), "--backends", "cpu,torch-compile,openvino"]
        + ["--batch-sizes", "2", "--budget", "0.01", "--threads", "1"],
        env={"COLUMNS": "250"},
    )
    assert r.exit_code == 0, r.output
    assert "torch-compile: skipped: pass --against" in r.output
    assert "openvino" in r.output
