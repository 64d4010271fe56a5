"""The PyTorch reference sampler: the trained model behind the runtime's own Sampler.

It plugs a torch-backed :class:`~genedge.runtime.backends.Backend` into
:class:`~genedge.runtime.Sampler`, so noise, labels and post-processing are the very same code
as the ONNX path: any difference between them is the graph's, which is what parity measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from genedge.runtime.sampler import Sampler
from genedge.train.describe import manifest_for_run
from genedge.train.families.base import Family, Models
from genedge.train.run import RunConfig
from genedge.train.run_folder import load_trained


class TorchBackend:
    """Runs an ``nn.Module`` eagerly; inputs are fed in the graph's input order."""

    name = "torch"

    def __init__(self, module: nn.Module, input_names: list[str]) -> None:
        self.module = module
        self.input_names = input_names
        self.device = next(module.parameters()).device

    @torch.inference_mode()
    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        args = [
            torch.from_numpy(np.ascontiguousarray(feed[k])).to(self.device)
            for k in self.input_names
        ]
        out = self.module(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().float().cpu().numpy() for o in outs]

    def describe(self) -> dict[str, object]:
        return {"backend": "torch", "torch": torch.__version__, "device": str(self.device)}


def torch_sampler(cfg: RunConfig, family: Family, models: Models, step: int = 0) -> Sampler:
    """A runtime Sampler that runs the run's PyTorch sampler module."""
    manifest = manifest_for_run(cfg, family, step)
    module = family.sampler_module(models, cfg.hparams, cfg.data_info)
    names = [t.name for t in manifest.sampler.inputs]
    return Sampler.from_backend(manifest, TorchBackend(module, names))


def load_torch_sampler(run_dir: str | Path) -> Sampler:
    """The reference sampler of a trained run folder (newest checkpoint)."""
    cfg, family, models, step = load_trained(run_dir)
    return torch_sampler(cfg, family, models, step)
