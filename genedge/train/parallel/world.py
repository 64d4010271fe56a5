"""Where a process stands in a run: torchrun's variables, the device and backend of a worker,
and joining and leaving the process group."""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from genedge.runtime.errors import InputError

#: Backends ``--backend`` accepts; ``auto`` is nccl for CUDA devices, gloo otherwise.
BACKENDS = ("auto", "gloo", "nccl")
#: How long a collective may wait for a missing peer before the run fails instead of hanging.
TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class World:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank: Global rank, 0 .. world_size - 1.
        world_size: Number of processes.
        local_rank: Rank on this host (selects the GPU).
        backend: ``gloo`` or ``nccl``; empty for a single process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def distributed(self) -> bool:
        """Whether several processes take part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0


def launched_by_torchrun(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process is a worker started by torchrun (or ``--nproc``): torchrun sets
    ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` with ``MASTER_ADDR``/``MASTER_PORT``."""
    variables: Mapping[str, str] = os.environ if env is None else env
    return all(k in variables for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"))


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """Rank, world size and local rank from torchrun's variables (a single process without).

    Raises:
        InputError: The variables are not integers or are inconsistent.
    """
    variables: Mapping[str, str] = os.environ if env is None else env
    if not launched_by_torchrun(variables):
        return World()
    try:
        rank, size, local = (int(variables[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise InputError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if size < 1 or not 0 <= rank < size or local < 0:
        raise InputError(f"inconsistent torchrun variables: RANK={rank}, WORLD_SIZE={size}")
    return World(rank, size, local)


def current_world() -> World:
    """The world of the process group this process has joined (a single process if none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return World(dist.get_rank(), dist.get_world_size(), local, str(dist.get_backend()))


def worker_device(device: str, local_rank: int) -> str:
    """The device one worker trains on: ``auto``/``cuda`` pick the GPU of its local rank.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:K``.
        local_rank: The worker's rank on this host.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return f"cuda:{local_rank}" if torch.cuda.device_count() > 1 else "cuda:0"
    return device


def gpu_count() -> int:
    """CUDA GPUs torch sees on this host."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def choose_backend(backend: str, device: str) -> str:
    """The collective backend for a device: nccl for CUDA, gloo for the CPU.

    Args:
        backend: ``auto``, ``gloo`` or ``nccl``.
        device: The worker's device (``cpu``, ``cuda``, ``cuda:K`` or ``auto``).

    Raises:
        InputError: Unknown backend, or nccl without a CUDA GPU or without nccl in this torch.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if backend == "auto":
        return "nccl" if cuda and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise InputError("--backend nccl needs CUDA GPUs, but torch sees none; use gloo")
        if not cuda:
            raise InputError("--backend nccl needs --device cuda (or auto); use gloo on the CPU")
        if not dist.is_nccl_available():
            raise InputError("this torch build has no nccl; use --backend gloo")
    return backend


@contextlib.contextmanager
def process_group(backend: str = "auto", device: str = "auto") -> Iterator[World]:
    """Join the process group torchrun describes in the environment, and leave it after.

    Outside torchrun (no ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``) it yields a single-process
    :class:`World` and does nothing, so callers need no second code path.

    Args:
        backend: ``auto`` (nccl for CUDA devices, gloo otherwise), ``gloo`` or ``nccl``.
        device: The device the workers train on (picks the backend for ``auto``).

    Raises:
        InputError: A backend this machine cannot run.
    """
    if not launched_by_torchrun():
        yield World()
        return
    world = world_from_env()
    chosen = choose_backend(backend, worker_device(device, world.local_rank))
    kwargs: dict[str, Any] = {}
    if chosen == "nccl":
        dev = torch.device(worker_device("cuda", world.local_rank))
        torch.cuda.set_device(dev)
        kwargs["device_id"] = dev
    dist.init_process_group(
        chosen,
        init_method="env://",
        rank=world.rank,
        world_size=world.world_size,
        timeout=TIMEOUT,
        **kwargs,
    )
    joined = World(world.rank, world.world_size, world.local_rank, chosen)
    try:
        yield joined
        _leave_together(joined)
    finally:
        # After an error: at once, so the launcher sees the failure and stops the others.
        dist.destroy_process_group()


def _leave_together(world: World) -> None:
    """Wait, through the rendezvous store, until every process has finished its collectives.

    A process that hangs up while a peer is still reading the last message of a collective can
    make gloo abort that peer; leaving only once everyone is done avoids the race.
    """
    try:
        store = dist.distributed_c10d._get_default_store()
        store.set(f"genedge/done/{world.rank}", "1")
        store.wait(
            [f"genedge/done/{r}" for r in range(world.world_size)], datetime.timedelta(seconds=60)
        )
    except Exception:  # noqa: BLE001 - best effort: the run itself is complete
        pass
