"""The Typer app the commands register on, its consoles, the shared choices and parsers.

Choices are Enums built from the library's own constants, so ``--help``, Typer's validation
and the library cannot disagree. Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from importlib.metadata import entry_points
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from genedge import __version__
from genedge.runtime.backends import BACKEND_NAMES
from genedge.runtime.engines import ENGINE_PRECISIONS
from genedge.runtime.errors import InputError
from genedge.runtime.manifest import FAMILIES, PRECISIONS
from genedge.train.devices import DEVICES

app = typer.Typer(
    name="genedge",
    help="Train small generative models, export them to ONNX, and sample fast.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Without a terminal (pipes, CI logs) rich would wrap tables at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

# mypy cannot see members made from a constant; each is a str subclass, passed on as .value.
#: ``--backend`` of the runtime: ``auto`` and every backend of the registry.
Backend = Enum("Backend", {n: n for n in BACKEND_NAMES}, type=str)  # type: ignore[misc]
#: ``genedge export --precision``: the precisions a manifest may record.
Precision = Enum("Precision", {p: p for p in PRECISIONS}, type=str)  # type: ignore[misc]
#: ``genedge compile --precision``: the precisions of a TensorRT engine.
EnginePrecision = Enum(  # type: ignore[misc]
    "EnginePrecision", {p: p for p in ENGINE_PRECISIONS}, type=str
)
#: ``genedge train --device``.
Device = Enum("Device", {d: d for d in DEVICES}, type=str)  # type: ignore[misc]

#: Entry point group of other packages' families (``genedge.train.families.ENTRY_POINT_GROUP``).
FAMILY_ENTRY_POINTS = "genedge.families"


def family_choices() -> list[str]:
    """The families ``genedge train`` offers, without importing torch (the registry does).

    genedge's own (:data:`genedge.runtime.manifest.FAMILIES`, the registry's built-ins), those
    other packages declare (entry points of :data:`FAMILY_ENTRY_POINTS`: the only way a
    family reaches the ``genedge`` command), and, when the registry is loaded already, the
    families registered in this process.
    """
    names = list(FAMILIES)
    registry = sys.modules.get("genedge.train.families")
    if registry is not None:
        names += [n for n in registry.family_names() if n not in names]
    names += [ep.name for ep in entry_points(group=FAMILY_ENTRY_POINTS) if ep.name not in names]
    return names


#: ``genedge train FAMILY``: built when the CLI is imported (torch-free); the registry still
#: checks the name when the command runs.
FamilyName = Enum("FamilyName", {n: n for n in family_choices()}, type=str)  # type: ignore[misc]


def _version(value: bool) -> None:
    if value:
        out.print(f"genedge {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """genedge: train -> export -> verify -> sample."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; the exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def int_list(text: str | None, what: str) -> list[int] | None:
    """``"1,37"`` -> ``[1, 37]``; ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what} must be comma-separated integers, got {text!r}") from None


def int_tuple(text: str | None, what: str) -> tuple[int, ...]:
    """:func:`int_list` as a tuple, empty for ``None``."""
    return tuple(int_list(text, what) or ())


def parse_set(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs; values parsed as JSON when they can be (numbers, lists)."""
    result: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--set takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            result[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            result[k.strip()] = v
    return result


def write_json(path: Any, text: str) -> None:
    """Write a report's JSON atomically (no half-written file on a full disk)."""
    from genedge.runtime.atomic import write_bytes_atomic

    write_bytes_atomic(path, text.encode())
