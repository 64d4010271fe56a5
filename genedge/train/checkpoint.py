"""Checkpoints: weights and optimizer tensors in safetensors, the rest in a hash-verified JSON.

The JSON is written after the tensors and names their SHA-256, so a checkpoint counts only once
both are complete; loading never executes code (no pickle). The previous checkpoint is kept
until a newer one is fully written.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genedge.runtime.atomic import atomic_path, write_bytes_atomic
from genedge.runtime.errors import GenedgeError

CHECKPOINT_FORMAT = "genedge.checkpoint"
KEEP = 2
_NAME = re.compile(r"^step-(\d{8})\.json$")


class CheckpointError(GenedgeError):
    """A checkpoint is missing, corrupt or belongs to another run."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    folder: Path,
    step: int,
    models: dict[str, torch.nn.Module],
    opts: dict[str, torch.optim.Optimizer],
    gen: torch.Generator,
    family: str,
    extra: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``step-XXXXXXXX.{safetensors,json}`` atomically and prune old ones.

    ``extra`` adds keys to the JSON state, ``extra_tensors`` tensors to the weights file (e.g.
    the other ranks' generator states of a multi-process run).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for name, m in models.items():
        for k, v in m.state_dict().items():
            tensors[f"model/{name}/{k}"] = v.detach().cpu().contiguous()
    for name, opt in opts.items():
        sd = opt.state_dict()
        groups[name] = sd["param_groups"]
        for idx, state in sd["state"].items():
            for k, v in state.items():
                key = f"optim/{name}/{idx}/{k}"
                if torch.is_tensor(v):
                    tensors[key] = v.detach().cpu().contiguous()
                else:
                    scalars[key] = v
    tensors["rng/torch"] = gen.get_state()
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    stem = f"step-{step:08d}"
    weights = folder / f"{stem}.safetensors"
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp))
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "family": family,
        "step": step,
        "weights": weights.name,
        "sha256": _sha256(weights),
        "param_groups": groups,
        "scalars": scalars,
        **(extra or {}),
    }
    meta = folder / f"{stem}.json"
    write_bytes_atomic(meta, json.dumps(state, indent=1).encode())
    for old in list_checkpoints(folder)[KEEP:]:
        for p in (old, old.with_suffix(".safetensors")):
            p.unlink(missing_ok=True)
    return meta


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint JSON files, newest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def load_checkpoint(meta: Path, family: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify one checkpoint; returns its JSON state and tensors.

    Raises:
        CheckpointError: Malformed JSON, a foreign format or family, or weights whose hash
            does not match (truncated or altered).
    """
    try:
        state = json.loads(meta.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {meta} is unreadable: {e}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{meta} is not a genedge checkpoint")
    if state.get("family") != family:
        raise CheckpointError(f"{meta} belongs to a {state.get('family')!r} model, not {family!r}")
    weights = meta.parent / str(state.get("weights", ""))
    if weights.parent != meta.parent or not weights.is_file():
        raise CheckpointError(f"checkpoint weights missing beside {meta}")
    if _sha256(weights) != state.get("sha256"):
        raise CheckpointError(
            f"checkpoint {weights.name} is corrupt (hash mismatch); delete {meta.name} and its "
            "weights to fall back to the previous checkpoint"
        )
    try:
        tensors = load_file(str(weights))
    except Exception as e:  # safetensors raises its own error type
        raise CheckpointError(f"checkpoint {weights.name} is unreadable: {e}") from None
    return state, tensors


def restore(
    state: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    models: dict[str, torch.nn.Module],
    opts: dict[str, torch.optim.Optimizer] | None = None,
    gen: torch.Generator | None = None,
) -> None:
    """Load a checkpoint's tensors into models (and optimizers and the generator)."""
    for name, m in models.items():
        prefix = f"model/{name}/"
        sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            m.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise CheckpointError(
                f"checkpoint does not fit model {name}: {str(e).splitlines()[0]}"
            ) from None
    if opts is not None:
        for name, opt in opts.items():
            per_param: dict[int, dict[str, Any]] = {}
            prefix = f"optim/{name}/"
            for k, v in tensors.items():
                if k.startswith(prefix):
                    idx, key = k[len(prefix) :].split("/", 1)
                    per_param.setdefault(int(idx), {})[key] = v
            for k, v in state.get("scalars", {}).items():
                if k.startswith(prefix):
                    idx, key = k[len(prefix) :].split("/", 1)
                    per_param.setdefault(int(idx), {})[key] = v
            opt.load_state_dict({"state": per_param, "param_groups": state["param_groups"][name]})
    if gen is not None:
        gen.set_state(tensors["rng/torch"])
