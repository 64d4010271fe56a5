"""``genedge bench``: latency and throughput per backend and batch size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genedge.cli._app import int_tuple, out, write_json
from genedge.cli.text_reports import bench_text, is_text_artifact
from genedge.runtime.errors import InputError


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def bench(
    model: Annotated[Path, typer.Argument(help="The .onnx artifact.")],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="Its run folder, or your FILE.py:Name (docs/byom.md): adds PyTorch eager.",
        ),
    ] = None,
    init: Annotated[
        str | None, typer.Option(help="--against FILE.py:Name: JSON keyword arguments.")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="--against FILE.py:Name: its weights.")
    ] = None,
    backends: Annotated[
        str,
        typer.Option(
            help="torch, cpu, cpu-bare, cpu-openvino, cpu-openvino-bf16 (genedge's Sampler on "
            "OpenVINO, f32 / bf16 where the CPU has it, else f32); peers: torch-compile "
            "(inductor; with --against, "
            "compiles per batch size, untimed), openvino (f32), openvino-default (its "
            "default precision, bf16 where the CPU has it); GPU: cuda, cuda-graph, "
            "ort-tensorrt, tensorrt, torch-cuda, torch-cuda-graph (rows with a reason where "
            "they cannot run)."
        ),
    ] = (
        "torch,cpu,cpu-bare,cpu-openvino,cpu-openvino-bf16,torch-compile,openvino,openvino-default,"
        "torch-cuda,torch-cuda-graph,cuda,cuda-graph,ort-tensorrt,tensorrt"
    ),
    batch_sizes: Annotated[
        str | None,
        typer.Option(help="Batch sizes (1 to 4096); default 1,16,256,1024, text models 1,64."),
    ] = None,
    budget: Annotated[float, typer.Option(help="Timed seconds per backend and batch.")] = 1.0,
    threads: Annotated[int | None, typer.Option(help="onnxruntime CPU threads.")] = None,
    cold: Annotated[bool, typer.Option("--cold", help="Also time fresh-process starts.")] = False,
    precisions: Annotated[
        str,
        typer.Option(help="Also export and time fp16,int8 (needs --against RUN)."),
    ] = "",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Latency plot (PNG).")] = None,
) -> None:
    """Latency and throughput per backend and batch size, side by side with PyTorch eager."""
    from genedge.bench import plot_latency, run_bench
    from genedge.bench.run import DEFAULT_BATCH_SIZES

    if budget <= 0:
        raise InputError("--budget must be positive")
    sizes = None if batch_sizes is None else int_tuple(batch_sizes, "--batch-sizes")
    if is_text_artifact(model):
        bench_text(
            model, against, batch_sizes=sizes, budget=budget, threads=threads, json_path=json_path
        )
        return
    report = run_bench(
        model,
        against,
        init=init,
        weights=weights,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        batch_sizes=sizes or DEFAULT_BATCH_SIZES,
        budget_s=budget,
        threads=threads,
        cold=cold,
        precisions=tuple(p.strip() for p in precisions.split(",") if p.strip()),
    )
    ceil = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in report.ceilings_gflops.items())
    table = Table(title=f"{model.name} ({report.family}); GEMM ceiling: {ceil or 'n/a'}")
    split = any(r.compute_ms is not None for r in report.rows)  # H2D/compute/D2H columns
    compiles = any(r.compile_s is not None for r in report.rows)
    for col in (
        "backend",
        "precision",
        "batch",
        "median ms",
        "p90 ms",
        "p99 ms",
        "min ms",
        "samples/s",
        "vs torch",
        "GFLOP/s",
        "% ceiling",
        *(("h2d ms", "compute ms", "d2h ms", "timing") if split else ()),
        "outliers",
        "parity",
        *(("compile s",) if compiles else ()),
        "status",
    ):
        table.add_column(col, justify="left" if col in ("backend", "status") else "right")
    # Backends that ran at no batch size are listed under the table, one line each.
    for r in (r for r in report.rows if r.batch):
        lat = r.latency
        table.add_row(
            r.backend,
            r.precision,
            str(r.batch or "-"),
            _fmt(None if lat is None else lat.median_ms, ".4f"),
            _fmt(None if lat is None else lat.p90_ms, ".4f"),
            _fmt(None if lat is None else lat.p99_ms, ".4f"),
            _fmt(None if lat is None else lat.min_ms, ".4f"),
            _fmt(r.samples_per_s, ",.0f"),
            _fmt(r.speedup_vs_torch, ".2f") + ("x" if r.speedup_vs_torch else ""),
            _fmt(r.gflops, ".1f"),
            _fmt(r.ceiling_share and 100 * r.ceiling_share, ".0f"),
            *(
                (
                    _fmt(r.h2d_ms, ".4f"),
                    _fmt(r.compute_ms, ".4f"),
                    _fmt(r.d2h_ms, ".4f"),
                    escape(r.timing),
                )
                if split
                else ()
            ),
            "-" if lat is None else f"{lat.outliers}/{lat.calls}",
            _fmt(r.parity_max_abs, ".1e"),
            *((_fmt(r.compile_s, ".2f"),) if compiles else ()),
            escape(r.status),
        )
    out.print(table)
    for r in report.rows:
        if not r.batch:
            out.print(f"{r.backend}: {escape(r.status)}")
    for c in report.cold:
        if c.get("status") == "ok":
            extra = (
                f", {c['speedup_vs_torch']:.1f}x faster than torch"
                if "speedup_vs_torch" in c
                else ""
            )
            load = f" (load {c['load_s']:.3f} s)" if "load_s" in c else ""
            out.print(
                f"cold start {c['backend']}: {c['wall_s']:.3f} s{load}, "
                f"peak RSS {c['peak_rss_mib']:.0f} MiB{extra}"
            )
        else:
            out.print(f"cold start {c['backend']}: {escape(c['status'])}")
    if json_path:
        write_json(json_path, report.to_json())
        out.print(f"wrote {json_path}")
    if plot:
        plot_latency(report, plot)
        out.print(f"wrote {plot}")
