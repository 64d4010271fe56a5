"""What every model family provides to the training loop, the exporter and the reference sampler."""

from __future__ import annotations

import functools
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, cast

import numpy as np
import torch
from torch import nn
from typing_extensions import TypeVar

from genedge.runtime.errors import DataError, InputError
from genedge.runtime.manifest import GraphSpec
from genedge.train.families.config import TrainConfig, coerce, config_from_dict, config_to_dict
from genedge.train.run import DataInfo, RunError

Models = dict[str, nn.Module]
Optimizers = dict[str, torch.optim.Optimizer]

#: A family's configuration: its ``config_type`` dataclass, or ``dict[str, Any]``.
C = TypeVar("C", default=Any)

#: The methods that take the configuration, converted from a dict when a caller holds
#: ``run.json``'s (see :meth:`Family.__init_subclass__`).
CONFIG_METHODS = (
    "build",
    "optimizers",
    "train_step",
    "sampler_module",
    "graphs",
    "training_labels",
    "latent_dim",
    "export_modules",
)


class Family(ABC, Generic[C]):
    """A model family: how to build, train and export it.

    Subclasses are stateless; everything a run needs lives in its configuration, its
    :class:`DataInfo` and its weights. The configuration is typed when the family sets
    :attr:`config_type` to a frozen dataclass (a subclass of
    :class:`~genedge.train.families.config.TrainConfig`; recommended: the methods get
    ``cfg: MyConfig`` and mypy checks every read), else a plain ``dict[str, Any]`` (``hp``).
    Either way ``run.json`` stores it as a flat ``hparams`` dict.

    Example::

        @dataclass(frozen=True, kw_only=True)
        class FlowConfig(TrainConfig):
            depth: int

        class FlowFamily(Family[FlowConfig]):
            config_type = FlowConfig

            def defaults(self, info: DataInfo) -> FlowConfig:
                return FlowConfig(steps=1000, batch_size=128, lr=1e-3, depth=4)
    """

    #: The family's config dataclass, or ``None`` for the dict API.
    config_type: ClassVar[type[Any] | None] = None

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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Let callers that hold ``run.json``'s dict pass it where a typed family's methods
        take its config: each method of :data:`CONFIG_METHODS` with a ``cfg`` parameter
        converts a mapping given there with :meth:`from_hparams`."""
        super().__init_subclass__(**kwargs)
        if cls.config_type is None:
            return
        for name in CONFIG_METHODS:
            fn = getattr(cls, name, None)
            if callable(fn) and not getattr(fn, "_takes_dicts", False):
                setattr(cls, name, _accepting_dicts(fn))

    @abstractmethod
    def defaults(self, info: DataInfo) -> C:
        """Default configuration for this data (``steps``, ``batch_size``, ``lr``, ...)."""

    def config(self, overrides: Mapping[str, Any], info: DataInfo) -> C:
        """A new run's configuration: :meth:`defaults` for the data with ``overrides``.

        Raises:
            InputError: A key that is not one of the family's settings for this data (one
                line naming it and the settings), or a value of the wrong type.
        """
        defaults = self.config_dict(self.defaults(info))
        for key in overrides:
            if key not in defaults:
                raise InputError(
                    f"{self.name} has no setting {key!r}; settings: {', '.join(sorted(defaults))}"
                )
        return self.from_hparams({**defaults, **overrides}, strict=True)

    def from_hparams(self, hparams: Mapping[str, Any], *, strict: bool = False) -> C:
        """The configuration ``run.json``'s ``hparams`` hold (a copy of the dict for the dict
        API). Keys this genedge no longer reads are ignored unless ``strict``; settings older
        runs lack take the field's default, what those runs were trained with.

        Raises:
            RunError: A required setting is missing or a value has the wrong type (a
                ``run.json`` edited by hand, or written for another family).
            InputError: With ``strict``, an unknown key or a bad value.
        """
        if self.config_type is None:
            return cast(C, dict(hparams))
        try:
            cfg: C = config_from_dict(self.config_type, hparams, self.name, strict=strict)
        except InputError as e:
            if strict:
                raise
            raise RunError(f"run.json: {e}") from None
        return cfg

    def config_dict(self, cfg: C) -> dict[str, Any]:
        """``cfg`` as ``run.json``'s flat ``hparams`` dict (``None`` fields left out)."""
        if self.config_type is None:
            return dict(cast(Mapping[str, Any], cfg))
        return config_to_dict(cfg)

    def common(self, cfg: C) -> TrainConfig:
        """The settings the training loop reads (``steps``, ``batch_size``, ``lr``).

        Raises:
            InputError: A dict-API family's configuration lacks one, or has a bad value.
        """
        if isinstance(cfg, TrainConfig):
            return cfg
        hp = self.config_dict(cfg)
        missing = [k for k in ("steps", "batch_size", "lr") if k not in hp]
        if missing:
            raise InputError(
                f"{self.name}'s settings lack {', '.join(missing)}: every family needs "
                "steps, batch_size and lr"
            )
        return TrainConfig(
            steps=coerce(hp["steps"], int, f"{self.name} setting steps"),
            batch_size=coerce(hp["batch_size"], int, f"{self.name} setting batch_size"),
            lr=coerce(hp["lr"], float, f"{self.name} setting lr"),
        )

    @abstractmethod
    def build(self, cfg: C, info: DataInfo) -> Models:
        """Fresh models, e.g. ``{"G": ..., "D": ...}``."""

    @abstractmethod
    def optimizers(self, models: Models, cfg: C) -> Optimizers:
        """One optimizer per trained model."""

    @abstractmethod
    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: C,
    ) -> dict[str, float]:
        """One optimisation step on a batch (model units); returns scalar losses."""

    @abstractmethod
    def sampler_module(self, models: Models, cfg: C, info: DataInfo) -> nn.Module:
        """An eval-mode module whose ``forward`` takes the sampler graph's inputs in order and
        returns samples in model units."""

    @abstractmethod
    def graphs(self, cfg: C, info: DataInfo) -> dict[str, GraphSpec]:
        """The graphs the artifact set holds, with inputs and outputs (``sampler`` at least)."""

    def training_labels(
        self, models: Models, cfg: C, x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The labels ``train_step`` gets with each batch: the data's own by default.

        Called once per training start (fresh or resumed), after ``build`` and before the first
        step, with all the data in model units; a family may derive labels of its own here
        (e.g. clusters) and store what its sampler needs about them in ``models``. Must be
        deterministic in its arguments, so that a resumed run gets the same labels.
        """
        return y

    def latent_dim(self, cfg: C) -> int:
        """The width of one latent: the ``z_dim`` setting by default."""
        return int(self.config_dict(cfg)["z_dim"])

    def output_kind(self, info: DataInfo) -> str:
        return info.kind

    def sample_shape(self, info: DataInfo) -> tuple[int | str, ...]:
        return tuple(info.sample_shape)

    def default_length(self, info: DataInfo) -> int:
        return 0

    def export_modules(self, models: Models, cfg: C, info: DataInfo) -> dict[str, nn.Module]:
        """Modules to export, by graph role (the sampler, plus companions such as an encoder)."""
        return {"sampler": self.sampler_module(models, cfg, info)}


def _accepting_dicts(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a typed family's method) converting a mapping passed as its ``cfg``."""
    params = list(inspect.signature(fn).parameters)
    if "cfg" not in params:
        return fn
    at = params.index("cfg")

    @functools.wraps(fn)
    def method(self: Family[Any], *args: Any, **kwargs: Any) -> Any:
        if len(args) >= at and isinstance(args[at - 1], Mapping):
            args = (*args[: at - 1], self.from_hparams(args[at - 1]), *args[at:])
        elif isinstance(kwargs.get("cfg"), Mapping):
            kwargs["cfg"] = self.from_hparams(kwargs["cfg"])
        return fn(self, *args, **kwargs)

    method._takes_dicts = True  # type: ignore[attr-defined]
    return method


def flat_size(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))
