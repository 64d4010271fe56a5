"""The training loop: seeded, resumable, checkpointed, with a progress bar and sample grids."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import platform
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genedge import __version__
from genedge.runtime.errors import GenedgeError, InputError, Interrupted
from genedge.train import distributed as ddp
from genedge.train.checkpoint import list_checkpoints, load_checkpoint, restore, save_checkpoint
from genedge.train.data import DATA_OPTIONS, Dataset, load_dataset
from genedge.train.families import get_family
from genedge.train.families.base import Family, Models
from genedge.train.preprocess import minmax, to_model_units
from genedge.train.run import DataInfo, RunConfig, load_config, save_config
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


def data_info(ds: Dataset) -> DataInfo:
    return DataInfo(
        name=ds.name,
        kind=ds.kind,
        sample_shape=tuple(int(s) for s in ds.sample_shape),
        value_range=(float(ds.value_range[0]), float(ds.value_range[1])),
        num_classes=int(ds.num_classes),
        class_names=tuple(ds.class_names),
        size=len(ds),
    )


def _parse_override(family: Family, defaults: dict[str, Any], key: str, value: Any) -> Any:
    if key not in defaults:
        raise InputError(
            f"{family.name} has no setting {key!r}; settings: {', '.join(sorted(defaults))}"
        )
    return value


#: Hyper-parameters that are learning rates (scaled with the default batch).
LR_KEYS = ("lr", "d_lr")


def new_config(
    family_name: str,
    data: str,
    overrides: dict[str, Any],
    seed: int,
    ds: Dataset,
    world_size: int = 1,
    data_options: dict[str, Any] | None = None,
) -> RunConfig:
    """A run configuration: the family's defaults for this data, with overrides applied.

    ``batch_size`` is the global batch. For ``world_size`` > 1 processes without a given
    batch, the family's default batch is kept when it splits into shares of at least
    :data:`genedge.train.distributed.MIN_PROCESS_BATCH`, and otherwise grows to the next
    multiple of ``world_size`` that does; learning rates not given then follow it by the
    square-root rule (:func:`genedge.train.distributed.scaled_lr`), recorded in the
    provenance under ``batch_scaling``. ``data_options`` are how ``ds`` was read from
    ``data`` (:func:`~genedge.train.data.load_dataset`'s keywords), kept so a resume reads it
    alike.
    """
    family = get_family(family_name)
    info = data_info(ds)
    family.check_data(info)
    hp = family.defaults(info)
    given = set()
    for k, v in overrides.items():
        if v is not None:
            hp[k] = _parse_override(family, hp, k, v)
            given.add(k)
    scaling: dict[str, Any] = {}
    if world_size > 1 and "batch_size" not in given:
        ref = int(hp["batch_size"])
        batch = ddp.default_global_batch(ref, world_size)
        if batch != ref:
            hp["batch_size"] = batch
            scaling = {"reference_batch": ref, "batch_size": batch, "rule": "sqrt"}
            for k in LR_KEYS:
                if k in hp and k not in given:
                    scaling[f"reference_{k}"] = float(hp[k])
                    hp[k] = ddp.scaled_lr(float(hp[k]), batch, ref)
    return RunConfig(
        family=family_name,
        data=data,
        hparams=hp,
        data_info=info,
        preprocessing=minmax(info.value_range, family.model_range),
        seed=seed,
        provenance={
            "genedge": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"batch_scaling": scaling} if scaling else {}),
        },
        data_options=dict(data_options or {}),
    )


class _StopFlag:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Outside the main thread signals cannot be caught: leave them alone.
            with contextlib.suppress(ValueError):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


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
    world = ddp.current_world()
    if world.distributed:
        device = ddp.worker_device(device, world.local_rank)
    dev = resolve_device(device)
    check_threads(threads)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    data_options = {k: overrides.pop(k) for k in DATA_OPTIONS if k in overrides}
    notes: list[str] = []
    if resume:
        saved_cfg = cfg = ddp.from_main(lambda: load_config(run_dir), world)
        cfg = _resumed_config(cfg, family_name, data, overrides, data_options)
        threads, note = _resumed_threads(cfg, threads)
        notes += note
        ds = load_dataset(cfg.data, seed=cfg.seed, **cfg.data_options)
    else:
        if family_name is None or data is None:
            raise InputError("a new run needs a family and a data set")
        ddp.from_main(lambda: _check_new_run(run_dir), world)
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
    world: ddp.World,
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
    hp = cfg.hparams
    steps, bs = int(hp["steps"]), int(hp["batch_size"])
    if steps <= 0 or bs <= 0:
        raise InputError("steps and batch_size must be positive")
    per_bs = ddp.process_batch(bs, world.world_size)
    check_batch_fits(bs, world.world_size, len(ds))

    models = family.build(hp, cfg.data_info)
    for m in models.values():
        m.to(dev).train()
    opts = family.optimizers(models, hp)
    gen = torch.Generator().manual_seed(ddp.rank_seed(cfg.seed, world.rank))
    start = 0
    ckpt_dir = run_dir / "checkpoints"
    meta: Path | None = None
    if resume:
        found = ddp.from_main(lambda: _newest_checkpoint(ckpt_dir, cfg.family), world)
        if found is not None:
            meta, state, tensors = found
            restore(state, tensors, models, opts)
            start = int(state["step"])
            notes += _restore_rng(gen, state, tensors, world, cfg.seed, start)
            if world.is_main:
                _truncate_metrics(run_dir / "metrics.jsonl", start)

    sync_bn = world.distributed and dev.type == "cuda" and ddp.has_batchnorm(models)
    launch = _launch_record(cfg, world, dev, per_bs, sync_bn, given, resume)
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
        shard = ddp.shard_indices(x_all.shape[0], world, cfg.seed)
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
        partly_used = ddp.partly_used_models(
            lambda m, o: family.train_step(m, o, xb, yb, probe_gen, hp), models, opts
        )
        train_models, _ = ddp.wrap(models, opts, world, dev, partly_used)
    fixed_z_seed = cfg.seed + 12345
    metrics_path = run_dir / "metrics.jsonl"
    t0, last_log = time.perf_counter(), start

    def checkpoint(step: int) -> Path:
        for name, m in models.items():
            if not all(torch.isfinite(p).all() for p in m.parameters()):
                raise ddp.on_every_rank(
                    TrainingDiverged(
                        f"weights of {name} became NaN/Inf by step {step}; the last good "
                        "checkpoint is kept. Try a lower --lr or check the data for outliers"
                    )
                )
        ddp.average_buffers(models, world)
        ddp.check_replicas(models, world, dev)
        states = ddp.gather_rng_states(gen, world)
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
    with _StopFlag() as stop, log_file as log:
        for step in range(start + 1, steps + 1):
            idx = torch.randint(n, (per_bs,), generator=gen).to(dev)
            losses = family.train_step(
                train_models, opts, x_all[idx], None if y_all is None else y_all[idx], gen, hp
            )
            # Under DDP: the mean over processes, and a stop any one of them was asked for.
            losses, stopping = ddp.reduce_step(losses, stop.signal is not None, world, dev)
            if not all(math.isfinite(v) for v in losses.values()):
                bad = ", ".join(f"{k}={v}" for k, v in losses.items())
                raise ddp.on_every_rank(
                    TrainingDiverged(
                        f"training diverged at step {step} ({bad}); the last good checkpoint is "
                        "kept. Try a lower --lr, a smaller batch, or check the data for outliers"
                    )
                )
            if (step % log_every == 0 or step == steps) and world.is_main:
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
                ddp.average_buffers(models, world)
                if world.is_main:
                    _write_grid(run_dir, step, family, models, hp, cfg, fixed_z_seed)
            if step % checkpoint_every == 0 or step == steps:
                meta = checkpoint(step)
            if stopping:
                meta = checkpoint(step)
                by = f"signal {stop.signal}" if stop.signal is not None else "a signal"
                raise ddp.on_every_rank(
                    TrainingInterrupted(
                        f"stopped by {by} at step {step}; checkpoint saved, continue with --resume",
                        signal=stop.signal or signal.SIGINT,
                    )
                )
    if meta is None:  # resumed a run that had already finished
        meta = ddp.from_main(lambda: list_checkpoints(ckpt_dir)[0], world)
    ddp.barrier(world)  # every rank returns once rank 0's last checkpoint is on disk
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
        raise ddp.on_every_rank(
            InputError(
                f"batch_size {batch_size} is larger than the data ({samples} samples); "
                f"pass --batch-size {samples} or less"
            )
        )
    raise ddp.on_every_rank(
        InputError(
            f"batch_size {batch_size} is {per_process} per process, larger than each process's "
            f"share of the data ({share} of {samples} samples over {world_size} processes); "
            f"pass --batch-size {share * world_size} or less"
        )
    )


def _resumed_config(
    cfg: RunConfig,
    family_name: str | None,
    data: str | None,
    overrides: dict[str, Any],
    data_options: dict[str, Any],
) -> RunConfig:
    """The run's own configuration with ``steps`` as given; every other setting given must
    equal the run's, since the checkpoint's weights and optimiser state were made with those.

    Raises:
        InputError: A setting the family does not have, or one that differs from the run's.
    """
    family = get_family(cfg.family)
    for k, v in overrides.items():
        _parse_override(family, cfg.hparams, k, v)
    asked = {"family": family_name, "data": data, **overrides, **data_options}
    recorded = {"family": cfg.family, "data": cfg.data, **cfg.hparams, **cfg.data_options}

    def shown(v: Any) -> str:
        return repr(v) if isinstance(v, str) else str(v)

    differ = [
        f"{k}={shown(v)} differs from the run's "
        + (shown(recorded[k]) if k in recorded else "(unset)")
        for k, v in asked.items()
        if k != "steps" and v is not None and not _same(k, v, recorded.get(k))
    ]
    if differ:
        them = "them" if len(differ) > 1 else "it"
        raise ddp.on_every_rank(
            InputError(
                f"--resume keeps the run's settings; {'; '.join(differ)}: start a new run, "
                f"or leave {them} out"
            )
        )
    if "steps" in overrides:
        cfg = dataclasses.replace(cfg, hparams={**cfg.hparams, "steps": overrides["steps"]})
    return cfg


def _same(key: str, a: Any, b: Any) -> bool:
    """Equal as run.json stores them (a tuple and its list are the same setting); ``data``
    also when both name the same file or folder."""
    if key == "data" and isinstance(a, str) and isinstance(b, str) and a != b:
        pa, pb = Path(a).expanduser(), Path(b).expanduser()
        return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()
    try:
        return bool(json.loads(json.dumps(a)) == json.loads(json.dumps(b)))
    except (TypeError, ValueError):
        return bool(a == b)


def _resumed_threads(cfg: RunConfig, threads: int | None) -> tuple[int | None, list[str]]:
    """The thread count to resume on (by default the run's) and a note when it differs."""
    recorded = cfg.provenance.get("threads")
    if recorded is None:
        return threads, []
    if threads is None:
        return int(recorded), []
    if threads == recorded:
        return threads, []
    return threads, [
        f"the run was trained on {recorded} torch thread(s) and resumes on {threads}: it "
        "carries on, but the result will not be bit-identical to an uninterrupted run "
        f"(leave --threads out to use the run's {recorded})"
    ]


def _check_new_run(run_dir: Path) -> None:
    if (run_dir / "run.json").exists():
        raise InputError(f"{run_dir} already holds a run; use --resume or another --out")


def _newest_checkpoint(
    folder: Path, family: str
) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]] | None:
    ckpts = list_checkpoints(folder)
    if not ckpts:
        return None
    state, tensors = load_checkpoint(ckpts[0], family)
    return ckpts[0], state, tensors


def _restore_rng(
    gen: torch.Generator,
    state: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    world: ddp.World,
    seed: int,
    step: int,
) -> list[str]:
    """Restore this rank's batch/noise generator; returns notes when it cannot be exact."""
    saved = int(state.get("world_size", 1))
    key = "rng/torch" if world.rank == 0 else f"rng/torch/rank{world.rank}"
    if saved == world.world_size and key in tensors:
        gen.set_state(tensors[key])
        return []
    if world.rank == 0:
        gen.set_state(tensors["rng/torch"])
    else:
        gen.manual_seed(ddp.rank_seed(seed + step, world.rank))
    return [
        f"the checkpoint was written by {saved} process(es) and resumes on "
        f"{world.world_size}: the weights carry on, but batches and noise follow new random "
        "streams, so the result differs from an uninterrupted run"
    ]


def _launch_record(
    cfg: RunConfig,
    world: ddp.World,
    dev: torch.device,
    per_bs: int,
    sync_bn: bool,
    given: set[str],
    resume: bool,
) -> dict[str, Any]:
    """What this launch does, for the terminal and ``run.json``: processes, global and
    per-process batch, and the learning rate with where it came from."""
    hp = cfg.hparams
    scaling = cfg.provenance.get("batch_scaling") or {}
    if "lr" in given and not resume:
        rule = "given"
    elif "reference_lr" in scaling:
        rule = (
            f"family default {scaling['reference_lr']:g} x sqrt({scaling['batch_size']}"
            f"/{scaling['reference_batch']}) (the default batch grew to split over the processes)"
        )
    elif resume:
        rule = "from run.json"
    else:
        rule = "family default"
    return {
        "world_size": world.world_size,
        "backend": world.backend or "none",
        "device": str(dev),
        "global_batch": per_bs * world.world_size,
        "process_batch": per_bs,
        "lr": hp.get("lr"),
        "lr_rule": rule,
        "sync_batchnorm": sync_bn,
    }


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log lines past the checkpoint being resumed (written before a crash)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the crash
    from genedge.runtime.atomic import write_bytes_atomic

    write_bytes_atomic(path, "".join(f"{ln}\n" for ln in kept).encode())


def _write_grid(
    run_dir: Path,
    step: int,
    family: Family,
    models: Models,
    hp: dict[str, Any],
    cfg: RunConfig,
    seed: int,
) -> None:
    """Write a grid of 64 samples from fixed noise to ``samples/`` (images and points only)."""
    from genedge.runtime.writers import render_png
    from genedge.train.reference import torch_sampler

    info = cfg.data_info
    if info.kind not in ("image", "points", "sequence"):
        return
    was_training = {k: m.training for k, m in models.items()}
    try:
        sampler = torch_sampler(cfg, family, models)
        n = 64 if info.kind != "points" else 2000
        x, y = sampler.sample_labelled(n, seed)
        folder = run_dir / "samples"
        folder.mkdir(exist_ok=True)
        png = render_png(x, sampler.manifest)
        for name in (f"step-{step:08d}.png", "latest.png"):
            (folder / name).write_bytes(png)
    finally:
        for k, m in models.items():
            m.train(was_training[k])
