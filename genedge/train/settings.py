"""A new run's configuration: the family's defaults for the data, with the user's overrides and
the batch and learning-rate scaling for several processes."""

from __future__ import annotations

import platform
import time
from typing import Any

import torch

from genedge import __version__
from genedge.runtime.errors import InputError
from genedge.train.data import Dataset
from genedge.train.data.audio import AudioDataset
from genedge.train.data.text import TextDataset
from genedge.train.families import get_family
from genedge.train.families.base import Family
from genedge.train.parallel.batch import default_global_batch, scaled_lr
from genedge.train.preprocess import minmax
from genedge.train.run import DataInfo, RunConfig


def data_info(ds: Dataset) -> DataInfo:
    return DataInfo(
        name=ds.name,
        kind=ds.kind,
        sample_shape=tuple(int(s) for s in ds.sample_shape),
        value_range=(float(ds.value_range[0]), float(ds.value_range[1])),
        num_classes=int(ds.num_classes),
        class_names=tuple(ds.class_names),
        size=len(ds),
        vocab=ds.vocab if isinstance(ds, TextDataset) else "",
        audio=ds.audio.to_dict() if isinstance(ds, AudioDataset) and ds.audio else {},
    )


def parse_override(family: Family[Any], settings: dict[str, Any], key: str, value: Any) -> Any:
    """``value`` once ``key`` is checked to be one of ``settings`` (a run's ``hparams``).

    Raises:
        InputError: ``key`` is not one of them, naming them.
    """
    if key not in settings:
        raise InputError(
            f"{family.name} has no setting {key!r}; settings: {', '.join(sorted(settings))}"
        )
    return value


#: Hyper-parameters that are learning rates (scaled with the default batch).
LR_KEYS = ("lr", "d_lr")


def new_config(
    family_name: str,
    data: str,
    overrides: dict[str, Any],
    seed: int,
    ds: Dataset,
    world_size: int = 1,
    data_options: dict[str, Any] | None = None,
) -> RunConfig:
    """A run configuration: the family's defaults for this data, with overrides applied.

    ``batch_size`` is the global batch. For ``world_size`` > 1 processes without a given
    batch, the family's default batch is kept when it splits into shares of at least
    :data:`genedge.train.distributed.MIN_PROCESS_BATCH`, and otherwise grows to the next
    multiple of ``world_size`` that does; learning rates not given then follow it by the
    square-root rule (:func:`genedge.train.distributed.scaled_lr`), recorded in the
    provenance under ``batch_scaling``. ``data_options`` are how ``ds`` was read from
    ``data`` (:func:`~genedge.train.data.load_dataset`'s keywords), kept so a resume reads it
    alike.
    """
    family = get_family(family_name)
    info = data_info(ds)
    family.check_data(info)
    asked = {k: v for k, v in overrides.items() if v is not None}
    # Checked and typed by the family: an unknown key or a bad value is one line.
    config = family.config(asked, info)
    ref = family.common(config).batch_size
    batch = ref
    if world_size > 1 and "batch_size" not in asked:
        batch = default_global_batch(ref, world_size)
    scaling: dict[str, Any] = {}
    if batch != ref:
        # Rates by name, so that any family's (typed or not) follow the batch.
        settings = family.config_dict(config)
        rates = {k: float(settings[k]) for k in LR_KEYS if k in settings and k not in asked}
        scaling = {"reference_batch": ref, "batch_size": batch, "rule": "sqrt"}
        scaling.update({f"reference_{k}": v for k, v in rates.items()})
        scaled = {k: scaled_lr(v, batch, ref) for k, v in rates.items()}
        config = family.config({**asked, "batch_size": batch, **scaled}, info)
    return RunConfig(
        family=family_name,
        data=data,
        hparams=family.config_dict(config),
        data_info=info,
        preprocessing=minmax(info.value_range, family.model_range),
        seed=seed,
        provenance={
            "genedge": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **({"batch_scaling": scaling} if scaling else {}),
        },
        data_options=dict(data_options or {}),
    )
