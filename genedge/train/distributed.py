"""Training on several processes and hosts with PyTorch's DistributedDataParallel (DDP).

One job: everything the training loop needs to run under ``torchrun`` — joining and leaving
the process group from torchrun's environment variables, which rank does what, wrapping the
trained models in DDP, sharding the data, the few collectives the loop uses, and launching
workers on this host for ``genedge train --nproc N``.

Conventions (see docs/distributed.md):

- ``batch_size`` is the *global* batch: each of the N processes draws ``batch_size / N``
  samples per step from its own shard of the data, and DDP averages the gradients, so a run
  with N processes takes the same optimisation steps as a single process with the same batch.
- Weights start identical everywhere (DDP broadcasts rank 0's); each rank draws batches and
  noise from its own generator, seeded from the run seed and its rank (rank 0 uses the run
  seed itself, so N = 1 is exactly the single-process run).
- Rank 0 alone writes the run folder (``run.json``, checkpoints, grids, ``metrics.jsonl``) and
  prints; every other rank reads what it needs through rank 0 (:func:`from_main`).

The helpers live in :mod:`genedge.train.parallel` (``world``, ``batch``, ``replica``,
``collectives``, ``launch``); this module is their public face, imported as
``from genedge.train import distributed as ddp``.
"""

from __future__ import annotations

from genedge.train.parallel.batch import (
    MIN_PROCESS_BATCH,
    default_global_batch,
    process_batch,
    rank_seed,
    scaled_lr,
    shard_indices,
)
from genedge.train.parallel.collectives import (
    ReplicaMismatch,
    average_buffers,
    barrier,
    check_replicas,
    from_main,
    gather_rng_states,
    on_every_rank,
    reduce_step,
)
from genedge.train.parallel.launch import WorkerFailed, launch_local
from genedge.train.parallel.replica import Replica, has_batchnorm, partly_used_models, wrap
from genedge.train.parallel.world import (
    BACKENDS,
    TIMEOUT,
    World,
    choose_backend,
    current_world,
    gpu_count,
    launched_by_torchrun,
    process_group,
    worker_device,
    world_from_env,
)

__all__ = [
    "BACKENDS",
    "MIN_PROCESS_BATCH",
    "TIMEOUT",
    "Replica",
    "ReplicaMismatch",
    "WorkerFailed",
    "World",
    "average_buffers",
    "barrier",
    "check_replicas",
    "choose_backend",
    "current_world",
    "default_global_batch",
    "from_main",
    "gather_rng_states",
    "gpu_count",
    "has_batchnorm",
    "launch_local",
    "launched_by_torchrun",
    "on_every_rank",
    "partly_used_models",
    "process_batch",
    "process_group",
    "rank_seed",
    "reduce_step",
    "scaled_lr",
    "shard_indices",
    "worker_device",
    "world_from_env",
    "wrap",
]
