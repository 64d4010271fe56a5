"""The torch flavour of :mod:`genedge.runtime.feeds`: graph inputs as torch tensors, by role.

For tracing an export and for timing PyTorch as its users sample (noise drawn by torch on the
model's device). Seeded comparisons use the numpy feed (:func:`genedge.runtime.feeds.role_feed`)
instead, so both sides of a check see the same numbers.
"""

from __future__ import annotations

import torch

from genedge.runtime.feeds import NO_TRUNCATION, input_shape
from genedge.runtime.manifest import GraphSpec


def torch_inputs(
    graph: GraphSpec,
    batch: int,
    *,
    length: int | None = None,
    num_classes: int = 0,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ...]:
    """One tensor per graph input, in graph order: normal noise for ``latent``/``noise``/
    ``data``, balanced classes for ``label``, 1.0 for ``truncation``, zeros for ``state``.

    Pass a ``generator`` to keep the global torch RNG untouched (tracing must not move it).
    """
    args = []
    for t in graph.inputs:
        shape = input_shape(t, batch, length)
        if t.role == "label":
            args.append(torch.arange(batch, device=device, dtype=torch.int64) % max(1, num_classes))
        elif t.role == "state":
            args.append(torch.zeros(shape, device=device))
        elif t.role == "truncation":
            args.append(torch.full(shape, NO_TRUNCATION, device=device))
        else:
            args.append(torch.randn(shape, device=device, generator=generator))
    return tuple(args)
