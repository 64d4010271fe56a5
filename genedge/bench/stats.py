"""Per-call latency statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency statistics in milliseconds."""

    calls: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    mean_ms: float
    max_ms: float
    #: Calls slower than the median + 3 * IQR: reported, never dropped.
    outliers: int

    @classmethod
    def from_seconds(cls, times: list[float] | np.ndarray) -> LatencyStats:
        t = np.asarray(times, np.float64) * 1e3
        if t.size == 0:
            raise ValueError("no timings")
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        return cls(
            calls=int(t.size),
            median_ms=float(med),
            p90_ms=float(np.percentile(t, 90)),
            p99_ms=float(np.percentile(t, 99)),
            min_ms=float(t.min()),
            mean_ms=float(t.mean()),
            max_ms=float(t.max()),
            outliers=int((t > med + 3 * (q3 - q1)).sum()),
        )
