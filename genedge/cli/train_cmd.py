"""``genedge train``: one process, or ``--nproc N`` workers on this host."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from genedge.cli._app import Device, FamilyName, err, fail, out, parse_set
from genedge.runtime.errors import GenedgeError


def train(
    family: Annotated[
        FamilyName,
        typer.Argument(
            help="Model family: genedge's own or one another package declares (docs/families.md)."
        ),
    ],
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
    device: Annotated[Device, typer.Option(help="auto, cpu or cuda.")] = Device("auto"),
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
            "CSV's rows into sequences by that column; sample_rate=HZ and clip_seconds=S set "
            "how WAV clips are read.",
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
    from genedge.train import distributed as ddp
    from genedge.train import preflight

    device_name: str = device.value
    family_name: str = family.value
    overrides = {"steps": steps, "batch_size": batch_size, "lr": lr, **parse_set(set_)}
    preflight.check_train_request(data, resume, nproc)
    if preflight.launches_workers(nproc):
        preflight.check_local_launch(
            out_dir,
            nproc=nproc,
            resume=resume,
            backend=backend,
            device=device_name,
            batch_size=batch_size,
        )
        options = {
            "seed": seed,
            "device": device_name,
            "backend": backend,
            "threads": preflight.worker_threads(threads, nproc),
            "checkpoint-every": checkpoint_every,
            "sample-every": sample_every,
            "steps": steps,
            "batch-size": batch_size,
            "lr": lr,
        }
        args = preflight.worker_args(
            family_name, data, out_dir, options, set_, {"resume": resume, "quiet": quiet}
        )
        try:
            ddp.launch_local(nproc, args)
        except ddp.WorkerFailed as e:
            raise fail(str(e), e.exit_code if e.exit_code > 0 else 1) from None
        return
    _train_here(
        family_name,
        data,
        out_dir,
        overrides,
        seed=seed,
        resume=resume,
        device=device_name,
        backend=backend,
        threads=threads,
        checkpoint_every=checkpoint_every,
        sample_every=sample_every,
        quiet=quiet,
    )


def _train_here(
    family: str,
    data: str,
    out_dir: Path,
    overrides: dict[str, Any],
    *,
    seed: int,
    resume: bool,
    device: str,
    backend: str,
    threads: int | None,
    checkpoint_every: int,
    sample_every: int,
    quiet: bool,
) -> None:
    """Train in this process (one of torchrun's workers, or the only process)."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from genedge.train import distributed as ddp
    from genedge.train.loop import train as train_run

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
        last = [time.perf_counter(), 0.0]

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
        samples = out_dir / "samples"
        shown = f", samples in {samples}" if samples.is_dir() else ""
        out.print(
            f"trained {family}{where} in {time.perf_counter() - t0:.1f}s -> {out_dir} "
            f"(checkpoint {meta.name}{shown})"
        )
