"""``genedge info``: what an artifact is, and what can run it here (torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from genedge.cli._app import out


def info(
    model: Annotated[Path, typer.Argument(help="An .onnx artifact.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Show an artifact's manifest, inputs/outputs, size, its compiled engines and the
    backends available here (and which one ``auto`` picks). On a companion graph's file (a
    VAE's encoder): what it is, the artifact it belongs to, its inputs/outputs and size."""
    from genedge.runtime.artifact import read_manifest, read_metadata
    from genedge.runtime.describe import describe_artifact
    from genedge.runtime.manifest import METADATA_KEY

    if METADATA_KEY not in read_metadata(model):
        _plain(model)
        return
    m = read_manifest(model, companions=True)
    if as_json:
        out.print_json(m.to_json())
        return
    table = Table(title=f"{model.name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for k, v in describe_artifact(model, m):
        table.add_row(k, escape(v))
    out.print(table)


def _plain(model: Path) -> None:
    """A plain ONNX file: its inputs and outputs, and how to give it a manifest."""
    from genedge.runtime.plain_onnx import plain_signature, wrap_hint

    ports = plain_signature(model)
    out.print(f"{model.name}: a plain ONNX file (no genedge manifest)")
    for p in ports:
        out.print(f"  {escape(p.describe())}")
    out.print(f"give it a manifest: {escape(wrap_hint(model, ports))} (see docs/byom.md)")
