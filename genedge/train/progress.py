"""What a run reports as it goes: the launch record and the sample grids under ``samples/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genedge.train.families.base import Family, Models
from genedge.train.parallel.world import World
from genedge.train.run import RunConfig


def launch_record(
    cfg: RunConfig,
    lr: float,
    world: World,
    dev: torch.device,
    per_bs: int,
    sync_bn: bool,
    given: set[str],
    resume: bool,
) -> dict[str, Any]:
    """What this launch does, for the terminal and ``run.json``: processes, global and
    per-process batch, and the learning rate ``lr`` with where it came from."""
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
        "lr": lr,
        "lr_rule": rule,
        "sync_batchnorm": sync_bn,
    }


def write_grid(
    run_dir: Path,
    step: int,
    family: Family[Any],
    models: Models,
    cfg: RunConfig,
    seed: int,
) -> None:
    """Write a grid of 64 samples from fixed noise to ``samples/`` (images and points only)."""
    from genedge.runtime.writers import render_png
    from genedge.train.reference import torch_sampler

    info = cfg.data_info
    if info.kind not in ("image", "points", "sequence", "audio"):
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
