"""FLOP counting of a torch module's forward pass (forward hooks, needs torch)."""

from __future__ import annotations

from typing import Any


def count_flops(module: Any, args: tuple[Any, ...]) -> float:
    """Multiply-adds x 2 of Linear, Conv, ConvTranspose and GRU/LSTM layers for one forward
    pass (call it with batch 1 for per-sample FLOPs)."""
    import torch
    from torch import nn

    total = [0.0]

    def hook(m: nn.Module, inp: tuple[Any, ...], out: Any) -> None:
        if isinstance(m, nn.Linear):
            total[0] += 2.0 * m.in_features * m.out_features * inp[0].numel() / m.in_features
        elif isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2.0 * m.in_channels // m.groups * k * out.numel()
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2.0 * m.out_channels // m.groups * k * inp[0].numel()
        elif isinstance(m, (nn.GRU, nn.LSTM)):
            gates = 3 if isinstance(m, nn.GRU) else 4
            x = inp[0]
            steps = x.shape[0] * x.shape[1]  # batch x time (either layout)
            h = m.hidden_size
            for layer in range(m.num_layers):
                width = m.input_size if layer == 0 else h
                total[0] += 2.0 * gates * (width * h + h * h) * steps

    handles = [
        m.register_forward_hook(hook)
        for m in module.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.GRU, nn.LSTM))
    ]
    try:
        with torch.inference_mode():
            module(*args)
    finally:
        for h in handles:
            h.remove()
    return total[0]
