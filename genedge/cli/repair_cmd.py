"""``genedge repair``: fill in an image's missing pixels with a VAE (torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genedge.cli._app import Backend, out


def repair(
    model: Annotated[Path, typer.Argument(help="A VAE .onnx artifact trained on images.")],
    image: Annotated[Path, typer.Option("--image", help="The damaged image (PNG).")],
    mask: Annotated[
        Path,
        typer.Option("--mask", help="PNG of the same size: white = known pixel, black = missing."),
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The repaired .png.")] = Path(
        "repaired.png"
    ),
    steps: Annotated[int, typer.Option(help="Encode -> decode rounds.")] = 50,
    backend: Annotated[
        Backend, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")
    ] = Backend("auto"),
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
) -> None:
    """Fill in the missing pixels of an image with a VAE; known pixels are kept exactly."""
    from genedge.runtime.atomic import write_bytes_atomic
    from genedge.runtime.errors import OutputError
    from genedge.runtime.images import encode_png, read_image
    from genedge.runtime.vae import VAESampler, data_to_image, image_to_data, image_to_mask

    if out_path.suffix.lower() != ".png":
        raise OutputError(f"repair writes a .png image, got {out_path.name}")
    vae = VAESampler(model, backend=backend.value, threads=threads)
    x = image_to_data(read_image(image), vae.manifest)
    known = image_to_mask(read_image(mask), vae.manifest)
    fixed = vae.repair(x, known, steps=steps)
    write_bytes_atomic(out_path, encode_png(data_to_image(fixed[0], vae.manifest)))
    missing = int(known.size - known.sum())
    out.print(f"filled {missing} of {known.size} values in {steps} rounds -> {out_path}")
