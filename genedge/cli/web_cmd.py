"""``genedge web``: a demo folder that samples an artifact in the browser (torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from genedge.cli._app import out


def _size(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def web(
    model: Annotated[Path, typer.Argument(help="An .onnx artifact.")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="The folder to write (a new or empty one).")
    ],
    precision: Annotated[
        str | None,
        typer.Option(
            help="fp16: convert an fp32 model to half its bytes (needs the train extra). "
            "Default: the artifact's own."
        ),
    ] = None,
    ort_dir: Annotated[
        Path | None,
        typer.Option(
            help="onnxruntime-web's dist folder (default: $GENEDGE_ORT_WEB, a checkout's "
            "web/node_modules, or ~/.cache/genedge, fetched once with npm pack)."
        ),
    ] = None,
) -> None:
    """Write a self-contained folder (the model, genedge.js, onnxruntime-web's wasm and
    index.html) that samples the model in any browser from a static server, offline, with
    the same seeds as `genedge sample`. Prints the page weight."""
    from genedge.web import build_web

    built = build_web(model, out_dir, precision=precision, ort_dir=ort_dir)
    w = built.weight
    out.print(f"wrote {escape(str(built.folder))}: open index.html from a static server, e.g.")
    out.print(f"  python -m http.server -d {escape(str(built.folder))} 8000")
    out.print(
        f"page weight {_size(w.total)}: model {_size(w.model)} ({built.manifest.precision}), "
        f"wasm {_size(w.wasm)}, JS {_size(w.js)}, HTML+CSS {_size(w.page)}"
    )
    gz = w.gzip
    out.print(
        f"  gzip-compressed {_size(sum(gz.values()))}: model {_size(gz['model'])}, "
        f"wasm {_size(gz['wasm'])}, JS {_size(gz['js'])} (onnxruntime-web {built.ort_version})"
    )
