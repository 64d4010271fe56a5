"""``genedge data``: make the built-in data sets that are generated on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from genedge.cli._app import out

data_app = typer.Typer(
    help="Make built-in data sets that are generated on first use (cached).",
    no_args_is_help=True,
)


@data_app.command("spoken-digits")
def spoken_digits(
    folder: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder to write (default: the user cache)."),
    ] = None,
) -> None:
    """Speak "zero" to "nine" with espeak-ng (seeded voices, speeds, pitches, noise) into a
    folder of WAV clips, one subfolder per digit; `--data spoken_digits` reads the cache."""
    from genedge.train.data.spoken_digits import make_spoken_digits

    made = make_spoken_digits(folder)
    clips = sum(1 for _ in made.glob("*/*.wav"))
    out.print(f"spoken_digits: {clips} clips in {escape(str(made))}")
