"""The training loop: seeded, resumable, checkpointed, with a progress bar and sample grids."""

from __future__ import annotations

import contextlib
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
from genedge.runtime.errors import GenedgeError, InputError
from genedge.train.checkpoint import list_checkpoints, load_checkpoint, restore, save_checkpoint
from genedge.train.data import Dataset, load_dataset
from genedge.train.families import get_family
from genedge.train.families.base import Family, Models
from genedge.train.preprocess import minmax, to_model_units
from genedge.train.run import DataInfo, RunConfig, RunError, load_config, save_config


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


def new_config(
    family_name: str, data: str, overrides: dict[str, Any], seed: int, ds: Dataset
) -> RunConfig:
    """A run configuration: the family's defaults for this data, with overrides applied."""
    family = get_family(family_name)
    info = data_info(ds)
    family.check_data(info)
    hp = family.defaults(info)
    for k, v in overrides.items():
        if v is not None:
            hp[k] = _parse_override(family, hp, k, v)
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
        },
    )


def load_trained(run_dir: str | Path) -> tuple[RunConfig, Family, Models, int]:
    """Rebuild a run's models from its newest checkpoint, in eval mode on the CPU.

    Raises:
        RunError: Not a run folder, or no checkpoint yet.
        CheckpointError: The newest checkpoint is corrupt or foreign.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    family = get_family(cfg.family)
    models = family.build(cfg.hparams, cfg.data_info)
    ckpts = list_checkpoints(run_dir / "checkpoints")
    if not ckpts:
        raise RunError(f"{run_dir} has no checkpoint yet: train it first")
    state, tensors = load_checkpoint(ckpts[0], cfg.family)
    restore(state, tensors, models)
    for m in models.values():
        m.eval()
    return cfg, family, models, int(state["step"])


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


class TrainingInterrupted(GenedgeError):
    """The run was stopped by a signal after saving a checkpoint."""


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
) -> Path:
    """Train a model into ``run_dir``; with ``resume``, continue it exactly from its last
    checkpoint (the same weights as an uninterrupted run with the same seed).

    Args:
        run_dir: The run folder (created if needed).
        family_name: Model family; with ``resume`` taken from the run.
        data: Built-in data set name or path; with ``resume`` taken from the run.
        overrides: Hyper-parameters replacing the family's defaults (``steps``, ``lr``, ...).
        seed: Seed of initial weights, batch order and noise.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: CPU threads for torch (``None``: torch's default, one per core). Use 1 when
            several runs share a machine: oversubscribed cores slow each run several-fold.
        on_step: Called as ``on_step(step, total, losses)`` after each logged step (progress).

    Returns:
        The newest checkpoint's JSON path.
    """
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    if threads is not None:
        if threads <= 0:
            raise InputError(f"threads must be positive, got {threads}")
        torch.set_num_threads(threads)
    if resume:
        cfg = load_config(run_dir)
        if overrides and overrides.get("steps"):
            cfg = RunConfig(
                **{**cfg.__dict__, "hparams": {**cfg.hparams, "steps": overrides["steps"]}}
            )
        ds = load_dataset(cfg.data, seed=cfg.seed)
    else:
        if family_name is None or data is None:
            raise InputError("a new run needs a family and a data set")
        if (run_dir / "run.json").exists():
            raise InputError(f"{run_dir} already holds a run; use --resume or another --out")
        ds = load_dataset(data, seed=seed)
        cfg = new_config(family_name, data, overrides or {}, seed, ds)
    family = get_family(cfg.family)
    hp = cfg.hparams
    steps, bs = int(hp["steps"]), int(hp["batch_size"])
    if steps <= 0 or bs <= 0:
        raise InputError("steps and batch_size must be positive")

    torch.manual_seed(cfg.seed)
    models = family.build(hp, cfg.data_info)
    for m in models.values():
        m.to(dev).train()
    opts = family.optimizers(models, hp)
    gen = torch.Generator().manual_seed(cfg.seed)
    start = 0
    ckpt_dir = run_dir / "checkpoints"
    if resume:
        ckpts = list_checkpoints(ckpt_dir)
        if ckpts:
            state, tensors = load_checkpoint(ckpts[0], cfg.family)
            restore(state, tensors, models, opts, gen)
            start = int(state["step"])
            _truncate_metrics(run_dir / "metrics.jsonl", start)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run_dir, cfg)

    x_all = torch.from_numpy(to_model_units(ds.x, cfg.preprocessing)).to(dev)
    y_all = None if ds.y is None else torch.from_numpy(np.asarray(ds.y, np.int64)).to(dev)
    n = x_all.shape[0]
    fixed_z_seed = cfg.seed + 12345
    metrics_path = run_dir / "metrics.jsonl"
    t0, last_log = time.perf_counter(), start
    meta = ckpts[0] if resume and ckpts else None

    def checkpoint(step: int) -> Path:
        for name, m in models.items():
            if not all(torch.isfinite(p).all() for p in m.parameters()):
                raise TrainingDiverged(
                    f"weights of {name} became NaN/Inf by step {step}; the last good checkpoint "
                    "is kept. Try a lower --lr or check the data for outliers"
                )
        return save_checkpoint(ckpt_dir, step, models, opts, gen, cfg.family)

    with _StopFlag() as stop, open(metrics_path, "a") as log:
        for step in range(start + 1, steps + 1):
            idx = torch.randint(n, (min(bs, n),), generator=gen).to(dev)
            losses = family.train_step(
                models, opts, x_all[idx], None if y_all is None else y_all[idx], gen, hp
            )
            if not all(math.isfinite(v) for v in losses.values()):
                bad = ", ".join(f"{k}={v}" for k, v in losses.items())
                raise TrainingDiverged(
                    f"training diverged at step {step} ({bad}); the last good checkpoint is kept. "
                    "Try a lower --lr, a smaller batch, or check the data for outliers"
                )
            if step % log_every == 0 or step == steps:
                rate = (step - last_log) / max(1e-9, time.perf_counter() - t0)
                t0, last_log = time.perf_counter(), step
                log.write(
                    json.dumps({"step": step, **losses, "steps_per_s": round(rate, 2)}) + "\n"
                )
                log.flush()
                if on_step:
                    on_step(step, steps, losses)
            if step % sample_every == 0 or step == steps:
                _write_grid(run_dir, step, family, models, hp, cfg, fixed_z_seed)
            if step % checkpoint_every == 0 or step == steps:
                meta = checkpoint(step)
            if stop.signal is not None:
                meta = checkpoint(step)
                raise TrainingInterrupted(
                    f"stopped by signal {stop.signal} at step {step}; checkpoint saved, "
                    "continue with --resume"
                )
    if meta is None:  # resumed a run that had already finished
        meta = list_checkpoints(ckpt_dir)[0]
    return meta


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
