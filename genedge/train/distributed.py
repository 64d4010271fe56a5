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
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import inspect
import math
import os
import sys
import tempfile
import types
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genedge.runtime.errors import GenedgeError, InputError

T = TypeVar("T")

#: Backends ``--backend`` accepts; ``auto`` is nccl for CUDA devices, gloo otherwise.
BACKENDS = ("auto", "gloo", "nccl")
#: The smallest per-process batch the default global batch allows (see
#: :func:`default_global_batch`).
MIN_PROCESS_BATCH = 16
#: How long a collective may wait for a missing peer before the run fails instead of hanging.
TIMEOUT = datetime.timedelta(minutes=10)


class WorkerFailed(GenedgeError):
    """A worker process of a multi-process run failed; the launcher stopped the others.

    Attributes:
        rank: Global rank of the first worker that failed.
        exit_code: Its exit code (negative: killed by that signal).
    """

    def __init__(self, message: str, rank: int, exit_code: int) -> None:
        super().__init__(message)
        self.rank, self.exit_code = rank, exit_code


class ReplicaMismatch(RuntimeError):
    """The processes' copies of a model differ: a bug in genedge, not a user error."""


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


def launched_by_torchrun(env: dict[str, str] | None = None) -> bool:
    """Whether this process is a worker started by torchrun (or ``--nproc``): torchrun sets
    ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` with ``MASTER_ADDR``/``MASTER_PORT``."""
    env = os.environ if env is None else env
    return all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"))


def world_from_env(env: dict[str, str] | None = None) -> World:
    """Rank, world size and local rank from torchrun's variables (a single process without).

    Raises:
        InputError: The variables are not integers or are inconsistent.
    """
    env = os.environ if env is None else env
    if not launched_by_torchrun(env):
        return World()
    try:
        rank, size, local = (int(env[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
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


# ---------------------------------------------------------------------------------------------
# Batch size, learning rate and seeds


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

    sampler = DistributedSampler(
        range(n), num_replicas=world.world_size, rank=world.rank, shuffle=True, seed=int(seed)
    )
    return torch.tensor(list(sampler), dtype=torch.int64)


# ---------------------------------------------------------------------------------------------
# Wrapping models


class Replica(DistributedDataParallel):
    """DDP that also looks like the module it wraps, so the families need not know about it.

    Attributes the wrapper lacks come from the module (``G.initial_state``,
    ``decoder.bernoulli``). The module's own methods (``decoder.logits``) run *through* DDP's
    forward: DDP synchronises gradients only for computations that enter through it, and a
    method called on the bare module would silently leave its gradients local to one process.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "module" not in modules or name.startswith("_"):
                raise
        module = modules["module"]
        attr = getattr(module, name)
        if isinstance(attr, types.MethodType) and _own_method(type(module), name):
            return functools.partial(self._forward_through, name)
        return attr

    def _forward_through(self, name: str, *args: Any, **kwargs: Any) -> Any:
        module = self.module
        # An instance attribute shadows the class's forward for this one call.
        module.forward = types.MethodType(getattr(type(module), name), module)
        try:
            return self(*args, **kwargs)
        finally:
            del module.forward


# Buffers are broadcast at construction but not before every forward: a GAN calls D twice
# before its backward, and an in-place broadcast would invalidate the first call's graph.
_NO_FORWARD_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


def _own_method(cls: type, name: str) -> bool:
    """Whether ``name`` is a method a model class defines itself (not one of nn.Module's)."""
    return not hasattr(nn.Module, name) and callable(getattr(cls, name, None))


def has_batchnorm(models: dict[str, nn.Module]) -> bool:
    """Whether any model normalises with batch statistics."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm)
        for model in models.values()
        for m in model.modules()
    )


def wrap(
    models: dict[str, nn.Module],
    opts: dict[str, torch.optim.Optimizer],
    world: World,
    device: torch.device,
    partly_used: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[dict[str, nn.Module], bool]:
    """DDP replicas of every model an optimizer trains (G and D, or encoder and decoder).

    Models no optimizer trains (a moving average of G) stay as they are. Models named in
    ``partly_used`` (see :func:`partly_used_models`) have DDP look for parameters a step leaves
    without a gradient, which it would otherwise wait for forever. On CUDA, BatchNorm
    layers become :class:`torch.nn.SyncBatchNorm`, so batch statistics cover the global batch
    as in a single-process run; torch's SyncBatchNorm has no CPU kernel, so on the CPU each
    process normalises over its own share of the batch (its running statistics are averaged
    across processes by :func:`average_buffers`).

    Returns:
        The models to train with (same keys; untrained models unchanged) and whether BatchNorm
        is synchronised.
    """
    trained = {id(p) for opt in opts.values() for g in opt.param_groups for p in g["params"]}
    sync_bn = device.type == "cuda" and has_batchnorm(models)
    wrapped: dict[str, nn.Module] = {}
    for name, model in models.items():
        if not any(id(p) in trained for p in model.parameters()):
            wrapped[name] = model
            continue
        if sync_bn:
            # Converts in place below the top level: parameters and buffers stay the same
            # objects, so optimizers, the moving average and checkpoints are unaffected.
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            models[name] = model
        wrapped[name] = Replica(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=name in partly_used,
            **_NO_FORWARD_BUFFER_SYNC,
        )
    return wrapped, sync_bn


def partly_used_models(
    step: Callable[[dict[str, nn.Module], dict[str, torch.optim.Optimizer]], object],
    models: dict[str, nn.Module],
    opts: dict[str, torch.optim.Optimizer],
) -> set[str]:
    """Models with trained parameters that a training step leaves without a gradient.

    DDP waits for a gradient of every parameter unless told to look for unused ones, which
    costs a graph search per forward; only models that need it should pay. Which parameters a
    step uses depends on the settings (a VAE with a fixed ``sigma`` never uses its learned
    one), so one step runs on copies of the models and optimizers — the originals, the global
    random state and the caller's generator are left untouched.

    Args:
        step: ``step(models, opts)`` runs one training step on the models and optimizers given.
        models: The models, by name.
        opts: Their optimizers.
    """
    trained = {id(p) for opt in opts.values() for g in opt.param_groups for p in g["params"]}
    # One deepcopy of both keeps the optimizers pointing at the copied parameters.
    models_c, opts_c = copy.deepcopy((models, opts))
    for opt in opts_c.values():
        opt.zero_grad(set_to_none=True)
    with torch.random.fork_rng(devices=[]):
        step(models_c, opts_c)
    found = set()
    for name, model in models.items():
        for p, pc in zip(model.parameters(), models_c[name].parameters(), strict=True):
            if id(p) in trained and pc.requires_grad and pc.grad is None:
                found.add(name)
    return found


# ---------------------------------------------------------------------------------------------
# Collectives the loop uses (all no-ops for a single process)


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
    return value


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


# ---------------------------------------------------------------------------------------------
# Launching workers on this host


def launch_local(nproc: int, args: Sequence[str], module: str = "genedge") -> None:
    """Run ``python -m <module> <args>`` on ``nproc`` worker processes of this host.

    Uses torchrun's own launcher (an elastic agent with a c10d rendezvous on a free port of
    127.0.0.1), so the workers see exactly the environment ``torchrun --standalone`` gives
    them. When any worker fails, the agent stops the others and this raises.

    Raises:
        InputError: ``nproc`` < 1.
        WorkerFailed: A worker exited with an error (its message is on stderr above).
        KeyboardInterrupt: The launcher was interrupted (the workers were told to stop).
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="genedge-ddp-") as logs, _quiet_agent():
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nproc,
            run_id=f"genedge-{uuid.uuid4().hex[:12]}",
            rdzv_backend="c10d",
            rdzv_endpoint="127.0.0.1:0",
            local_addr="127.0.0.1",
            max_restarts=0,
            monitor_interval=0.1,
            logs_specs=DefaultLogsSpecs(log_dir=logs),
        )
        try:
            elastic_launch(config, sys.executable)("-m", module, *args)
        except ChildFailedError as e:
            rank, failure = e.get_first_failure()
            code = int(failure.exitcode)
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise WorkerFailed(
                f"training worker {rank} of {nproc} {how}; the others were stopped "
                "(its error is printed above)",
                rank,
                code,
            ) from None
        except SignalException as e:
            raise KeyboardInterrupt(f"launcher stopped by signal {e.sigval}") from None


@contextlib.contextmanager
def _quiet_agent() -> Iterator[None]:
    """Silence the elastic agent's own log lines (a worker's failure is reported once, by
    :class:`WorkerFailed`), unless ``LOGLEVEL`` asks for them."""
    import logging

    if "LOGLEVEL" in os.environ:
        yield
        return
    names = [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
