"""Bring your own generator on the command line: ``export --module``, ``wrap`` and the
``--against FILE.py:Name`` form of ``verify`` (see docs/byom.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from genedge.cli._app import Precision, int_tuple
from genedge.cli.export_cmd import print_report, report_export

if TYPE_CHECKING:
    from genedge.export.artifact_writer import ExportResult


def is_module_spec(against: str) -> bool:
    """Whether ``--against`` names a module (``FILE.py:Name``, ``pkg.mod:Name``), not a run."""
    from genedge.export.user_module import is_module_spec as spec

    return spec(against)


def export_user_module(
    spec: str,
    out_path: Path,
    *,
    init: str | None,
    weights: Path | None,
    latent: str | None,
    value_range: str | None,
    model_range: str | None,
    num_classes: int,
    noise: list[str],
    truncation_input: bool,
    precision: str,
    batch_sizes: str,
    atol: float | None,
    rtol: float | None,
    force: bool,
    quality_check: bool,
    quality_data: str | None,
) -> ExportResult:
    """``genedge export --module ...``: parse, then :func:`export_module`."""
    from genedge.export.artifact_writer import ParityError
    from genedge.export.module_export import export_module
    from genedge.export.user_module import build_module, parse_noise, parse_pair, parse_sizes
    from genedge.runtime.errors import InputError

    if latent is None or value_range is None:
        raise InputError("export --module needs --latent SIZES and --value-range LOW,HIGH")
    module, prov = build_module(spec, init, weights)
    try:
        result = export_module(
            module,
            out_path,
            latent_shape=parse_sizes(latent, "--latent"),
            value_range=parse_pair(value_range, "--value-range"),
            model_range=None if model_range is None else parse_pair(model_range, "--model-range"),
            num_classes=num_classes,
            noise=parse_noise(noise),
            truncation=truncation_input,
            precision=precision,
            batch_sizes=int_tuple(batch_sizes, "--batch-sizes"),
            atol=atol,
            rtol=rtol,
            force=force,
            quality_check=quality_check,
            quality_data=quality_data,
            provenance=prov,
        )
    except ParityError as e:
        print_report(e.report)
        raise
    report_export(result)
    return result


def wrap(
    source: Annotated[
        Path, typer.Argument(help="A plain .onnx file (e.g. from torch.onnx.export).")
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The artifact to write.")],
    value_range: Annotated[str, typer.Option(help="Units of the samples: LOW,HIGH.")],
    latent: Annotated[
        str | None, typer.Option(help="The latent input's name (default: the only float input).")
    ] = None,
    model_range: Annotated[
        str | None, typer.Option(help="What the graph outputs, LOW,HIGH (default: value range).")
    ] = None,
    labels: Annotated[str | None, typer.Option(help="Name of an int64 label input.")] = None,
    num_classes: Annotated[int, typer.Option(help="Classes of the label input.")] = 0,
    noise: Annotated[
        list[str] | None, typer.Option(help="Name of a noise input the runtime draws (repeat).")
    ] = None,
    truncation_input: Annotated[
        str | None, typer.Option(help="Name of a truncation psi input.")
    ] = None,
    against: Annotated[
        str | None, typer.Option(help="FILE.py:Name or pkg.mod:Name: parity against PyTorch.")
    ] = None,
    init: Annotated[str | None, typer.Option(help="JSON keyword arguments for --against.")] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights of --against: .pth/.pt or .safetensors.")
    ] = None,
    precision: Annotated[Precision, typer.Option(help="fp32, fp16 or int8.")] = Precision("fp32"),
    batch_sizes: Annotated[str, typer.Option(help="Parity batch sizes.")] = "1,37",
    force: Annotated[bool, typer.Option(help="Keep the artifact even if parity fails.")] = False,
) -> None:
    """Give a plain ONNX file a genedge manifest (the file itself is left as it is)."""
    from genedge.export.user_module import build_module, parse_pair
    from genedge.export.wrap import wrap_onnx

    module: Any = None
    prov: dict[str, Any] = {}
    if against is not None:
        module, prov = build_module(against, init, weights)
    result = wrap_onnx(
        source,
        out_path,
        latent=latent,
        value_range=parse_pair(value_range, "--value-range"),
        model_range=None if model_range is None else parse_pair(model_range, "--model-range"),
        labels=labels,
        num_classes=num_classes,
        noise=tuple(noise or ()),
        truncation=truncation_input,
        against=module,
        precision=precision.value,
        batch_sizes=int_tuple(batch_sizes, "--batch-sizes"),
        force=force,
        provenance=prov,
    )
    report_export(result)


def verify_against_module(
    model: Path,
    spec: str,
    init: str | None,
    weights: Path | None,
    **kwargs: Any,
) -> Any:
    """``genedge verify g.onnx --against FILE.py:Name``: :func:`verify_module`'s report."""
    from genedge.export.module_export import verify_module
    from genedge.export.user_module import build_module

    module, _ = build_module(spec, init, weights)
    return verify_module(model, module, **kwargs)
