"""Wrapping the trained models in DistributedDataParallel."""

from __future__ import annotations

import copy
import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from genedge.train.parallel.world import World


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
_NO_FORWARD_BUFFER_SYNC: dict[str, Any] = (
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
            # torch leaves SyncBatchNorm.convert_sync_batchnorm unannotated
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
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
