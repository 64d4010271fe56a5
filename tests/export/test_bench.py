"""The bench harness, checked on planted timings and fake clocks (nothing asserts on speed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genedge.export.bench import (
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


def test_count_flops_of_linear_and_conv_layers() -> None:
    lin = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    assert count_flops(lin, (torch.zeros(1, 10),)) == 2 * (10 * 20 + 20 * 5)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(conv, (torch.zeros(1, 3, 4, 4),)) == 2 * 3 * 9 * 8 * 16
    up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    assert count_flops(up, (torch.zeros(1, 8, 3, 3),)) == 2 * 4 * 16 * 8 * 9


def test_bench_report_schema_and_missing_backends(
    gan_points_onnx: Path, gan_points_run: Path
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
    assert d["flops_per_sample"] == 2 * (2 * 128 + 128 * 128 + 128 * 2)
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
    gan_image_onnx: Path, gan_image_run: Path
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
