"""The ``genedge`` command line: parse, call one library function, print.

Commands that need PyTorch import it lazily, so ``genedge sample model.onnx`` and
``genedge info`` start as fast as the runtime does. Errors a user can cause print one line
on stderr and exit with code 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from genedge import __version__
from genedge.runtime.errors import (
    USER_ERRNOS,
    BackendUnavailableError,
    GenedgeError,
    InputError,
    Interrupted,
    missing_extra,
    os_error_message,
    user_message,
)

if TYPE_CHECKING:
    from genedge.runtime.manifest import Manifest

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


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _int_list(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what} must be comma-separated integers, got {text!r}") from None


def _parse_set(items: list[str]) -> dict[str, Any]:
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


def _train_worker_args(
    family: str,
    data: str,
    out_dir: Path,
    options: dict[str, Any],
    set_: list[str],
    flags: dict[str, bool],
) -> list[str]:
    """The ``genedge train`` command line each ``--nproc`` worker runs (``--nproc`` left out)."""
    args = ["train", family, "--out", str(out_dir)]
    if data:
        args += ["--data", data]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name}", str(value)]
    for item in set_:
        args += ["--set", item]
    return args + [f"--{name}" for name, on in flags.items() if on]


@app.command()
def train(
    family: Annotated[str, typer.Argument(help="Model family: gan, dcgan, cgan, vae or rgan.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Built-in data set or a path.")] = "",
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create.")] = Path(
        "runs/run"
    ),
    steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size (global: split over the processes).")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of weights, batches and noise.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads for torch (1 when runs share a machine), per process."),
    ] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 1000,
    sample_every: Annotated[int, typer.Option(help="Steps between sample grids.")] = 1000,
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="Other hyper-parameters, key=value (repeatable); sequence_id=COLUMN groups a "
            "CSV's rows into sequences by that column.",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Processes on this machine; N > 1 trains with DistributedDataParallel "
            "(many hosts: torchrun, see docs/distributed.md).",
        ),
    ] = 1,
    backend: Annotated[
        str, typer.Option(help="DDP collectives: auto (nccl on GPUs, gloo on CPUs), gloo, nccl.")
    ] = "auto",
) -> None:
    """Train a model into a run folder (checkpoints, sample grids, metrics.jsonl)."""
    import os

    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from genedge.train import distributed as ddp
    from genedge.train.loop import resolve_device
    from genedge.train.loop import train as train_run

    overrides = {"steps": steps, "batch_size": batch_size, "lr": lr, **_parse_set(set_)}
    if not resume and not data:
        raise InputError("--data is required for a new run (e.g. --data mnist)")
    if nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {nproc}")
    if ddp.launched_by_torchrun() and nproc > 1:
        raise InputError(
            "--nproc starts its own workers; under torchrun leave it out and set "
            "torchrun's --nproc-per-node"
        )
    if nproc > 1 and not ddp.launched_by_torchrun():
        # Check what can be checked here, so mistakes print once instead of once per worker.
        if ddp.choose_backend(backend, device) == "nccl" and nproc > ddp.gpu_count():
            raise InputError(
                f"--nproc {nproc} with nccl needs a GPU per process, but this machine has "
                f"{ddp.gpu_count()}; use --nproc {ddp.gpu_count()} or --backend gloo"
            )
        resolve_device(device)
        if resume:
            from genedge.train.run import load_config

            ddp.process_batch(int(load_config(out_dir).hparams["batch_size"]), nproc)
        elif (out_dir / "run.json").exists():
            raise InputError(f"{out_dir} already holds a run; use --resume or another --out")
        if batch_size is not None:
            ddp.process_batch(batch_size, nproc)
        options = {
            "seed": seed,
            "device": device,
            "backend": backend,
            "threads": threads or max(1, (os.cpu_count() or 1) // nproc),
            "checkpoint-every": checkpoint_every,
            "sample-every": sample_every,
            "steps": steps,
            "batch-size": batch_size,
            "lr": lr,
        }
        args = _train_worker_args(
            family, data, out_dir, options, set_, {"resume": resume, "quiet": quiet}
        )
        try:
            ddp.launch_local(nproc, args)
        except ddp.WorkerFailed as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code if e.exit_code > 0 else 1) from None
        return

    with ddp.process_group(backend, device) as world:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[losses]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet or not world.is_main,
        )
        task = progress.add_task(family, total=None, losses="", rate="")
        last = [time.perf_counter(), 0]

        def on_start(launch: dict[str, Any]) -> None:
            if launch["world_size"] > 1:
                out.print(
                    f"DDP: {launch['world_size']} processes ({launch['backend']} on "
                    f"{launch['device'].split(':')[0]}), global batch {launch['global_batch']} = "
                    f"{launch['world_size']} x {launch['process_batch']}, lr {launch['lr']:.4g} "
                    f"({launch['lr_rule']}); SyncBatchNorm "
                    f"{'on' if launch['sync_batchnorm'] else 'off'}",
                    highlight=False,
                )
            for note in launch["notes"]:
                out.print(f"note: {escape(note)}", highlight=False)

        def on_step(step: int, total: int, losses: dict[str, float]) -> None:
            # The bar appears with the first step, so set-up errors print as one clean line.
            if not progress.live.is_started:
                progress.start()
            now = time.perf_counter()
            rate = (step - last[1]) / max(1e-9, now - last[0])
            last[0], last[1] = now, step
            text = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            progress.update(task, completed=step, total=total, losses=text, rate=f"{rate:.0f} it/s")

        t0 = time.perf_counter()
        try:
            meta = train_run(
                out_dir,
                family,
                data or None,
                overrides=overrides,
                seed=seed,
                resume=resume,
                device=device,
                threads=threads,
                checkpoint_every=checkpoint_every,
                sample_every=sample_every,
                on_step=on_step,
                on_start=on_start,
            )
        except GenedgeError as e:
            if getattr(e, "on_every_rank", False) and not world.is_main:
                raise typer.Exit(2) from None  # rank 0 prints the same message
            raise
        finally:
            progress.stop()
    if world.is_main:
        where = f" on {world.world_size} processes" if world.distributed else ""
        out.print(
            f"trained {family}{where} in {time.perf_counter() - t0:.1f}s -> {out_dir} "
            f"(checkpoint {meta.name}, samples in {out_dir / 'samples'})"
        )


def _print_report(report: Any) -> None:
    table = Table(
        title=f"parity: {report.candidate} vs {report.reference} "
        f"(atol {report.atol:g}, rtol {report.rtol:g}"
        + (f", {100 * report.within_share:g}% of elements)" if report.within_share < 1 else ")")
    )
    for col in (
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
    ):
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


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="Trained run folder.")],
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
        str,
        typer.Option(help="fp32, fp16 (half weights and math) or int8 (static QDQ quantisation)."),
    ] = "fp32",
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
            "than 10% worse than the fp32 model's."
        ),
    ] = True,
    quality_data: Annotated[
        str | None,
        typer.Option(help="Data for the quality check (default: the run's training data)."),
    ] = None,
) -> None:
    """Export a run's sampler to ONNX; checks itself against PyTorch and refuses on mismatch."""
    from genedge.export.onnx_export import ParityError, export_run
    from genedge.export.precision import check_precision

    check_precision(precision)  # before the run folder: a typo is the first thing to report
    if triton_repo is not None:
        from genedge.export.triton import instance_kind

        instance_kind(triton_kind, engine=trt)

    if trt:  # fail before the export's minutes of work, not after
        from genedge.runtime.backends.tensorrt_backend import tensorrt_status

        if tensorrt_status() != "available":
            raise BackendUnavailableError(tensorrt_status())
    try:
        result = export_run(
            run_dir,
            out_path,
            batch_sizes=tuple(_int_list(batch_sizes, "--batch-sizes") or ()),
            lengths=tuple(_int_list(lengths, "--lengths") or ()),
            atol=atol,
            rtol=rtol,
            force=force,
            precision=precision,
            quality_check=quality_check,
            quality_data=quality_data,
        )
    except ParityError as e:
        _print_report(e.report)
        raise
    _print_report(result.report)
    if result.quality is not None:
        out.print(result.quality.describe())
        if not result.quality.passed:
            err.print("[bold yellow]warning:[/] quality check FAILED; kept because of --force")
    if not result.report.passed:
        err.print("[bold yellow]warning:[/] parity FAILED; artifact kept because of --force")
    for f in result.files:
        out.print(f"wrote {f} ({f.stat().st_size / 1024:.0f} KiB)")
    plan = None
    if trt:
        from genedge.export.tensorrt import engine_from_onnx

        plan = engine_from_onnx(result.path)
        out.print(f"wrote {plan} ({plan.stat().st_size / 2**20:.1f} MiB), recorded in the manifest")
    if triton_repo is not None:
        from genedge.export.triton import write_triton_repo

        folder = write_triton_repo(result.path, triton_repo, use_engine=plan, kind=triton_kind)
        out.print(f"wrote Triton model {folder} (see {folder / 'README.txt'})")


@app.command("compile")
def compile_(
    model: Annotated[Path, typer.Argument(help="The .onnx artifact.")],
    precision: Annotated[str, typer.Option(help="fp16 or fp32.")] = "fp16",
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
    from genedge.runtime.engines import parse_range

    plan = engine_from_onnx(
        model,
        precision=precision,
        batch_range=parse_range(batch_range, "--batch-range"),
        length_range=None if length_range is None else parse_range(length_range, "--length-range"),
        timing_cache=timing_cache,
    )
    out.print(f"wrote {plan} ({plan.stat().st_size / 2**20:.1f} MiB), recorded in {model.name}")
    from genedge.runtime.artifact import read_manifest
    from genedge.runtime.engines import engine_key

    for e in read_manifest(model).engines:
        if e.get("file") == plan.name:
            out.print(f"valid for: {engine_key(e)}")


@app.command()
def verify(
    model: Annotated[Path, typer.Argument(help="The .onnx artifact.")],
    against: Annotated[Path, typer.Option("--against", help="The run folder it came from.")],
    backend: Annotated[str, typer.Option(help="Backend to check: cpu, cuda, ...")] = "cpu",
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes.")] = "1,37",
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance.")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    check_finite: Annotated[
        bool, typer.Option(help="Also fail when PyTorch itself gives NaN/Inf.")
    ] = True,
) -> None:
    """Compare an artifact with its PyTorch original; exit 1 if any output differs.

    NaN/Inf in the artifact's outputs always fail; with --check-finite (the default) NaN/Inf
    in both outputs fail too, as Polygraphy's --validate does.
    """
    from genedge.export.onnx_export import verify_artifact
    from genedge.runtime.atomic import write_bytes_atomic

    report = verify_artifact(
        model,
        against,
        backend=backend,
        batch_sizes=tuple(_int_list(batch_sizes, "--batch-sizes") or ()),
        atol=atol,
        rtol=rtol,
        check_finite=check_finite,
    )
    _print_report(report)
    if json_path:
        write_bytes_atomic(json_path, json.dumps(report.to_dict(), indent=1).encode())
    if check_finite and report.nonfinite:
        err.print(f"[bold red]FAILED:[/] {report.nonfinite} NaN/Inf output values")
    if not report.passed:
        raise typer.Exit(1)


def _open_sampler(
    source: Path, backend: str, threads: int | None, options: dict[str, Any] | None = None
) -> Any:
    if source.is_dir():
        from genedge.train.reference import load_torch_sampler

        return load_torch_sampler(source)
    from genedge.runtime import Sampler

    return Sampler(source, backend=backend, threads=threads, backend_options=options)


@app.command()
def sample(
    source: Annotated[Path, typer.Argument(help="An .onnx artifact, or a run folder (PyTorch).")],
    n: Annotated[int, typer.Option("-n", help="Number of samples.")] = 64,
    seed: Annotated[int | None, typer.Option(help="Noise seed (same seed, same samples).")] = None,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help=".png, .npy, .npz, .csv, .wav or a folder.")
    ] = Path("samples.png"),
    labels: Annotated[
        str | None,
        typer.Option(
            help="Classes, e.g. 0,1,2: one per sample, or a shorter list repeated in order "
            "(balanced over the listed classes when -n is a multiple of its length)."
        ),
    ] = None,
    class_: Annotated[
        int | None, typer.Option("--class", help="One class for all samples.")
    ] = None,
    length: Annotated[int | None, typer.Option(help="Sequence length (sequence models).")] = None,
    truncation: Annotated[
        float | None, typer.Option(help="Truncate latents to [-psi, psi].")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per backend call.")] = None,
    backend: Annotated[str, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    backend_option: Annotated[
        list[str],
        typer.Option(
            "--backend-option",
            help="Backend option key=value (repeatable), e.g. cuda_graph=true, device_id=1.",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    check_finite: Annotated[bool, typer.Option(help="Fail if any sample is NaN/Inf.")] = False,
    sample_rate: Annotated[int, typer.Option(help=".wav: frames per second.")] = 8000,
    feature: Annotated[int, typer.Option(help=".wav: the sequence feature to play.")] = 0,
) -> None:
    """Generate samples from an artifact (torch-free) or from a run folder (PyTorch reference)."""
    import numpy as np

    from genedge.runtime.sampler import check_count
    from genedge.runtime.writers import write_samples

    n = check_count(n)
    sampler = _open_sampler(source, backend, threads, _parse_set(backend_option))
    chosen: Any = _int_list(labels, "--labels")
    if class_ is not None:
        chosen = [class_]
    ys = sampler.labels_for(n, chosen, repeat=True)
    bad = [0]

    def chunks():
        for x, y in sampler.iter_samples(
            n, seed, labels=ys, length=length, truncation=truncation, batch_size=batch_size
        ):
            if check_finite:
                bad[0] += int(np.size(x) - np.isfinite(x).sum())
            yield x, y

    t0 = time.perf_counter()
    path = write_samples(
        out_path, chunks(), sampler.manifest, n, sample_rate=sample_rate, feature=feature
    )
    if check_finite and bad[0]:
        path.unlink(missing_ok=True)
        raise InputError(f"{bad[0]} sample values are NaN or Inf; nothing written")
    dt = time.perf_counter() - t0
    out.print(f"wrote {n} samples to {path} in {dt:.2f}s ({sampler.backend})")
    out.print(f"backend: {escape(getattr(sampler, 'backend_selection', sampler.backend))}")


def _latent_text(m: Manifest) -> str:
    """The latent size, spelling out a self-conditioned model's cluster pick."""
    clusters = int(m.provenance.get("hparams", {}).get("clusters", 0))
    if clusters:
        return (
            f"{m.latent_dim} ({m.latent_dim - 1} noise + 1 that picks one of {clusters} "
            "k-means clusters)"
        )
    return f"{m.latent_dim}"


@app.command()
def info(
    model: Annotated[Path, typer.Argument(help="An .onnx artifact.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Show an artifact's manifest, inputs/outputs, size, its compiled engines and the
    backends available here (and which one ``auto`` picks). On a companion graph's file (a
    VAE's encoder): what it is, the artifact it belongs to, its inputs/outputs and size."""
    from genedge.runtime.artifact import read_manifest
    from genedge.runtime.backends import backend_status, select_backend
    from genedge.runtime.backends.tensorrt_backend import local_gpu, local_tensorrt_version
    from genedge.runtime.engines import describe_engines

    m = read_manifest(model, companions=True)
    if as_json:
        out.print_json(m.to_json())
        return
    table = Table(title=f"{model.name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    if m.companion is not None:  # one graph of an artifact set: describe it, not the set
        c, g = m.companion, m.graphs[m.companion.role]
        for k, v in (
            ("companion", f"the {c.role} graph of {c.artifact} (open {c.artifact} to use it)"),
            ("family", m.family),
            ("schema", f"{m.schema_version} (genedge {m.genedge_version})"),
            ("precision", m.precision),
            ("inputs", ", ".join(f"{t.name}[{t.role}] {t.dtype}{list(t.shape)}" for t in g.inputs)),
            ("outputs", ", ".join(f"{t.name} {t.dtype}{list(t.shape)}" for t in g.outputs)),
            ("size", f"{model.stat().st_size / 1024:.0f} KiB"),
        ):
            table.add_row(k, escape(v))
        out.print(table)
        return
    size = sum(
        (model.parent / g.file).stat().st_size if g.file else model.stat().st_size
        for g in m.graphs.values()
        if g.file is None or (model.parent / g.file).exists()
    )
    rows = [
        ("family", m.family),
        ("schema", f"{m.schema_version} (genedge {m.genedge_version})"),
        ("precision", m.precision),
        ("latent", _latent_text(m)),
        ("sample", f"{m.output_kind} {tuple(m.sample_shape)}, data range {m.value_range}"),
        ("classes", str(m.num_classes) if m.num_classes else "-"),
        ("size", f"{size / 1024:.0f} KiB"),
    ]
    for role, g in m.graphs.items():
        ins = ", ".join(f"{t.name}[{t.role}] {t.dtype}{list(t.shape)}" for t in g.inputs)
        outs = ", ".join(f"{t.name} {t.dtype}{list(t.shape)}" for t in g.outputs)
        rows.append((f"graph {role}", f"{g.file or model.name}: {ins} -> {outs}"))
    p = m.parity
    if p:
        rows.append(
            (
                "parity",
                f"{'PASSED' if p.get('passed') else 'FAILED'} vs {p.get('reference')}"
                f", max abs {p.get('max_abs', float('nan')):.2e} (atol {p.get('atol')})",
            )
        )
    prov = m.provenance
    rows.append(
        (
            "trained",
            f"{prov.get('data')} ({prov.get('data_size')} samples), "
            f"{prov.get('step')} steps, seed {prov.get('seed')}, "
            f"torch {prov.get('torch')}",
        )
    )
    gpu = local_gpu()
    engines = describe_engines(m, model, gpu, local_tensorrt_version())
    for file, key, status in engines:
        rows.append((f"engine {file}", f"{key}: {status}"))
    if not engines:
        rows.append(("engines", f"none compiled (`genedge compile {model.name}` on a GPU)"))
    rows.append(
        ("gpu", f"{gpu[0]} (sm_{gpu[1].replace('.', '')})" if isinstance(gpu, tuple) else gpu)
    )
    for name, status in backend_status().items():
        rows.append((f"backend {name}", status))
    try:  # info must not write the optimised-model cache beside the artifact
        chosen, skipped = select_backend(model, optimized_model_cache=False)
        why = "; ".join(f"{n}: {r}" for n, r in skipped)
        rows.append(("backend auto", chosen.name + (f" (skipped {why})" if why else "")))
    except GenedgeError as e:
        rows.append(("backend auto", f"none: {e}"))
    for k, v in rows:
        table.add_row(k, escape(v))
    out.print(table)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


@app.command()
def bench(
    model: Annotated[Path, typer.Argument(help="The .onnx artifact.")],
    against: Annotated[
        Path | None, typer.Option("--against", help="Its run folder: adds PyTorch eager.")
    ] = None,
    backends: Annotated[
        str,
        typer.Option(
            help="torch, cpu, cpu-bare; GPU: cuda, cuda-graph, ort-tensorrt, tensorrt, "
            "torch-cuda, torch-cuda-graph (rows with a reason where they cannot run)."
        ),
    ] = "torch,cpu,cpu-bare,torch-cuda,torch-cuda-graph,cuda,cuda-graph,ort-tensorrt,tensorrt",
    batch_sizes: Annotated[str, typer.Option(help="Batch sizes (1 to 4096).")] = "1,16,256,1024",
    budget: Annotated[float, typer.Option(help="Timed seconds per backend and batch.")] = 1.0,
    threads: Annotated[int | None, typer.Option(help="onnxruntime CPU threads.")] = None,
    cold: Annotated[bool, typer.Option("--cold", help="Also time fresh-process starts.")] = False,
    precisions: Annotated[
        str,
        typer.Option(help="Also export and time fp16,int8 (needs --against)."),
    ] = "",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Latency plot (PNG).")] = None,
) -> None:
    """Latency and throughput per backend and batch size, side by side with PyTorch eager."""
    from genedge.bench import plot_latency, run_bench
    from genedge.runtime.atomic import write_bytes_atomic

    if budget <= 0:
        raise InputError("--budget must be positive")
    report = run_bench(
        model,
        against,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        batch_sizes=tuple(_int_list(batch_sizes, "--batch-sizes") or ()),
        budget_s=budget,
        threads=threads,
        cold=cold,
        precisions=tuple(p.strip() for p in precisions.split(",") if p.strip()),
    )
    ceil = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in report.ceilings_gflops.items())
    table = Table(title=f"{model.name} ({report.family}); GEMM ceiling: {ceil or 'n/a'}")
    split = any(r.compute_ms is not None for r in report.rows)  # H2D/compute/D2H columns
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
            _fmt(lat and lat.median_ms, ".4f"),
            _fmt(lat and lat.p90_ms, ".4f"),
            _fmt(lat and lat.p99_ms, ".4f"),
            _fmt(lat and lat.min_ms, ".4f"),
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
        write_bytes_atomic(json_path, report.to_json().encode())
        out.print(f"wrote {json_path}")
    if plot:
        plot_latency(report, plot)
        out.print(f"wrote {plot}")


@app.command()
def reconstruct(
    model: Annotated[Path, typer.Argument(help="A VAE .onnx artifact.")],
    input_path: Annotated[
        Path,
        typer.Option(
            "--input", "-i", help=".npy samples (n, *sample shape) in data units, or a .png image."
        ),
    ],
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help=".png (rows of originals above their reconstructions), .npy, .csv."
        ),
    ] = Path("reconstructions.png"),
    n: Annotated[int, typer.Option("-n", help="Reconstruct at most this many samples.")] = 32,
    backend: Annotated[str, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
) -> None:
    """Encode samples with a VAE and decode them again (torch-free)."""
    import numpy as np

    from genedge.runtime.atomic import write_bytes_atomic
    from genedge.runtime.sampler import check_count
    from genedge.runtime.vae import VAESampler, comparison_png, load_samples
    from genedge.runtime.writers import write_samples

    n = check_count(n)
    vae = VAESampler(model, backend=backend, threads=threads)
    x = load_samples(input_path, vae.manifest)[:n]
    rec = vae.reconstruct(x)
    if out_path.suffix.lower() == ".png" and vae.manifest.output_kind == "image":
        write_bytes_atomic(out_path, comparison_png(x, rec, vae.manifest))
    else:
        write_samples(out_path, [(rec, None)], vae.manifest, len(rec))
    err_ = float(np.sqrt(np.mean((np.asarray(x, np.float32) - rec) ** 2)))
    out.print(f"reconstructed {len(x)} samples (RMS error {err_:.4g}, data units) -> {out_path}")


@app.command()
def interpolate(
    source: Annotated[Path, typer.Argument(help="An .onnx artifact, or a run folder (PyTorch).")],
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the start point.")] = 0,
    to_seed: Annotated[
        int | None, typer.Option(help="Seed of the end point (default: --seed + 1).")
    ] = None,
    class_: Annotated[
        int | None, typer.Option("--class", help="Class of the walk (conditional models).")
    ] = None,
    length: Annotated[int | None, typer.Option(help="Sequence length (sequence models).")] = None,
    linear: Annotated[
        bool, typer.Option("--linear", help="A straight line instead of slerp.")
    ] = False,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help=".png (one row), .npy, .csv, .wav.")
    ] = Path("walk.png"),
    backend: Annotated[str, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
) -> None:
    """Walk through latent space between two seeded samples (any family)."""
    from genedge.runtime.atomic import write_bytes_atomic
    from genedge.runtime.interpolate import interpolate as walk
    from genedge.runtime.writers import render_png, write_samples

    sampler = _open_sampler(source, backend, threads)
    x = walk(sampler, steps, seed, to_seed, labels=class_, length=length, spherical=not linear)
    if out_path.suffix.lower() == ".png" and sampler.manifest.output_kind == "image":
        write_bytes_atomic(out_path, render_png(x, sampler.manifest, ncols=len(x)))
    else:
        write_samples(out_path, [(x, None)], sampler.manifest, len(x))
    end = seed + 1 if to_seed is None else to_seed
    out.print(f"wrote {len(x)} steps from seed {seed} to seed {end} -> {out_path}")


@app.command()
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
    backend: Annotated[str, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
) -> None:
    """Fill in the missing pixels of an image with a VAE; known pixels are kept exactly."""
    from genedge.runtime.atomic import write_bytes_atomic
    from genedge.runtime.errors import OutputError
    from genedge.runtime.images import encode_png, read_image
    from genedge.runtime.vae import VAESampler, data_to_image, image_to_data, image_to_mask

    if out_path.suffix.lower() != ".png":
        raise OutputError(f"repair writes a .png image, got {out_path.name}")
    vae = VAESampler(model, backend=backend, threads=threads)
    x = image_to_data(read_image(image), vae.manifest)
    known = image_to_mask(read_image(mask), vae.manifest)
    fixed = vae.repair(x, known, steps=steps)
    write_bytes_atomic(out_path, encode_png(data_to_image(fixed[0], vae.manifest)))
    missing = int(known.size - known.sum())
    out.print(f"filled {missing} of {known.size} values in {steps} rounds -> {out_path}")


@app.command("eval")
def eval_(
    source: Annotated[Path, typer.Argument(help="An .onnx artifact, or a run folder (PyTorch).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Built-in data set or a path.")],
    n: Annotated[int, typer.Option("-n", help="Samples per set (at most half the data).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of noise, data split and metric nets.")] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads (torch, onnxruntime).")] = None,
) -> None:
    """Offline sample-quality metrics, each beside its real-vs-real floor."""
    from genedge.eval.evaluate import evaluate
    from genedge.runtime.atomic import write_bytes_atomic

    report = evaluate(source, data, n, seed, backend=backend, threads=threads)
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
    if json_path:
        write_bytes_atomic(json_path, json.dumps(report.to_dict(), indent=1).encode())
        out.print(f"wrote {json_path}")


def main() -> None:
    """Console-script entry point.

    Exit codes: 0 success; 1 a check that ran and failed (parity, verify); 2 an error the user
    can fix, printed as one line on stderr (a missing extra, a bad value, a full disk); 128 + N
    when signal N stopped the command (130 for Ctrl-C, 143 for SIGTERM), after it left a
    consistent state behind (a checkpoint, no half-written file).
    """
    try:
        # Standalone mode: usage errors print click's message and exit 2 by themselves.
        app()
    except Interrupted as e:
        err.print(f"interrupted: {escape(str(e))}", highlight=False, soft_wrap=True)
        raise SystemExit(e.exit_code) from None
    except GenedgeError as e:
        raise SystemExit(_fail(user_message(e)).exit_code) from None
    except ModuleNotFoundError as e:
        missing = missing_extra(e)
        if missing is None:
            raise
        raise SystemExit(_fail(str(missing)).exit_code) from None
    except OSError as e:
        if e.errno not in USER_ERRNOS:
            raise
        raise SystemExit(_fail(os_error_message(e)).exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    sys.exit(main())
