"""A user's own generator: ``path/to/file.py:Name`` or ``package.module:Name``, and its weights.

Weights are loaded as data only: ``.pth``/``.pt`` state dicts through ``torch.load(...,
weights_only=True)`` (no pickled code runs), or ``.safetensors``. Missing or unexpected keys are
one error that lists them.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genedge.runtime.errors import InputError, missing_extra

#: Keys listed in a mismatch message before it says "and N more".
_SHOWN_KEYS = 8


def is_module_spec(against: str) -> bool:
    """Whether ``--against`` names a module (``FILE.py:Name``, ``pkg.mod:Name``), not a run
    folder."""
    return ":" in against and not Path(against).is_dir()


def parse_init(text: str | None) -> dict[str, Any]:
    """The ``--init`` JSON object of keyword arguments (``None`` or empty: no arguments)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"--init must be a JSON object, e.g. '{{\"ngf\": 64}}': {e}") from None
    if not isinstance(value, dict):
        raise InputError(f"--init must be a JSON object of keyword arguments, got {text!r}")
    return value


def load_module(spec: str, init: Mapping[str, Any] | None = None) -> nn.Module:
    """Build the module that ``spec`` names: a class (called with ``init``) or a factory.

    Args:
        spec: ``path/to/file.py:Name`` or ``package.module:Name``.
        init: Keyword arguments for the class or factory.

    Raises:
        InputError: The file, module or name does not exist, building it fails, or it does
            not give an ``nn.Module``.
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise InputError(f"--module must be FILE.py:Name or package.module:Name, got {spec!r}")
    owner = _import(where)
    target = getattr(owner, name, None)
    if target is None:
        raise InputError(f"{where} has no {name!r}")
    if not callable(target):
        raise InputError(f"{spec} is neither a class nor a factory function")
    try:
        module = target(**dict(init or {}))
    except TypeError as e:
        sig = _signature(target)
        raise InputError(f"cannot build {name}{sig} with --init {dict(init or {})}: {e}") from None
    if not isinstance(module, nn.Module):
        raise InputError(f"{spec} gave a {type(module).__name__}, not a torch.nn.Module")
    return module


def _import(where: str) -> Any:
    path = Path(where)
    if where.endswith(".py"):
        if not path.is_file():
            raise InputError(f"module file {where} not found")
        name = f"genedge_user_{path.stem}_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise InputError(f"cannot import {where}")
        mod = importlib.util.module_from_spec(spec)
        # Its own folder first, so the file's sibling imports resolve as they do for its author.
        sys.path.insert(0, str(path.resolve().parent))
        try:
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        except Exception as e:
            sys.modules.pop(name, None)
            raise InputError(f"importing {where} failed: {type(e).__name__}: {e}") from None
        finally:
            sys.path.remove(str(path.resolve().parent))
        return mod
    try:
        return importlib.import_module(where)
    except ImportError as e:
        raise InputError(f"cannot import {where}: {e}") from None


def _signature(target: Any) -> str:
    try:
        return str(inspect.signature(target))
    except (TypeError, ValueError):
        return "(...)"


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.pth``/``.pt`` (``weights_only``) or ``.safetensors``.

    A checkpoint that wraps its state dict (``{"state_dict": ...}``, ``{"model": ...}``) is
    unwrapped when that key is its only tensor mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file {path} not found")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ModuleNotFoundError as e:
            one_line = missing_extra(e)
            if one_line is None:
                raise
            raise one_line from None
        try:
            return dict(load_file(str(path)))
        except Exception as e:
            raise InputError(f"{path.name} is not a readable .safetensors file: {e}") from None
    if path.suffix not in (".pth", ".pt", ".bin"):
        raise InputError(f"weights must be .pth, .pt or .safetensors, got {path.name}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"{path.name} cannot be read as plain weights (weights_only=True; genedge never "
            f"unpickles code): {first}"
        ) from None
    return _state_dict(obj, path.name)


def _state_dict(obj: object, name: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    if isinstance(obj, Mapping):
        inner = [k for k, v in obj.items() if isinstance(v, Mapping)]
        for key in ("state_dict", "model", "generator", "netG", "G"):
            if key in inner:
                return _state_dict(obj[key], f"{name}[{key!r}]")
        if len(inner) == 1:
            return _state_dict(obj[inner[0]], f"{name}[{inner[0]!r}]")
    raise InputError(f"{name} holds no state dict (a mapping of names to tensors)")


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a state dict into ``module`` strictly: every key must match.

    Raises:
        InputError: Unreadable file, missing or unexpected keys, or a shape mismatch; the
            message lists them.
    """
    state = read_weights(path)
    # DataParallel / DDP checkpoints prefix every key with "module.".
    if state and all(k.startswith("module.") for k in state):
        own = module.state_dict()
        if not any(k.startswith("module.") for k in own):
            state = {k[len("module.") :]: v for k, v in state.items()}
    want = module.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected {_listing(unexpected)}")
        raise InputError(
            f"{Path(path).name} does not fit {type(module).__name__}: " + "; ".join(parts)
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in want.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise InputError(
            f"{Path(path).name} does not fit {type(module).__name__}: shapes differ for "
            + _listing(wrong)
        )
    module.load_state_dict(state, strict=True)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    more = len(keys) - _SHOWN_KEYS
    return shown + (f" and {more} more" if more > 0 else "")


def parse_sizes(text: str, what: str) -> tuple[int, ...]:
    """``"100x1x1"`` -> ``(100, 1, 1)``."""
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{what} must be sizes like 100 or 100x1x1, got {text!r}") from None
    if not dims or min(dims) <= 0:
        raise InputError(f"{what} must be positive sizes like 100x1x1, got {text!r}")
    return dims


def parse_pair(text: str, what: str) -> tuple[float, float]:
    """``"0,255"`` -> ``(0.0, 255.0)``."""
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"{what} must be LOW,HIGH, e.g. 0,255, got {text!r}") from None
    if not hi > lo:
        raise InputError(f"{what} needs LOW < HIGH, got {text!r}")
    return lo, hi


def parse_noise(items: list[str]) -> dict[str, tuple[int, ...]]:
    """``["noise0=1x4x4", ...]`` -> ``{"noise0": (1, 4, 4), ...}``, in order."""
    found: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, shape = item.partition("=")
        if not sep or not name:
            raise InputError(f"--noise takes NAME=SIZES, e.g. noise0=1x4x4, got {item!r}")
        found[name] = parse_sizes(shape, f"--noise {name}")
    return found


def build_module(
    spec: str, init: str | None = None, weights: str | Path | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The module ``--module spec --init JSON --weights FILE`` names, with weights loaded, and
    the provenance entries that record where it came from."""
    module = load_module(spec, parse_init(init))
    prov: dict[str, Any] = {"module": spec}
    if init:
        prov["init"] = parse_init(init)
    if weights is not None:
        load_weights(module, weights)
        from genedge.export.module_export import file_digest

        prov["weights"] = Path(weights).name
        prov["weights_sha256"] = file_digest(weights)
    return module, prov
