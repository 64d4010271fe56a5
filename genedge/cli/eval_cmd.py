"""``genedge eval``: offline sample-quality metrics beside their real-vs-real floors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genedge.cli._app import Backend, out, parse_set, write_json
from genedge.cli.text_reports import eval_text, is_text_artifact, refuse_text_run


def eval_(
    source: Annotated[Path, typer.Argument(help="An .onnx artifact, or a run folder (PyTorch).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Built-in data set or a path.")],
    n: Annotated[int, typer.Option("-n", help="Samples per set (at most half the data).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of noise, data split and metric nets.")] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    backend: Annotated[
        Backend, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")
    ] = Backend("auto"),
    threads: Annotated[int | None, typer.Option(help="CPU threads (torch, onnxruntime).")] = None,
    backend_option: Annotated[
        list[str],
        typer.Option(
            "--backend-option",
            help="Backend option key=value (repeatable), e.g. precision=bf16 with openvino.",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    length: Annotated[
        int | None,
        typer.Option(help="Text models: characters per generated sample (default 300)."),
    ] = None,
) -> None:
    """Offline sample-quality metrics, each beside its real-vs-real floor."""
    if is_text_artifact(source):  # torch-free, unlike the image metrics
        eval_text(
            source,
            data,
            n=n,
            length=length,
            seed=seed,
            backend=backend.value,
            threads=threads,
            json_path=json_path,
        )
        return
    refuse_text_run(source, "eval")
    from genedge.eval.evaluate import evaluate

    report = evaluate(
        source,
        data,
        n,
        seed,
        backend=backend.value,
        threads=threads,
        backend_options=parse_set(backend_option),
    )
    table = Table(title=f"eval: {escape(str(source))} ({report.family}) vs {escape(report.data)}")
    for col in ("metric", "value", "floor", "ratio", "better", "note"):
        table.add_column(col, justify="left" if col in ("metric", "better", "note") else "right")
    for m in report.metrics:
        table.add_row(
            escape(m.label),
            f"{m.value:.4g}",
            "-" if m.floor is None else f"{m.floor:.4g}",
            "-" if m.ratio is None else f"{m.ratio:.3g}",
            m.better,
            escape(m.note),
        )
    out.print(table)
    for note in report.notes:
        out.print(f"note: {escape(note)}")
    for u in report.unavailable:
        out.print(f"unavailable: {escape(u.label)}: {escape(u.reason)}", soft_wrap=True)
    if json_path:
        write_json(json_path, json.dumps(report.to_dict(), indent=1))
        out.print(f"wrote {json_path}")
