"""The training loop: seeded, resumable, checkpointed, with a progress bar and sample grids."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genedge.runtime.errors import GenedgeError, InputError, Interrupted
from genedge.train.checkpoint import list_checkpoints, restore, save_checkpoint
from genedge.train.data import DATA_OPTIONS, Dataset, load_dataset
from genedge.train.families import get_family
from genedge.train.parallel.batch import process_batch, rank_seed, shard_indices
from genedge.train.parallel.collectives import (
    average_buffers,
    barrier,
    check_replicas,
    from_main,
    gather_rng_states,
    on_every_rank,
    reduce_step,
)
from genedge.train.parallel.replica import has_batchnorm, partly_used_models, wrap
from genedge.train.parallel.world import World, current_world, worker_device
from genedge.train.preprocess import to_model_units
from genedge.train.progress import launch_record, write_grid
from genedge.train.resume import (
    check_new_run,
    newest_checkpoint,
    restore_rng,
    resumed_config,
    resumed_threads,
    truncate_metrics,
)
from genedge.train.run import RunConfig, load_config, save_config
from genedge.train.settings import new_config
from genedge.train.stop import StopFlag
from genedge.train.threads import check_threads, torch_scope


class TrainingDiverged(GenedgeError):
    """Losses or weights became NaN/Inf."""


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"unknown device {device!r}; use auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA GPU here")
    return torch.device(device)


class TrainingInterrupted(Interrupted):
    """The run was stopped by a signal after saving a checkpoint (CLI exit ``128 + signal``)."""


def train(
    run_dir: str | Path,
    family_name: str | None = None,
    data: str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    resume: bool = False,
    device: str = "auto",
    checkpoint_every: int = 1000,
    sample_every: int = 1000,
    log_every: int = 50,
    threads: int | None = None,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Train a model into ``run_dir``; with ``resume``, continue it exactly from its last
    checkpoint (the same weights as an uninterrupted run with the same seed).

    Inside a process group (``torchrun``, ``genedge train --nproc N``, or any
    ``torch.distributed.init_process_group`` before the call) every process calls this: the
    trained models are wrapped in DistributedDataParallel, each process trains on its shard of
    the data with ``batch_size / N`` samples per step (``batch_size`` is the global batch),
    and rank 0 alone writes the run folder and calls ``on_step``/``on_start``. See
    :mod:`genedge.train.distributed`.

    Torch's thread count and global random generator are set for the call only: both are
    restored when it returns or raises.

    Args:
        run_dir: The run folder (created if needed).
        family_name: Model family; with ``resume`` taken from the run (if given, it must match).
        data: Built-in data set name or path; with ``resume`` taken from the run (if given, it
            must match).
        overrides: Hyper-parameters replacing the family's defaults (``steps``, ``lr``, ...),
            and ``sequence_id``, the CSV column that groups rows into sequences (see
            :func:`~genedge.train.data.load_dataset`). With ``resume`` only ``steps`` may
            change; any other override must equal the run's value (``None`` values are unset).
        seed: Seed of initial weights, batch order and noise (with ``resume``: the run's).
        device: ``auto``, ``cpu`` or ``cuda`` (under DDP: the GPU of the local rank).
        threads: CPU threads for torch (``None``: torch's default, one per core; with
            ``resume``, the count the run recorded). Use 1 when several runs share a machine:
            oversubscribed cores slow each run several-fold. The count used is recorded in
            ``run.json`` (``provenance.threads``): CPU results depend on it, so resuming on
            another count continues the run, with a note that it is no longer bit-identical
            to an uninterrupted one.
        on_step: Called as ``on_step(step, total, losses)`` after each logged step (progress).
        on_start: Called once before the first step with what the run does: ``world_size``,
            ``backend``, ``device``, ``global_batch``, ``process_batch``, ``lr``, ``lr_rule``,
            ``sync_batchnorm``, ``start_step``, ``steps`` and ``notes``.

    Returns:
        The newest checkpoint's JSON path.

    Raises:
        InputError: Bad settings, e.g. a batch that does not split over the processes, a batch
            larger than the data, or a resumed run given settings that differ from its own.
        TrainingDiverged: Losses or weights became NaN/Inf.
        TrainingInterrupted: SIGINT/SIGTERM; a checkpoint was saved first.
    """
    run_dir = Path(run_dir)
    world = current_world()
    if world.distributed:
        device = worker_device(device, world.local_rank)
    dev = resolve_device(device)
    check_threads(threads)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    data_options = {k: overrides.pop(k) for k in DATA_OPTIONS if k in overrides}
    notes: list[str] = []
    if resume:
        saved_cfg = cfg = from_main(lambda: load_config(run_dir), world)
        cfg = resumed_config(cfg, family_name, data, overrides, data_options)
        threads, note = resumed_threads(cfg, threads)
        notes += note
        ds = load_dataset(cfg.data, seed=cfg.seed, **cfg.data_options)
    else:
        if family_name is None or data is None:
            raise InputError("a new run needs a family and a data set")
        from_main(lambda: check_new_run(run_dir), world)
        ds = load_dataset(data, seed=seed, **data_options)
        saved_cfg = cfg = new_config(
            family_name,
            data,
            overrides,
            seed,
            ds,
            world_size=world.world_size,
            data_options=data_options,
        )
    notes += ds.notes
    with torch_scope(threads, seed=cfg.seed):
        if not resume:
            saved_cfg = cfg = dataclasses.replace(
                cfg, provenance={**cfg.provenance, "threads": torch.get_num_threads()}
            )
        return _run(
            run_dir,
            cfg,
            saved_cfg,
            ds,
            world,
            dev,
            given=set(overrides),
            resume=resume,
            notes=notes,
            checkpoint_every=checkpoint_every,
            sample_every=sample_every,
            log_every=log_every,
            on_step=on_step,
            on_start=on_start,
        )


def _run(
    run_dir: Path,
    cfg: RunConfig,
    saved_cfg: RunConfig,
    ds: Dataset,
    world: World,
    dev: torch.device,
    *,
    given: set[str],
    resume: bool,
    notes: list[str],
    checkpoint_every: int,
    sample_every: int,
    log_every: int,
    on_step: Callable[[int, int, dict[str, float]], None] | None,
    on_start: Callable[[dict[str, Any]], None] | None,
) -> Path:
    """:func:`train` once the configuration is settled: inside its :func:`torch_scope`."""
    family = get_family(cfg.family)
    # The family's typed config (its dict for dict-API families); the loop reads the common part.
    hp = family.from_hparams(cfg.hparams)
    common = family.common(hp)
    steps, bs = common.steps, common.batch_size
    if steps <= 0 or bs <= 0:
        raise InputError("steps and batch_size must be positive")
    per_bs = process_batch(bs, world.world_size)
    check_batch_fits(bs, world.world_size, len(ds))

    models = family.build(hp, cfg.data_info)
    for m in models.values():
        m.to(dev).train()
    opts = family.optimizers(models, hp)
    gen = torch.Generator().manual_seed(rank_seed(cfg.seed, world.rank))
    start = 0
    ckpt_dir = run_dir / "checkpoints"
    meta: Path | None = None
    if resume:
        found = from_main(lambda: newest_checkpoint(ckpt_dir, cfg.family), world)
        if found is not None:
            meta, state, tensors = found
            restore(state, tensors, models, opts)
            start = int(state["step"])
            notes += restore_rng(gen, state, tensors, world, cfg.seed, start)
            if world.is_main:
                truncate_metrics(run_dir / "metrics.jsonl", start)

    sync_bn = world.distributed and dev.type == "cuda" and has_batchnorm(models)
    launch = launch_record(cfg, common.lr, world, dev, per_bs, sync_bn, given, resume)
    record_launch = world.distributed or "distributed" in saved_cfg.provenance
    if record_launch:
        record = {k: v for k, v in launch.items() if k not in ("device",)}
        saved_cfg = dataclasses.replace(
            saved_cfg, provenance={**saved_cfg.provenance, "distributed": record}
        )
        cfg = dataclasses.replace(cfg, provenance=saved_cfg.provenance)
    if world.is_main:
        if not resume:
            run_dir.mkdir(parents=True, exist_ok=True)
        if not resume or record_launch:
            save_config(run_dir, saved_cfg)
        if on_start:
            on_start({**launch, "start_step": start, "steps": steps, "notes": notes})

    x_np = to_model_units(ds.x, cfg.preprocessing)
    y_np = family.training_labels(models, hp, x_np, ds.y, cfg.seed)
    x_all = torch.from_numpy(x_np)
    y_all = None if y_np is None else torch.from_numpy(np.asarray(y_np, np.int64))
    if world.distributed:
        # Each process keeps only its shard: disjoint, equal-sized, fixed for the run.
        shard = shard_indices(x_all.shape[0], world, cfg.seed)
        x_all = x_all[shard]
        y_all = None if y_all is None else y_all[shard]
    x_all = x_all.to(dev)
    y_all = None if y_all is None else y_all.to(dev)
    n = x_all.shape[0]
    train_models = models
    if world.distributed:
        probe_gen = torch.Generator().manual_seed(0)
        probe_gen.set_state(gen.get_state())
        idx = torch.randint(n, (per_bs,), generator=probe_gen).to(dev)
        xb, yb = x_all[idx], None if y_all is None else y_all[idx]
        partly_used = partly_used_models(
            lambda m, o: family.train_step(m, o, xb, yb, probe_gen, hp), models, opts
        )
        train_models, _ = wrap(models, opts, world, dev, partly_used)
    fixed_z_seed = cfg.seed + 12345
    metrics_path = run_dir / "metrics.jsonl"
    t0, last_log = time.perf_counter(), start

    def checkpoint(step: int) -> Path:
        for name, m in models.items():
            if not all(torch.isfinite(p).all() for p in m.parameters()):
                raise on_every_rank(
                    TrainingDiverged(
                        f"weights of {name} became NaN/Inf by step {step}; the last good "
                        "checkpoint is kept. Try a lower --lr or check the data for outliers"
                    )
                )
        average_buffers(models, world)
        check_replicas(models, world, dev)
        states = gather_rng_states(gen, world)
        if not world.is_main:
            return ckpt_dir / f"step-{step:08d}.json"
        return save_checkpoint(
            ckpt_dir,
            step,
            models,
            opts,
            gen,
            cfg.family,
            extra={"world_size": world.world_size} if world.distributed else None,
            extra_tensors={f"rng/torch/rank{r}": s for r, s in enumerate(states) if r},
        )

    log_file = open(metrics_path, "a") if world.is_main else contextlib.nullcontext()  # noqa: SIM115
    with StopFlag() as stop, log_file as log:
        for step in range(start + 1, steps + 1):
            idx = torch.randint(n, (per_bs,), generator=gen).to(dev)
            losses = family.train_step(
                train_models, opts, x_all[idx], None if y_all is None else y_all[idx], gen, hp
            )
            # Under DDP: the mean over processes, and a stop any one of them was asked for.
            losses, stopping = reduce_step(losses, stop.signal is not None, world, dev)
            if not all(math.isfinite(v) for v in losses.values()):
                bad = ", ".join(f"{k}={v}" for k, v in losses.items())
                raise on_every_rank(
                    TrainingDiverged(
                        f"training diverged at step {step} ({bad}); the last good checkpoint is "
                        "kept. Try a lower --lr, a smaller batch, or check the data for outliers"
                    )
                )
            # The log is open on rank 0 only.
            if (step % log_every == 0 or step == steps) and log is not None:
                rate = (step - last_log) / max(1e-9, time.perf_counter() - t0)
                t0, last_log = time.perf_counter(), step
                line = {
                    "step": step,
                    **losses,
                    "steps_per_s": round(rate, 2),
                    # check_batch_fits() made every step draw exactly per_bs samples per process.
                    "samples_per_s": round(rate * per_bs * world.world_size, 1),
                }
                log.write(json.dumps(line) + "\n")
                log.flush()
                if on_step:
                    on_step(step, steps, losses)
            if step % sample_every == 0 or step == steps:
                average_buffers(models, world)
                if world.is_main:
                    write_grid(run_dir, step, family, models, cfg, fixed_z_seed)
            if step % checkpoint_every == 0 or step == steps:
                meta = checkpoint(step)
            if stopping:
                meta = checkpoint(step)
                by = f"signal {stop.signal}" if stop.signal is not None else "a signal"
                raise on_every_rank(
                    TrainingInterrupted(
                        f"stopped by {by} at step {step}; checkpoint saved, continue with --resume",
                        signal=stop.signal or signal.SIGINT,
                    )
                )
    if meta is None:  # resumed a run that had already finished
        meta = from_main(lambda: list_checkpoints(ckpt_dir)[0], world)
    barrier(world)  # every rank returns once rank 0's last checkpoint is on disk
    return meta


def check_batch_fits(batch_size: int, world_size: int, samples: int) -> None:
    """Refuse a batch larger than the data each process trains on (its shard under DDP).

    Raises:
        InputError: Naming the batch and the data size, and the largest batch that fits.
    """
    share = -(-samples // world_size)  # DistributedSampler pads the shards to equal sizes
    per_process = batch_size // world_size
    if per_process <= share:
        return
    if world_size == 1:
        raise on_every_rank(
            InputError(
                f"batch_size {batch_size} is larger than the data ({samples} samples); "
                f"pass --batch-size {samples} or less"
            )
        )
    raise on_every_rank(
        InputError(
            f"batch_size {batch_size} is {per_process} per process, larger than each process's "
            f"share of the data ({share} of {samples} samples over {world_size} processes); "
            f"pass --batch-size {share * world_size} or less"
        )
    )
