"""The few collectives the training loop uses (all no-ops for a single process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from genedge.train.parallel.world import World

T = TypeVar("T")


class ReplicaMismatch(RuntimeError):
    """The processes' copies of a model differ: a bug in genedge, not a user error."""


def from_main(fn: Callable[[], T], world: World) -> T:
    """Run ``fn`` on rank 0 and hand its result — or its error — to every rank.

    Reading the run folder this way needs no shared file system between hosts, and a user
    error (a missing run, a corrupt checkpoint) stops every rank with the same message instead
    of leaving the others waiting.
    """
    if not world.distributed:
        return fn()
    box: list[Any] = [None]
    if world.is_main:
        try:
            box[0] = (True, fn())
        except Exception as e:  # noqa: BLE001 - handed to every rank, re-raised there
            box[0] = (False, e)
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise on_every_rank(value)
    result: T = value
    return result


E = TypeVar("E", bound=BaseException)


def on_every_rank(error: E) -> E:
    """Mark an error that every rank raises alike (``error.on_every_rank``), so that only
    rank 0 needs to print it."""
    error.on_every_rank = True  # type: ignore[attr-defined]
    return error


def reduce_step(
    losses: dict[str, float], stop: bool, world: World, device: torch.device
) -> tuple[dict[str, float], bool]:
    """Average one step's losses over the processes and agree on stopping.

    One small all-reduce per step: every rank then sees the same losses (so all detect a
    divergence together) and stops at the same step when any of them got a signal.
    """
    if not world.distributed:
        return losses, stop
    t = torch.tensor([*losses.values(), float(stop)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    values = t.tolist()
    mean = {k: v / world.world_size for k, v in zip(losses, values[:-1], strict=True)}
    return mean, values[-1] > 0


def average_buffers(models: dict[str, nn.Module], world: World) -> None:
    """Average BatchNorm running statistics over the processes.

    Each process's running mean is a moving average of its own batches' means; their average
    is the moving average of the global batches' means, the statistics one process would keep.
    Other buffers are identical on every process already.
    """
    if not world.distributed:
        return
    for model in models.values():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                for b in (m.running_mean, m.running_var):
                    if b is not None:
                        dist.all_reduce(b)
                        b.div_(world.world_size)


def check_replicas(models: dict[str, nn.Module], world: World, device: torch.device) -> None:
    """Raise :class:`ReplicaMismatch` when the processes' weights differ (they never should)."""
    if not world.distributed:
        return
    sums = torch.tensor(
        [float(p.detach().double().sum()) for m in models.values() for p in m.parameters()],
        dtype=torch.float64,
        device=device,
    )
    lo, hi = sums.clone(), sums.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if not torch.equal(lo, hi):
        raise ReplicaMismatch(
            "the processes' model weights diverged; this is a bug in genedge's DDP training"
        )


def gather_rng_states(gen: torch.Generator, world: World) -> list[torch.Tensor]:
    """Every rank's batch/noise generator state, in rank order (on every rank)."""
    if not world.distributed:
        return [gen.get_state()]
    states: list[Any] = [None] * world.world_size
    dist.all_gather_object(states, gen.get_state())
    return states


def barrier(world: World) -> None:
    """Wait for every process (no-op for one)."""
    if world.distributed:
        dist.barrier()
