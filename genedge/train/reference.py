"""The PyTorch reference sampler: the trained model behind the runtime's own Sampler.

It plugs a torch-backed :class:`~genedge.runtime.backends.Backend` into
:class:`~genedge.runtime.Sampler`, so noise, labels and post-processing are the very same code
as the ONNX path: any difference between them is the graph's, which is what parity measures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genedge.runtime.backends.protocol import PhaseTimer
from genedge.runtime.manifest import TensorSpec
from genedge.runtime.sampler import Sampler
from genedge.train.describe import manifest_for_run
from genedge.train.families.base import Family, Models
from genedge.train.run import RunConfig
from genedge.train.run_folder import load_trained


class TorchBackend:
    """Runs an ``nn.Module`` eagerly; inputs are fed in the graph's input order.

    Args:
        module: The module, taking the graph's inputs positionally.
        inputs: The graph's inputs in order: their specs, or just their names (then listed
            as float32 of unknown shape).
        outputs: The graph's outputs, when known.
    """

    name = "torch"

    def __init__(
        self,
        module: nn.Module,
        inputs: Sequence[str | TensorSpec],
        outputs: Sequence[TensorSpec] = (),
    ) -> None:
        self.module = module
        self._inputs = tuple(
            t if isinstance(t, TensorSpec) else TensorSpec(t, "float32", ()) for t in inputs
        )
        self._outputs = tuple(outputs)
        self.input_names = [t.name for t in self._inputs]
        # A module without parameters (or buffers) runs wherever its inputs are: the CPU here.
        p: torch.Tensor | None = next(module.parameters(), None)
        if p is None:
            p = next(module.buffers(), None)
        self.device = p.device if p is not None else torch.device("cpu")

    @property
    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    @torch.inference_mode()
    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        if timer is not None:
            timer.mark("start")
        args = [
            torch.from_numpy(np.ascontiguousarray(feed[k])).to(self.device)
            for k in self.input_names
        ]
        out = self.module(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        result = [o.detach().float().cpu().numpy() for o in outs]
        if timer is not None:
            timer.mark("run")
        return result

    def describe(self) -> dict[str, object]:
        return {"backend": "torch", "torch": torch.__version__, "device": str(self.device)}

    def close(self) -> None:
        """Nothing to release: the module belongs to the caller."""


def torch_sampler(cfg: RunConfig, family: Family[Any], models: Models, step: int = 0) -> Sampler:
    """A runtime Sampler that runs the run's PyTorch sampler module."""
    manifest = manifest_for_run(cfg, family, step)
    module = family.sampler_module(models, family.from_hparams(cfg.hparams), cfg.data_info)
    graph = manifest.sampler
    return Sampler.from_backend(manifest, TorchBackend(module, graph.inputs, graph.outputs))


def load_torch_sampler(run_dir: str | Path) -> Sampler:
    """The reference sampler of a trained run folder (newest checkpoint)."""
    cfg, family, models, step = load_trained(run_dir)
    return torch_sampler(cfg, family, models, step)
