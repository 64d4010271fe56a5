"""``genedge export``, ``compile`` and ``verify``: artifacts and how they check out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from genedge.cli._app import Backend, EnginePrecision, Precision, err, int_tuple, out, write_json
from genedge.export.quality_gate import QUALITY_CHECK_DEFAULT, QUALITY_TOLERANCE
from genedge.runtime.describe import sized
from genedge.runtime.errors import BackendUnavailableError

if TYPE_CHECKING:
    from genedge.export.artifact_writer import ExportResult
    from genedge.export.parity import ParityReport

_COLUMNS = (
    "graph",
    "batch",
    "length",
    "output",
    "shape",
    "max abs",
    "mean abs",
    "max rel",
    "min atol",
    "min rtol",
    "non-finite",
    "result",
)


def print_report(report: ParityReport) -> None:
    """The parity table, one row per output of each case, and the verdict."""
    table = Table(
        title=f"parity: {report.candidate} vs {report.reference} "
        f"(atol {report.atol:g}, rtol {report.rtol:g}"
        + (f", {100 * report.within_share:g}% of elements)" if report.within_share < 1 else ")")
    )
    for col in _COLUMNS:
        table.add_column(col, justify="right" if col not in ("graph", "output") else "left")
    for c in report.cases:
        for o in c.outputs:
            table.add_row(
                c.graph,
                str(c.batch),
                "-" if c.length is None else str(c.length),
                o.name,
                "x".join(map(str, o.shape)),
                f"{o.max_abs:.2e}",
                f"{o.mean_abs:.2e}",
                f"{o.max_rel:.2e}",
                f"{o.required_atol:.2e}",
                f"{o.required_rtol:.2e}",
                str(o.nonfinite),
                "[green]PASSED[/]" if o.passed else "[red]FAILED[/]",
            )
    out.print(table)
    out.print("[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]")


def report_export(result: ExportResult) -> None:
    """What any export prints: the parity table, the quality verdict, the files."""
    print_report(result.report)
    if result.quality is not None:
        out.print(result.quality.describe())
        if not result.quality.passed:
            err.print("[bold yellow]warning:[/] quality check FAILED; kept because of --force")
    if not result.report.passed:
        err.print("[bold yellow]warning:[/] parity FAILED; artifact kept because of --force")
    for f in result.files:
        out.print(f"wrote {sized(f)}")


def export(
    run_dir: Annotated[
        Path | None, typer.Argument(help="Trained run folder (or use --module).")
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")] = Path(
        "model.onnx"
    ),
    batch_sizes: Annotated[str, typer.Option(help="Parity batch sizes.")] = "1,37",
    lengths: Annotated[
        str | None,
        typer.Option(help="Parity sequence lengths (default: the training length T and 2T+3)."),
    ] = None,
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance (fp32: 1e-5).")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance (fp32: 1e-5).")] = None,
    force: Annotated[bool, typer.Option(help="Keep the artifact even if parity fails.")] = False,
    precision: Annotated[
        Precision,
        typer.Option(help="fp32, fp16 (half weights and math) or int8 (static QDQ quantisation)."),
    ] = Precision("fp32"),
    trt: Annotated[
        bool, typer.Option("--trt", help="Then compile a TensorRT engine here (see `compile`).")
    ] = False,
    triton_repo: Annotated[
        Path | None, typer.Option(help="Also write a Triton model repository entry here.")
    ] = None,
    triton_kind: Annotated[
        str, typer.Option(help="Where Triton runs the model: gpu or cpu (a CPU-only server).")
    ] = "gpu",
    quality_check: Annotated[
        bool,
        typer.Option(
            help="fp16/int8: refuse the artifact if its `genedge eval` headline figure is more "
            f"than {QUALITY_TOLERANCE:.0%} worse than the fp32 model's."
        ),
    ] = QUALITY_CHECK_DEFAULT,
    quality_data: Annotated[
        str | None,
        typer.Option(help="Data for the quality check (default: the run's training data)."),
    ] = None,
    module: Annotated[
        str | None,
        typer.Option(help="Your own generator: FILE.py:Name or pkg.mod:Name (docs/byom.md)."),
    ] = None,
    init: Annotated[str | None, typer.Option(help="--module: JSON keyword arguments.")] = None,
    weights: Annotated[
        Path | None, typer.Option(help="--module: weights, .pth/.pt or .safetensors.")
    ] = None,
    latent: Annotated[
        str | None, typer.Option(help="--module: one sample's latent, e.g. 100x1x1.")
    ] = None,
    value_range: Annotated[
        str | None, typer.Option(help="--module: units of the samples, LOW,HIGH.")
    ] = None,
    model_range: Annotated[
        str | None, typer.Option(help="--module: what it outputs, LOW,HIGH (tanh: -1,1).")
    ] = None,
    num_classes: Annotated[
        int, typer.Option(help="--module: > 0 if forward takes (z, labels).")
    ] = 0,
    noise: Annotated[
        list[str] | None,
        typer.Option(help="--module: a noise input NAME=SIZES drawn from the seed (repeat)."),
    ] = None,
    truncation_input: Annotated[
        bool, typer.Option(help="--module: forward takes a truncation psi (N,) last.")
    ] = False,
) -> None:
    """Export a run's sampler (or, with --module, your own generator) to ONNX; checks itself
    against PyTorch and refuses on mismatch."""
    from genedge.export.onnx_export import ParityError, export_run
    from genedge.runtime.errors import InputError

    if triton_repo is not None:  # before the run folder: a typo is the first thing to report
        from genedge.export.triton import instance_kind

        instance_kind(triton_kind, engine=trt)

    if trt:  # fail before the export's minutes of work, not after
        from genedge.runtime.backends.tensorrt_backend import tensorrt_status

        if tensorrt_status() != "available":
            raise BackendUnavailableError(tensorrt_status())
    if (module is None) == (run_dir is None):
        raise InputError("export takes a run folder or --module FILE.py:Name (one of them)")
    if module is not None:
        from genedge.cli.byom_cmd import export_user_module

        result = export_user_module(
            module,
            out_path,
            init=init,
            weights=weights,
            latent=latent,
            value_range=value_range,
            model_range=model_range,
            num_classes=num_classes,
            noise=noise or [],
            truncation_input=truncation_input,
            precision=precision.value,
            batch_sizes=batch_sizes,
            atol=atol,
            rtol=rtol,
            force=force,
            quality_check=quality_check,
            quality_data=quality_data,
        )
        _after_export(result.path, trt, triton_repo, triton_kind)
        return
    assert run_dir is not None
    try:
        result = export_run(
            run_dir,
            out_path,
            batch_sizes=int_tuple(batch_sizes, "--batch-sizes"),
            lengths=int_tuple(lengths, "--lengths"),
            atol=atol,
            rtol=rtol,
            force=force,
            precision=precision.value,
            quality_check=quality_check,
            quality_data=quality_data,
        )
    except ParityError as e:
        print_report(e.report)
        raise
    report_export(result)
    _after_export(result.path, trt, triton_repo, triton_kind)


def _after_export(path: Path, trt: bool, triton_repo: Path | None, triton_kind: str) -> None:
    plan = None
    if trt:
        from genedge.export.tensorrt import engine_from_onnx

        plan = engine_from_onnx(path)
        out.print(f"wrote {sized(plan, 'MiB')}, recorded in the manifest")
    if triton_repo is not None:
        from genedge.export.triton import write_triton_repo

        folder = write_triton_repo(path, triton_repo, use_engine=plan, kind=triton_kind)
        out.print(f"wrote Triton model {folder} (see {folder / 'README.txt'})")


def compile_(
    model: Annotated[Path, typer.Argument(help="The .onnx artifact.")],
    precision: Annotated[EnginePrecision, typer.Option(help="fp16 or fp32.")] = EnginePrecision(
        "fp16"
    ),
    batch_range: Annotated[
        str, typer.Option(help="Batch profile MIN:OPT:MAX (every input's batch axis).")
    ] = "1:64:1024",
    length_range: Annotated[
        str | None,
        typer.Option(help="Sequence models: length profile MIN:OPT:MAX (default 1:T:256)."),
    ] = None,
    timing_cache: Annotated[
        Path | None, typer.Option(help="TensorRT timing cache file (default: beside the model).")
    ] = None,
) -> None:
    """Build a TensorRT engine of the sampler for this GPU; the tensorrt backend then uses it."""
    from genedge.export.tensorrt import engine_from_onnx
    from genedge.runtime.artifact import read_manifest
    from genedge.runtime.engines import engine_key, parse_range

    plan = engine_from_onnx(
        model,
        precision=precision.value,
        batch_range=parse_range(batch_range, "--batch-range"),
        length_range=None if length_range is None else parse_range(length_range, "--length-range"),
        timing_cache=timing_cache,
    )
    out.print(f"wrote {sized(plan, 'MiB')}, recorded in {model.name}")
    for e in read_manifest(model).engines:
        if e.get("file") == plan.name:
            out.print(f"valid for: {engine_key(e)}")


def verify(
    model: Annotated[Path, typer.Argument(help="The .onnx artifact.")],
    against: Annotated[
        str,
        typer.Option(
            "--against", help="The run folder it came from, or your FILE.py:Name (docs/byom.md)."
        ),
    ],
    backend: Annotated[Backend, typer.Option(help="Backend to check: cpu, cuda, ...")] = Backend(
        "cpu"
    ),
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes.")] = "1,37",
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance.")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    check_finite: Annotated[
        bool, typer.Option(help="Also fail when PyTorch itself gives NaN/Inf.")
    ] = True,
    init: Annotated[
        str | None, typer.Option(help="--against FILE.py:Name: JSON keyword arguments.")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="--against FILE.py:Name: its weights.")
    ] = None,
) -> None:
    """Compare an artifact with its PyTorch original; exit 1 if any output differs.

    NaN/Inf in the artifact's outputs always fail; with --check-finite (the default) NaN/Inf
    in both outputs fail too, as Polygraphy's --validate does.
    """
    from genedge.cli.byom_cmd import is_module_spec, verify_against_module
    from genedge.export.onnx_export import verify_artifact

    options = {
        "backend": backend.value,
        "batch_sizes": int_tuple(batch_sizes, "--batch-sizes"),
        "atol": atol,
        "rtol": rtol,
        "check_finite": check_finite,
    }
    if is_module_spec(against):
        report = verify_against_module(model, against, init, weights, **options)
    else:
        report = verify_artifact(model, Path(against), **options)
    print_report(report)
    if json_path:
        write_json(json_path, json.dumps(report.to_dict(), indent=1))
    if report.check_finite and report.nonfinite:  # the report's own verdict, spelled out
        err.print(f"[bold red]FAILED:[/] {report.nonfinite} NaN/Inf output values")
    if not report.passed:
        raise typer.Exit(1)
