"""Typed family configurations: frozen dataclasses in place of the ``hp`` dict.

A family with a ``config_type`` (see :class:`~genedge.train.families.base.Family`) reads its
settings as attributes (``cfg.steps``), and ``run.json`` keeps them as today's flat
``hparams`` dict: :func:`config_to_dict` writes one key per field whose value is not ``None``,
and :func:`config_from_dict` reads it back, checking and coercing each value to the field's
type (``1`` -> ``1.0`` for a float, a list -> a tuple).

A field that is ``None`` is not a setting of the run (e.g. ``d_lr`` of a GAN whose D learns at
G's rate, or a cGAN's conv widths on points); a field with a default is one older runs may lack,
and the default is what those runs were trained with.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from genedge.runtime.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What the training loop reads of every family's settings.

    Attributes:
        steps: Optimisation steps of the run.
        batch_size: The global batch (split over the processes under DDP).
        lr: The (generator's) learning rate.
    """

    steps: int
    batch_size: int
    lr: float


@dataclass(frozen=True, kw_only=True)
class AdversarialConfig(TrainConfig):
    """What the shared adversarial pieces (:mod:`genedge.train.adversarial`) read.

    Attributes:
        beta1: Adam's first-moment decay.
        beta2: Adam's second-moment decay.
        ema: Decay of G's moving average (0: none).
        lr_decay: Share of training, at the end, over which the rates fall to zero.
        d_lr: D's learning rate; ``None``: G's ``lr``.
    """

    beta1: float
    beta2: float
    ema: float = 0.0
    lr_decay: float = 0.0
    d_lr: float | None = None

    @property
    def discriminator_lr(self) -> float:
        """D's learning rate: ``d_lr`` when set, else ``lr``."""
        return self.lr if self.d_lr is None else self.d_lr


def setting_names(config: object) -> list[str]:
    """The settings a config holds: its fields that are not ``None``, sorted."""
    return sorted(k for k, v in _values(config).items() if v is not None)


def config_to_dict(config: object) -> dict[str, Any]:
    """The ``hparams`` dict of ``run.json``: fields that are not ``None``, tuples as lists."""
    return {k: _plain(v) for k, v in _values(config).items() if v is not None}


def config_from_dict(
    cls: type[T], values: Mapping[str, Any], family: str, *, strict: bool = True
) -> T:
    """A ``cls`` from a settings dict, each value checked and coerced to its field's type.

    Args:
        cls: The family's config dataclass.
        values: Setting name -> value (``run.json``'s ``hparams``, or defaults with overrides).
        family: The family's name, for messages.
        strict: Refuse keys that are not fields (else ignore them: settings an older genedge
            wrote that this one no longer reads).

    Raises:
        InputError: An unknown key (``strict``), a missing required setting, or a value of
            the wrong type; one line naming the setting.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in values if k not in fields]
    if strict and unknown:
        raise InputError(
            f"{family} has no setting {unknown[0]!r}; settings: {', '.join(sorted(fields))}"
        )
    missing = [
        k
        for k, f in fields.items()
        if k not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InputError(f"{family} settings lack {', '.join(missing)}")
    kwargs = {
        k: coerce(v, hints[k], f"{family} setting {k}") for k, v in values.items() if k in fields
    }
    return cls(**kwargs)


def coerce(value: Any, kind: Any, what: str) -> Any:
    """``value`` as the type ``kind`` (int, float, str, bool, ``tuple[X, ...]``, unions).

    Raises:
        InputError: ``value`` is not of that type (an integral float is an int; an int is a
            float; 0 and 1 are booleans; a list is a tuple).
    """
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, what)
            except InputError:
                continue
        raise InputError(f"{what} must be {_name(kind)}, got {value!r}")
    if origin is tuple:
        item = get_args(kind)[0]
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{what} must be {_name(kind)}, got {value!r}")
        return tuple(coerce(v, item, what) for v in value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported setting type {kind!r} for {what}")
    raise InputError(f"{what} must be {_name(kind)}, got {value!r}")


def _name(kind: Any) -> str:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(_name(a) for a in get_args(kind) if a is not type(None))
    if origin is tuple:
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        item = get_args(kind)[0]
        return f"a list of {plural.get(item, str(item))}"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(kind, str(kind))


def _values(config: object) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"{config!r} is not a config dataclass instance")
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value
