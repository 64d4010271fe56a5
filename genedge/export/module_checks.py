"""What real generators get wrong, caught in PyTorch before any file is written.

Each check raises :class:`ModuleCheckError` with one line that names the problem and the fix:
noise drawn inside ``forward``, outputs that depend on the rest of the batch (batch statistics),
non-finite outputs, and outputs far outside the declared ``model_range``.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
import torch
from torch import nn

from genedge.export.lint import RANDOM_OPS
from genedge.runtime.errors import GenedgeError

#: How far past ``model_range`` (as a share of its span) outputs may reach before the range is
#: taken to be wrong: a generator without a final squashing layer overshoots a little.
RANGE_SLACK = 0.25
#: Per-sample outputs computed alone and within a batch may differ by float reordering only.
_BATCH_ATOL = 1e-4
BYOM_DOC = "docs/byom.md"


class ModuleCheckError(GenedgeError):
    """A user's generator cannot be exported as it is; the message says why and what to do."""


def first_line(e: BaseException) -> str:
    """An exception's first non-empty line, for one-line messages."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def outputs_of(result: object) -> tuple[torch.Tensor, ...]:
    """A module's outputs as a tuple of tensors (the first is the sample)."""
    outs = result if isinstance(result, (tuple, list)) else (result,)
    if not outs or not all(isinstance(o, torch.Tensor) for o in outs):
        raise ModuleCheckError(
            f"forward must return a tensor (or a tuple of tensors), got {type(result).__name__}"
        )
    return tuple(outs)


def run_module(
    module: nn.Module, args: Sequence[torch.Tensor], seed: int
) -> tuple[torch.Tensor, ...]:
    """Outputs for ``args`` with torch's global RNG seeded, then restored."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        return outputs_of(module(*args))


def batch_statistics_layers(module: nn.Module) -> list[str]:
    """Normalisation layers that use the batch's statistics even in eval mode."""
    found = []
    for name, m in module.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (
            m.training or not m.track_running_stats
        ):
            found.append(f"{name or 'the module'} ({type(m).__name__})")
    return found


def check_batch_independent(
    module: nn.Module, args: Sequence[torch.Tensor], together: torch.Tensor | None = None
) -> None:
    """Sample 0 alone must equal sample 0 within the batch: no batch statistics in forward.

    ``together`` is the sample output on the whole of ``args`` (global RNG seeded with 0), if
    the caller has it already; else it is computed.
    """
    layers = batch_statistics_layers(module)
    if layers:
        raise ModuleCheckError(
            f"{layers[0]} normalises by the batch's own statistics (training mode or "
            "track_running_stats=False), so a sample changes with the rest of its batch; "
            "export a generator whose BatchNorm has running statistics"
        )
    whole = run_module(module, args, 0)[0] if together is None else together
    together = whole[:1]
    try:
        alone = run_module(module, [a[:1] for a in args], 0)[0]
    except RuntimeError as e:
        raise ModuleCheckError(
            f"forward runs on {len(args[0])} latents but fails on one ({first_line(e)}): the "
            "batch size is fixed in forward (e.g. view(64, ...)); use view(x.shape[0], ...) "
            "or view(-1, ...)"
        ) from None
    if together.shape != alone.shape:
        raise ModuleCheckError(
            f"one latent gives outputs shaped {tuple(alone.shape)} but the same latent in a "
            f"batch gives {tuple(together.shape)}: forward fixes the batch size (e.g. "
            "view(64, ...)); use view(x.shape[0], ...) or view(-1, ...)"
        )
    err = float((together - alone).abs().max())
    scale = float(together.abs().max()) + 1.0
    if err > _BATCH_ATOL * scale:
        raise ModuleCheckError(
            f"sample 0 differs by {err:.3g} when the rest of its batch changes: forward mixes "
            "samples (batch statistics or a batch-wide reduction); every sample must depend "
            "on its own inputs only"
        )


def check_deterministic(
    module: nn.Module,
    args: Sequence[torch.Tensor],
    first: Sequence[torch.Tensor] | None = None,
) -> bool:
    """Whether two runs on the same inputs agree (under different global seeds).

    ``first`` is the outputs of a run with the global RNG seeded with 0, if the caller has
    them already; the second run is seeded with 1.
    """
    a = run_module(module, args, 0) if first is None else first
    b = run_module(module, args, 1)
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def random_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of an exported graph that draw random numbers, as ``'name' (Op)``."""
    found = []
    for node in model.graph.node:
        if node.op_type in RANDOM_OPS or node.op_type == "Dropout":
            found.append(f"{node.name!r} ({node.op_type})")
    return found


def noise_error(nodes: list[str]) -> ModuleCheckError:
    """The refusal for a generator that draws its own noise."""
    where = f"at node {nodes[0]}" if nodes else "inside forward (two runs on one input differ)"
    return ModuleCheckError(
        f"the graph draws its own noise {where}; pass it as an input (example in {BYOM_DOC})"
    )


def check_outputs(sample: torch.Tensor, model_range: tuple[float, float]) -> None:
    """Finite, and within ``model_range`` give or take :data:`RANGE_SLACK` of its span."""
    if not sample.dtype.is_floating_point:
        raise ModuleCheckError(f"the sample output must be floating point, got {sample.dtype}")
    bad = int((~torch.isfinite(sample)).sum())
    if bad:
        raise ModuleCheckError(
            f"the module's outputs hold {bad} NaN/Inf values for seeded standard-normal "
            "latents; check the weights and the latent shape"
        )
    lo, hi = model_range
    slack = RANGE_SLACK * (hi - lo)
    got_lo, got_hi = float(sample.min()), float(sample.max())
    if got_lo < lo - slack or got_hi > hi + slack:
        raise ModuleCheckError(
            f"outputs span [{got_lo:.3g}, {got_hi:.3g}], far outside the model range "
            f"[{lo:g}, {hi:g}]: declare the range the module really outputs (--model-range; "
            "tanh gives -1,1, sigmoid 0,1)"
        )
