"""Reading a trained run folder back: its config, family and newest checkpoint's models.

Beside :mod:`genedge.train.run` (which the families import for :class:`DataInfo`, so it cannot
import the families itself) and apart from the training loop, so that export, evaluation and the
reference sampler load runs without importing :mod:`genedge.train.loop`.
"""

from __future__ import annotations

from pathlib import Path

from genedge.train.checkpoint import list_checkpoints, load_checkpoint, restore
from genedge.train.families import get_family
from genedge.train.families.base import Family, Models
from genedge.train.run import RunConfig, RunError, load_config
from genedge.train.threads import torch_scope


def load_trained(run_dir: str | Path) -> tuple[RunConfig, Family, Models, int]:
    """Rebuild a run's models from its newest checkpoint, in eval mode on the CPU.

    Raises:
        RunError: Not a run folder, or no checkpoint yet.
        CheckpointError: The newest checkpoint is corrupt or foreign.
    """
    run_dir = Path(run_dir)
    cfg = load_config(run_dir)
    family = get_family(cfg.family)
    with torch_scope(seed=cfg.seed):  # initial weights, overwritten below: keep the caller's RNG
        models = family.build(family.from_hparams(cfg.hparams), cfg.data_info)
    ckpts = list_checkpoints(run_dir / "checkpoints")
    if not ckpts:
        raise RunError(f"{run_dir} has no checkpoint yet: train it first")
    state, tensors = load_checkpoint(ckpts[0], cfg.family)
    restore(state, tensors, models)
    for m in models.values():
        m.eval()
    return cfg, family, models, int(state["step"])
