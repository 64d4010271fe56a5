"""What every model family provides to the training loop, the exporter and the reference sampler."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import DataError
from genedge.runtime.manifest import GraphSpec
from genedge.train.run import DataInfo

Models = dict[str, nn.Module]
Optimizers = dict[str, torch.optim.Optimizer]


class Family(ABC):
    """A model family: how to build, train and export it.

    Subclasses are stateless; everything a run needs lives in its hyper-parameters (``hp``),
    its :class:`DataInfo` and its weights.
    """

    name: str = ""
    #: Data kinds the family can learn.
    kinds: tuple[str, ...] = ("image", "points")
    #: Range of the generator's output (the model units that preprocessing maps data onto).
    model_range: tuple[float, float] = (-1.0, 1.0)
    #: How ``torch.onnx`` exports the graphs: ``"dynamo"`` (torch.export) or ``"torchscript"``
    #: (tracing; for modules dynamo specialises, such as a GRU's time axis).
    exporter: str = "dynamo"

    def check_data(self, info: DataInfo) -> None:
        """Raise DataError when the family cannot learn this data."""
        if info.kind not in self.kinds:
            raise DataError(
                f"the {self.name} family learns {' or '.join(self.kinds)} data, "
                f"but {info.name} is {info.kind} data"
            )

    @abstractmethod
    def defaults(self, info: DataInfo) -> dict[str, Any]:
        """Default hyper-parameters for this data (``steps``, ``batch_size``, ``lr``, ...)."""

    @abstractmethod
    def build(self, hp: dict[str, Any], info: DataInfo) -> Models:
        """Fresh models, e.g. ``{"G": ..., "D": ...}``."""

    @abstractmethod
    def optimizers(self, models: Models, hp: dict[str, Any]) -> Optimizers:
        """One optimizer per trained model."""

    @abstractmethod
    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        hp: dict[str, Any],
    ) -> dict[str, float]:
        """One optimisation step on a batch (model units); returns scalar losses."""

    @abstractmethod
    def sampler_module(self, models: Models, hp: dict[str, Any], info: DataInfo) -> nn.Module:
        """An eval-mode module whose ``forward`` takes the sampler graph's inputs in order and
        returns samples in model units."""

    @abstractmethod
    def graphs(self, hp: dict[str, Any], info: DataInfo) -> dict[str, GraphSpec]:
        """The graphs the artifact set holds, with inputs and outputs (``sampler`` at least)."""

    def training_labels(
        self, models: Models, hp: dict[str, Any], x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The labels ``train_step`` gets with each batch: the data's own by default.

        Called once per training start (fresh or resumed), after ``build`` and before the first
        step, with all the data in model units; a family may derive labels of its own here
        (e.g. clusters) and store what its sampler needs about them in ``models``. Must be
        deterministic in its arguments, so that a resumed run gets the same labels.
        """
        return y

    def latent_dim(self, hp: dict[str, Any]) -> int:
        return int(hp["z_dim"])

    def output_kind(self, info: DataInfo) -> str:
        return info.kind

    def sample_shape(self, info: DataInfo) -> tuple[int | str, ...]:
        return tuple(info.sample_shape)

    def default_length(self, info: DataInfo) -> int:
        return 0

    def export_modules(
        self, models: Models, hp: dict[str, Any], info: DataInfo
    ) -> dict[str, nn.Module]:
        """Modules to export, by graph role (the sampler, plus companions such as an encoder)."""
        return {"sampler": self.sampler_module(models, hp, info)}


def flat_size(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))
