"""``genedge calibrate``: time onnxruntime and OpenVINO on an artifact, once, for ``auto``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genedge.cli._app import int_tuple, out, write_json
from genedge.runtime.backends.calibration import DEFAULT_BATCH_SIZES

#: Column titles of the engines a calibration times.
_TITLES = {
    "cpu": "onnxruntime ms",
    "openvino": "openvino f32 ms",
    "openvino-bf16": "openvino bf16 ms",
}


def calibrate(
    model: Annotated[Path, typer.Argument(help="An .onnx artifact.")],
    threads: Annotated[
        int | None, typer.Option(help="CPU threads to calibrate for (default: the engines').")
    ] = None,
    batch_sizes: Annotated[
        str, typer.Option("--batch-sizes", help="Comma-separated batch sizes to time.")
    ] = ",".join(map(str, DEFAULT_BATCH_SIZES)),
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the measurements as JSON.")
    ] = None,
) -> None:
    """Time onnxruntime and OpenVINO (f32, and bf16 where the CPU has it) on the artifact,
    interleaved, and record beside it which is faster, for ``--backend auto``."""
    from genedge.runtime.backends.calibration import calibrate as measure

    result = measure(model, batch_sizes=int_tuple(batch_sizes, "--batch-sizes"), threads=threads)
    table = Table(title=f"calibrate: {escape(model.name)}, threads {threads or 'default'}")
    table.add_column("batch", justify="right")
    for engine in result.median_ms:
        table.add_column(_TITLES.get(engine, engine), justify="right")
    table.add_column("faster (f32)")
    for b in result.batch_sizes:
        cells = [f"{result.median_ms[e][b]:.4g}" for e in result.median_ms]
        table.add_row(str(b), *cells, result.faster[b])
    out.print(table)
    bf16 = result.bf16
    if bf16.get("ran"):
        out.print(
            f"bf16: max abs error {bf16['max_abs_data']:.3g} data units "
            f"(mean {bf16['mean_abs_data']:.3g}) vs onnxruntime f32 at batch {bf16['batch']}; "
            "gate it with `genedge eval` before relying on it"
        )
    else:
        out.print(f"bf16: not timed: {escape(str(bf16['why']))}")
    engine, why = result.auto
    out.print(f"auto on the CPU: {engine} ({escape(why)})", soft_wrap=True)
    out.print(f"wrote {escape(str(result.path))}")
    if json_path:
        write_json(json_path, json.dumps(result.to_dict(), indent=1))
        out.print(f"wrote {escape(str(json_path))}")
