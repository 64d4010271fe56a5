"""The benchmark report: rows, the whole report, and rows built from timings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from genedge import __version__
from genedge.bench.stats import LatencyStats
from genedge.bench.timers import PHASES

BENCH_FORMAT = "genedge.bench"
BENCH_VERSION = 1


@dataclass
class BenchRow:
    """One backend at one batch size, or the reason it could not run."""

    backend: str
    precision: str
    batch: int
    status: str = "ok"
    latency: LatencyStats | None = None
    samples_per_s: float | None = None
    speedup_vs_torch: float | None = None
    gflops: float | None = None
    ceiling_share: float | None = None
    model_bytes: int | None = None
    parity_max_abs: float | None = None
    #: How calls were timed: "perf_counter", "cuda events" or "torch.cuda.Event".
    timing: str = "perf_counter"
    #: Median milliseconds per phase, where the backend exposes its steps (else None).
    h2d_ms: float | None = None
    compute_ms: float | None = None
    d2h_ms: float | None = None
    #: Untimed compile seconds behind the row: torch-compile's first call at this batch size
    #: (tracing, inductor codegen, one run); OpenVINO's compile_model (once, every batch size).
    compile_s: float | None = None


@dataclass
class BenchReport:
    """A whole benchmark: machine, settings, ceilings, rows and (optionally) cold starts."""

    model: str
    family: str
    flops_per_sample: float
    ceilings_gflops: dict[str, float]
    rows: list[BenchRow]
    settings: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)
    cold: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": BENCH_FORMAT,
            "version": BENCH_VERSION,
            "genedge": __version__,
            **asdict(self),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def rows_from_timings(
    times: dict[str, list[float]],
    batch: int,
    flops_per_sample: float,
    ceilings: dict[str, float],
    engines: dict[str, str],
    precision: dict[str, str],
    baseline: str = "torch",
    phases: dict[str, dict[str, list[float]]] | None = None,
    timing: dict[str, str] | None = None,
) -> list[BenchRow]:
    """Statistics, throughput, speed-up vs the baseline and ceiling share for each runner;
    median H2D / compute / D2H milliseconds where a runner reported phases."""
    rows = []
    base = times.get(baseline)
    base_med = float(np.median(base)) if base else None
    for name, ts in times.items():
        st = LatencyStats.from_seconds(ts)
        med_s = st.median_ms / 1e3
        gflops = flops_per_sample * batch / med_s / 1e9 if flops_per_sample else None
        ceiling = ceilings.get(engines.get(name, ""))
        rows.append(
            BenchRow(
                backend=name,
                precision=precision.get(name, "fp32"),
                batch=batch,
                latency=st,
                samples_per_s=batch / med_s,
                speedup_vs_torch=(base_med / med_s) if base_med else None,
                gflops=gflops,
                ceiling_share=(gflops / ceiling) if gflops and ceiling else None,
                timing=(timing or {}).get(name, "perf_counter"),
            )
        )
        split = (phases or {}).get(name, {})
        for phase in PHASES:
            if split.get(phase):
                setattr(rows[-1], f"{phase}_ms", float(np.median(split[phase])) * 1e3)
    return rows
