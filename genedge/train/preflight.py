"""Checks ``genedge train`` makes before any work starts, and the command line of its workers.

With ``--nproc N`` the launcher checks here what can be checked once (a GPU per nccl process,
the device, a batch that splits over the processes, an existing run), so a mistake prints
once instead of once per worker, then starts N workers with :func:`worker_args`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genedge.runtime.errors import InputError


def check_train_request(data: str | None, resume: bool, nproc: int) -> None:
    """What every ``genedge train`` needs, on one process or many.

    Raises:
        InputError: A new run without data, ``nproc`` < 1, or ``nproc`` under torchrun.
    """
    from genedge.train import distributed as ddp

    if not resume and not data:
        raise InputError("--data is required for a new run (e.g. --data mnist)")
    if nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {nproc}")
    if ddp.launched_by_torchrun() and nproc > 1:
        raise InputError(
            "--nproc starts its own workers; under torchrun leave it out and set "
            "torchrun's --nproc-per-node"
        )


def launches_workers(nproc: int) -> bool:
    """True when this process should start ``nproc`` workers rather than train itself."""
    from genedge.train import distributed as ddp

    return nproc > 1 and not ddp.launched_by_torchrun()


def worker_threads(threads: int | None, nproc: int) -> int:
    """CPU threads per worker: as asked, else this host's cores shared out."""
    return threads or max(1, (os.cpu_count() or 1) // nproc)


def check_local_launch(
    out_dir: Path,
    *,
    nproc: int,
    resume: bool,
    backend: str,
    device: str,
    batch_size: int | None,
) -> None:
    """Refuse, once and before any worker starts, what would fail on every worker.

    Raises:
        InputError: nccl with fewer GPUs than processes, an unknown or missing device, a batch
            that does not split over ``nproc``, or a new run into a folder that holds one.
    """
    from genedge.train import distributed as ddp
    from genedge.train.loop import resolve_device

    if ddp.choose_backend(backend, device) == "nccl" and nproc > ddp.gpu_count():
        raise InputError(
            f"--nproc {nproc} with nccl needs a GPU per process, but this machine has "
            f"{ddp.gpu_count()}; use --nproc {ddp.gpu_count()} or --backend gloo"
        )
    resolve_device(device)
    if resume:
        from genedge.train.families import get_family
        from genedge.train.run import load_config

        run = load_config(out_dir)
        family = get_family(run.family)
        ddp.process_batch(family.common(family.from_hparams(run.hparams)).batch_size, nproc)
    elif (out_dir / "run.json").exists():
        raise InputError(f"{out_dir} already holds a run; use --resume or another --out")
    if batch_size is not None:
        ddp.process_batch(batch_size, nproc)


def worker_args(
    family: str,
    data: str,
    out_dir: Path,
    options: dict[str, Any],
    set_: Sequence[str],
    flags: dict[str, bool],
) -> list[str]:
    """The ``genedge train`` command line each ``--nproc`` worker runs (``--nproc`` left out).

    Args:
        options: ``--name value`` options; ``None`` values are left out.
        set_: ``--set key=value`` items, passed on as given.
        flags: ``--name`` flags, passed when true.
    """
    args = ["train", family, "--out", str(out_dir)]
    if data:
        args += ["--data", data]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name}", str(value)]
    for item in set_:
        args += ["--set", item]
    return args + [f"--{name}" for name, on in flags.items() if on]
