"""The bench harness, checked on planted timings and fake clocks (nothing asserts on speed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genedge.bench import (
    LatencyStats,
    count_flops,
    rows_from_timings,
    run_bench,
    time_interleaved,
)


def test_latency_stats_on_planted_timings() -> None:
    times = [0.001] * 97 + [0.002, 0.003, 0.100]  # seconds; one huge outlier
    st = LatencyStats.from_seconds(times)
    assert st.calls == 100 and st.median_ms == pytest.approx(1.0)
    assert st.min_ms == pytest.approx(1.0) and st.max_ms == pytest.approx(100.0)
    assert st.p90_ms == pytest.approx(1.0)
    assert st.p99_ms == pytest.approx(np.percentile(np.array(times) * 1e3, 99))
    assert st.mean_ms == pytest.approx(np.mean(times) * 1e3)
    assert st.outliers == 3  # reported, not dropped: 2, 3 and 100 ms vs an IQR of 0
    with pytest.raises(ValueError):
        LatencyStats.from_seconds([])


def test_rows_compute_throughput_speedup_and_ceiling_share() -> None:
    times = {"torch": [0.004] * 5, "cpu": [0.001] * 5}
    rows = rows_from_timings(
        times,
        100,
        flops_per_sample=1e6,
        ceilings={"onnxruntime": 200.0, "torch": 100.0},
        engines={"torch": "torch", "cpu": "onnxruntime"},
        precision={},
    )
    by = {r.backend: r for r in rows}
    assert by["cpu"].samples_per_s == pytest.approx(100_000)
    assert by["cpu"].speedup_vs_torch == pytest.approx(4.0)
    assert by["torch"].speedup_vs_torch == pytest.approx(1.0)
    assert by["cpu"].gflops == pytest.approx(100.0)  # 1e6 * 100 / 1 ms
    assert by["cpu"].ceiling_share == pytest.approx(0.5)
    assert by["torch"].ceiling_share == pytest.approx(0.25)


def test_interleaving_runs_every_backend_in_rounds_within_budget() -> None:
    now = [0.0]
    order: list[str] = []

    def clock() -> float:
        return now[0]

    def make(name: str, cost: float):
        def run(batch: int) -> None:
            order.append(name)
            now[0] += cost

        return run

    runners = {"a": make("a", 0.01), "b": make("b", 0.03)}
    times = time_interleaved(runners, 1, budget_s=0.3, warmup_s=0.05, clock=clock, block_s=0)
    assert len(times["a"]) == 30 and len(times["b"]) == 10
    assert all(t == pytest.approx(0.01) for t in times["a"])
    timed = order[len(order) - 40 :]  # the 30 + 10 timed calls, after both warm-ups
    assert timed[:6] == ["a", "b", "a", "b", "a", "b"]  # alternating while both have budget

    # blocks: each turn runs a backend for block_s, then settles before the next backend
    order.clear()
    settles: list[int] = []
    times = time_interleaved(
        runners,
        1,
        budget_s=0.3,
        warmup_s=0.0,
        clock=clock,
        block_s=0.06,
        settle=lambda: settles.append(len(order)),
    )
    assert len(times["a"]) == 30 and len(times["b"]) == 10
    timed = order[-40:]
    assert timed[:8] == ["a"] * 6 + ["b"] * 2  # 6 x 10 ms, then 2 x 30 ms
    assert len(settles) == 10  # 5 rounds x 2 backends


def test_count_flops_of_linear_and_conv_layers(torch_seed: int) -> None:
    lin = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    assert count_flops(lin, (torch.zeros(1, 10),)) == 2 * (10 * 20 + 20 * 5)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(conv, (torch.zeros(1, 3, 4, 4),)) == 2 * 3 * 9 * 8 * 16
    up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    assert count_flops(up, (torch.zeros(1, 8, 3, 3),)) == 2 * 4 * 16 * 8 * 9


def test_bench_report_schema_and_missing_backends(
    gan_points_onnx: Path, gan_points_run: Path, torch_seed: int
) -> None:
    report = run_bench(
        gan_points_onnx,
        gan_points_run,
        batch_sizes=(1, 8),
        budget_s=0.02,
        backends=("torch", "cpu", "cpu-bare", "cuda", "tensorrt"),
        gemm_n=128,
    )
    d = json.loads(report.to_json())
    assert d["format"] == "genedge.bench" and d["version"] == 1
    assert set(d["ceilings_gflops"]) == {"onnxruntime", "torch"}
    # An MLP generator: 2 x in x out per Linear layer, whatever widths the family defaults to.
    from genedge.train.run_folder import load_trained

    cfg, family, models, _ = load_trained(gan_points_run)
    module = family.sampler_module(models, cfg.hparams, cfg.data_info)
    linear = [m for m in module.modules() if isinstance(m, nn.Linear)]
    assert len(linear) >= 2
    assert d["flops_per_sample"] == sum(2 * m.in_features * m.out_features for m in linear)
    ran = [r for r in d["rows"] if r["status"] == "ok"]
    assert {(r["backend"], r["batch"]) for r in ran} == {
        (b, n) for b in ("torch", "cpu", "cpu-bare") for n in (1, 8)
    }
    for r in ran:
        assert r["latency"]["calls"] >= 1 and r["latency"]["median_ms"] > 0
        assert r["samples_per_s"] > 0 and r["speedup_vs_torch"] > 0
    assert all(r["parity_max_abs"] < 1e-5 for r in ran if r["backend"] != "torch")
    missing = {r["backend"]: r["status"] for r in d["rows"] if r["status"] != "ok"}
    assert all(r["batch"] == 0 for r in d["rows"] if r["status"] != "ok")  # one row each
    if "cuda" in missing:  # skipped where a GPU stack is present
        assert missing["cuda"].startswith("not available:")
    assert missing["tensorrt"].startswith("not available:")
    assert "cpu" in d["machine"]


def test_bench_without_a_run_has_no_torch_row(gan_points_onnx: Path) -> None:
    report = run_bench(
        gan_points_onnx, None, batch_sizes=(4,), budget_s=0.01, backends=("torch", "cpu"), gemm_n=64
    )
    rows = {r.backend: r for r in report.rows}
    assert rows["torch"].status.startswith("skipped") and rows["cpu"].speedup_vs_torch is None


def test_bench_exports_and_times_other_precisions(
    gan_image_onnx: Path, gan_image_run: Path, torch_seed: int
) -> None:
    report = run_bench(
        gan_image_onnx,
        gan_image_run,
        backends=("cpu",),
        batch_sizes=(4,),
        budget_s=0.01,
        gemm_n=64,
        precisions=("fp16", "int8"),
    )
    rows = {r.backend: r for r in report.rows}
    assert (rows["cpu"].precision, rows["cpu-fp16"].precision) == ("fp32", "fp16")
    assert rows["cpu-int8"].precision == "int8" and rows["cpu-int8"].status == "ok"
    # each variant reports its own parity error and size, in the precision's tolerance
    assert rows["cpu"].parity_max_abs < 1e-5 < rows["cpu-int8"].parity_max_abs < 0.25
    assert rows["cpu-fp16"].parity_max_abs < 2e-2
    assert rows["cpu-fp16"].model_bytes < rows["cpu"].model_bytes


# -- GPU timing paths, checked with planted timings and stand-in clocks and CUDA calls --------


def test_self_timed_runners_report_their_own_clock_and_phases() -> None:
    from genedge.bench import Timing

    calls = [0]

    def gpu(batch: int) -> Timing:
        calls[0] += 1
        return Timing(0.004, {"h2d": 0.001, "compute": 0.002, "d2h": 0.001})

    now = [0.0]

    def clock() -> float:
        now[0] += 0.5  # the host clock says 0.5 s per call: must be ignored for `gpu`
        return now[0]

    phases: dict[str, dict[str, list[float]]] = {}
    times = time_interleaved(
        {"gpu": gpu}, 8, budget_s=0.04, warmup_s=0.0, clock=clock, block_s=0, phases_out=phases
    )
    assert times["gpu"] == [0.004] * 10
    assert phases["gpu"]["compute"] == [0.002] * 10
    (row,) = rows_from_timings(
        times, 8, 0.0, {}, {}, {}, phases=phases, timing={"gpu": "cuda events"}
    )
    assert row.latency is not None and row.latency.median_ms == pytest.approx(4.0)
    assert (row.h2d_ms, row.compute_ms, row.d2h_ms) == pytest.approx((1.0, 2.0, 1.0))
    assert row.timing == "cuda events" and row.samples_per_s == pytest.approx(2000)


def test_host_phase_timer_splits_a_call_at_its_marks() -> None:
    from genedge.bench import HostPhaseTimer

    stamps = iter([10.0, 10.5, 12.5, 13.0, 14.0])
    timer = HostPhaseTimer(clock=lambda: next(stamps))
    for label in ("start", "h2d", "compute", "d2h"):
        timer.mark(label)
    t = timer.finish()
    assert t.total_s == pytest.approx(3.0)
    assert t.phases == pytest.approx({"h2d": 0.5, "compute": 2.0, "d2h": 0.5})
    timer.reset()
    timer.mark("start")
    with pytest.raises(ValueError, match="at least a start and an end"):
        timer.finish()


def test_cuda_event_timer_reads_elapsed_times_between_events() -> None:
    from types import SimpleNamespace

    from genedge.bench import CudaEventTimer

    ok = 0
    recorded: list[tuple[int, object]] = []
    planted_ms = {(100, 101): 0.25, (101, 102): 1.5, (102, 103): 0.75}
    created = iter(range(100, 200))
    rt = SimpleNamespace(
        cudaError_t=SimpleNamespace(cudaSuccess=ok),
        cudaStreamCreate=lambda: (ok, "own-stream"),
        cudaEventCreate=lambda: (ok, next(created)),
        cudaEventRecord=lambda ev, stream: recorded.append((ev, stream)) or (ok,),
        cudaEventSynchronize=lambda ev: (ok,),
        cudaEventElapsedTime=lambda a, b: (ok, planted_ms[(a, b)]),
    )
    timer = CudaEventTimer(cudart=rt)
    timer.reset()
    timer.mark("start")
    timer.mark("h2d", "engine-stream")
    timer.mark("compute")
    timer.mark("d2h")
    t = timer.finish()
    assert recorded == [
        (100, "own-stream"),
        (101, "engine-stream"),
        (102, "own-stream"),
        (103, "own-stream"),
    ]
    assert t.total_s == pytest.approx(2.5e-3)
    assert t.phases == pytest.approx({"h2d": 0.25e-3, "compute": 1.5e-3, "d2h": 0.75e-3})


def test_gpu_rows_without_a_gpu_are_rows_with_a_reason(
    gan_points_onnx: Path, gan_points_run: Path, torch_seed: int
) -> None:
    import onnxruntime as ort

    from genedge.bench import GPU_BACKENDS

    if "CUDAExecutionProvider" in ort.get_available_providers() or torch.cuda.is_available():
        pytest.skip("a GPU stack is present here")
    report = run_bench(
        gan_points_onnx,
        gan_points_run,
        backends=("cpu", *GPU_BACKENDS),
        batch_sizes=(1, 4096),
        budget_s=0.01,
        gemm_n=64,
    )
    rows = {r.backend: r for r in report.rows if r.batch == 0}
    assert set(rows) == set(GPU_BACKENDS)
    for name in GPU_BACKENDS:
        assert rows[name].status.startswith("not available: "), (name, rows[name].status)
    assert (
        "torch 2" in rows["torch-cuda"].status and "sees no CUDA GPU" in rows["torch-cuda"].status
    )
    assert rows["torch-cuda-graph"].status == rows["torch-cuda"].status
    assert "CUDAExecutionProvider" in rows["cuda-graph"].status
    ok = [(r.backend, r.batch) for r in report.rows if r.status == "ok"]
    assert ok == [("cpu", 1), ("cpu", 4096)]  # batch 4096 is allowed


def test_batch_sizes_and_backend_names_are_checked(gan_points_onnx: Path) -> None:
    from genedge.runtime.errors import InputError

    with pytest.raises(InputError, match="from 1 to 4096, got 4097"):
        run_bench(gan_points_onnx, None, backends=("cpu",), batch_sizes=(4097,))
    with pytest.raises(InputError, match="unknown bench backend 'gpu'"):
        run_bench(gan_points_onnx, None, backends=("gpu",), batch_sizes=(1,))


def test_a_backend_failing_at_one_batch_size_is_a_row(
    gan_points_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import genedge.bench.run as bench_run
    from genedge.bench import Timing
    from genedge.runtime import Sampler
    from genedge.runtime.errors import InputError

    def fake_gpu_runner(name: str, model: Path, probe: object, threads: object = None):
        def run(batch: int) -> Timing:
            if batch > 8:
                raise InputError(f"batch {batch} is outside the engine's profile")
            return Timing(1e-3 * batch, {"h2d": 1e-4, "compute": 8e-4, "d2h": 1e-4})

        return run, Sampler(model, backend="cpu"), "cuda events"

    # run_bench looks gpu_runner up in genedge.bench.run: patch it there
    monkeypatch.setattr(bench_run, "gpu_runner", fake_gpu_runner)
    report = run_bench(
        gan_points_onnx, None, backends=("cpu", "tensorrt"), batch_sizes=(2, 16), budget_s=0.01
    )
    rows = {(r.backend, r.batch): r for r in report.rows}
    assert rows[("tensorrt", 2)].latency.median_ms == pytest.approx(2.0)  # type: ignore[union-attr]
    assert rows[("tensorrt", 2)].compute_ms == pytest.approx(0.8)
    assert rows[("tensorrt", 16)].status == (
        "failed: InputError: batch 16 is outside the engine's profile"
    )
    assert rows[("cpu", 16)].status == "ok"


def test_cold_start_compares_with_and_without_the_optimised_model_cache(
    gan_points_onnx: Path,
) -> None:
    from genedge.bench import cold_start

    rows = {r["backend"]: r for r in cold_start(gan_points_onnx, None, repeats=1)}
    for name in ("onnxruntime", "onnxruntime-no-ort-cache"):
        assert rows[name]["status"] == "ok", rows[name]
        assert 0 < rows[name]["load_s"] < rows[name]["wall_s"]
    assert rows["torch"]["status"].startswith("skipped")


def test_cli_bench_shows_gpu_rows_as_not_available(gan_points_onnx: Path) -> None:
    from typer.testing import CliRunner

    from genedge.cli import app

    r = CliRunner().invoke(
        app,
        ["bench", str(gan_points_onnx), "--backends", "cpu,cuda,tensorrt", "--batch-sizes", "4"],
        env={"COLUMNS": "250"},
    )
    assert r.exit_code == 0, r.output
    assert r.output.count("not available") >= 2
