"""Resuming a run: its settings, thread count, newest checkpoint, random streams and log."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from genedge.runtime.errors import InputError
from genedge.train.checkpoint import list_checkpoints, load_checkpoint
from genedge.train.families import get_family
from genedge.train.families.config import coerce
from genedge.train.parallel.batch import rank_seed
from genedge.train.parallel.collectives import on_every_rank
from genedge.train.parallel.world import World
from genedge.train.run import RunConfig
from genedge.train.settings import parse_override


def resumed_config(
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
        parse_override(family, cfg.hparams, k, v)
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
        raise on_every_rank(
            InputError(
                f"--resume keeps the run's settings; {'; '.join(differ)}: start a new run, "
                f"or leave {them} out"
            )
        )
    if "steps" in overrides:
        steps = coerce(overrides["steps"], int, "steps")
        cfg = dataclasses.replace(cfg, hparams={**cfg.hparams, "steps": steps})
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


def resumed_threads(cfg: RunConfig, threads: int | None) -> tuple[int | None, list[str]]:
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


def check_new_run(run_dir: Path) -> None:
    if (run_dir / "run.json").exists():
        raise InputError(f"{run_dir} already holds a run; use --resume or another --out")


def newest_checkpoint(
    folder: Path, family: str
) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]] | None:
    ckpts = list_checkpoints(folder)
    if not ckpts:
        return None
    state, tensors = load_checkpoint(ckpts[0], family)
    return ckpts[0], state, tensors


def restore_rng(
    gen: torch.Generator,
    state: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    world: World,
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
        gen.manual_seed(rank_seed(seed + step, world.rank))
    return [
        f"the checkpoint was written by {saved} process(es) and resumes on "
        f"{world.world_size}: the weights carry on, but batches and noise follow new random "
        "streams, so the result differs from an uninterrupted run"
    ]


def truncate_metrics(path: Path, step: int) -> None:
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
