"""Latency benchmarks in the manner of trtexec and perf_analyzer, run side by side.

Rows are backend x batch size. Each batch size runs every backend in interleaved rounds until
the time budget is spent, so a drifting machine hits all alike; statistics are taken per call
(median, p90, p99, min), outliers are counted rather than dropped, and throughput is compared
with PyTorch eager on the same machine in the same run. Achieved GFLOP/s is set against the
machine's ceiling as each engine itself reaches it on a large GEMM.

GPU rows (``cuda``, ``cuda-graph``, ``ort-tensorrt``, ``tensorrt``, ``torch-cuda``,
``torch-cuda-graph``) are timed on the device with CUDA events (cuda-python's runtime API for
genedge's backends, ``torch.cuda.Event`` for PyTorch), split into host-to-device copy, compute
and device-to-host copy where the backend exposes the steps (IOBinding, the native TensorRT
backend), as trtexec does. Where there is no GPU they are rows that say why.

Modules: :mod:`~genedge.bench.timers` (host clock and CUDA event timers),
:mod:`~genedge.bench.stats` (per-call statistics), :mod:`~genedge.bench.interleave` (timing
rounds), :mod:`~genedge.bench.report` (rows and the report), :mod:`~genedge.bench.ceilings`
(GEMM ceilings), :mod:`~genedge.bench.flops` (FLOP counting), :mod:`~genedge.bench.cold`
(cold starts), :mod:`~genedge.bench.machine` (machine info), :mod:`~genedge.bench.plot`
(latency plot), :mod:`~genedge.bench.runners` (torch and GPU runners),
:mod:`~genedge.bench.peers` (what users would pick instead: torch.compile and bare OpenVINO) and
:mod:`~genedge.bench.run` (:func:`run_bench`).
"""

from __future__ import annotations

from genedge.bench.ceilings import onnxruntime_gemm_ceiling, torch_gemm_ceiling
from genedge.bench.cold import cold_start
from genedge.bench.flops import count_flops
from genedge.bench.interleave import Runner, time_interleaved
from genedge.bench.machine import machine_info
from genedge.bench.plot import plot_latency
from genedge.bench.report import (
    BENCH_FORMAT,
    BENCH_VERSION,
    BenchReport,
    BenchRow,
    rows_from_timings,
)
from genedge.bench.run import ALL_BACKENDS, GPU_BACKENDS, MAX_BENCH_BATCH, run_bench
from genedge.bench.runners import gpu_runner, torch_cuda_runners
from genedge.bench.stats import LatencyStats
from genedge.bench.timers import PHASES, CudaEventTimer, HostPhaseTimer, Timing, TorchEventTimer

__all__ = [
    "ALL_BACKENDS",
    "BENCH_FORMAT",
    "BENCH_VERSION",
    "GPU_BACKENDS",
    "MAX_BENCH_BATCH",
    "PHASES",
    "BenchReport",
    "BenchRow",
    "CudaEventTimer",
    "HostPhaseTimer",
    "LatencyStats",
    "Runner",
    "Timing",
    "TorchEventTimer",
    "cold_start",
    "count_flops",
    "gpu_runner",
    "machine_info",
    "onnxruntime_gemm_ceiling",
    "plot_latency",
    "rows_from_timings",
    "run_bench",
    "time_interleaved",
    "torch_gemm_ceiling",
    "torch_cuda_runners",
]
