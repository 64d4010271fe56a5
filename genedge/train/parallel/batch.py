"""Batch size, learning rate and seeds of a run on several processes."""

from __future__ import annotations

import math

import numpy as np
import torch

from genedge.runtime.errors import InputError
from genedge.train.parallel.world import World

#: The smallest per-process batch the default global batch allows (see
#: :func:`default_global_batch`).
MIN_PROCESS_BATCH = 16


def default_global_batch(batch: int, world_size: int) -> int:
    """The default global batch for ``world_size`` processes from a family's default ``batch``.

    The family's batch is kept when it splits evenly with at least :data:`MIN_PROCESS_BATCH`
    samples per process (then N processes train exactly like one); otherwise it grows to the
    next multiple of N that does.
    """
    if world_size <= 1:
        return int(batch)
    return max(MIN_PROCESS_BATCH, math.ceil(batch / world_size)) * world_size


def scaled_lr(lr: float, batch: int, reference_batch: int) -> float:
    """The square-root scaling rule for Adam: ``lr * sqrt(batch / reference_batch)``.

    Adam's update is normalised by the gradient's scale, so its noise falls as the square root
    of the batch (Malladi et al. 2022, "On the SDEs and scaling rules for adaptive gradient
    algorithms"); the linear rule of SGD (Goyal et al. 2017) overshoots with it.
    """
    return float(lr) * math.sqrt(batch / reference_batch)


def process_batch(global_batch: int, world_size: int) -> int:
    """Each process's share of the global batch.

    Raises:
        InputError: The batch does not split evenly over the processes.
    """
    if global_batch % world_size:
        lower = global_batch - global_batch % world_size
        raise InputError(
            f"batch_size {global_batch} does not split evenly over {world_size} processes; "
            f"pass --batch-size {lower or world_size} or {lower + world_size} (the global batch)"
        )
    return global_batch // world_size


def rank_seed(seed: int, rank: int) -> int:
    """The seed of one rank's batches and noise: the run seed for rank 0, and a distinct
    stream (numpy's SeedSequence of ``(seed, rank)``) for every other rank."""
    if rank == 0:
        return int(seed)
    words = np.random.SeedSequence([int(seed) & (2**63 - 1), int(rank)]).generate_state(2)
    return int(words[0]) << 31 ^ int(words[1])


def shard_indices(n: int, world: World, seed: int) -> torch.Tensor:
    """This rank's shard of ``n`` samples: torch's :class:`DistributedSampler` partition of a
    seeded shuffle (shards are disjoint, padded to equal sizes by repeating a few samples)."""
    from torch.utils.data import DistributedSampler

    # DistributedSampler needs only len(); torch types its argument as a Dataset.
    sampler: DistributedSampler[int] = DistributedSampler(
        range(n),  # type: ignore[arg-type]
        num_replicas=world.world_size,
        rank=world.rank,
        shuffle=True,
        seed=int(seed),
    )
    return torch.tensor(list(sampler), dtype=torch.int64)
