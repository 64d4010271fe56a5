"""Latency vs batch plot of a report (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

from genedge.bench.report import BenchReport


def plot_latency(report: BenchReport, path: Path) -> None:
    """Latency vs batch per backend, log-log, as PNG (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genedge.runtime.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r.backend for r in report.rows):
        pts = [
            (r.batch, r.latency.median_ms)
            for r in report.rows
            if r.backend == name and r.latency is not None
        ]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("median latency per call (ms)")
    ax.set_title(f"{Path(report.model).name} ({report.family})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
