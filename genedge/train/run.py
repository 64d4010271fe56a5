"""The run folder: configuration, data description, checkpoints, sample grids and metrics.

::

    runs/gan-mnist/
      run.json                      family, hyper-parameters, data description, provenance
      checkpoints/step-00004000.*   safetensors weights + JSON state (hash-verified)
      samples/step-00004000.png     sample grids during training (latest.png: the newest)
      metrics.jsonl                 one JSON line of losses per logging interval
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genedge.runtime.atomic import write_bytes_atomic
from genedge.runtime.errors import GenedgeError
from genedge.runtime.manifest import Preprocessing

RUN_FILE = "run.json"
RUN_FORMAT = "genedge.run"


class RunError(GenedgeError):
    """A run folder is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data, kept so a run can be rebuilt without it."""

    name: str
    kind: str
    sample_shape: tuple[int, ...]
    value_range: tuple[float, float]
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    size: int = 0
    #: Text data: the token characters, sorted by code point (``""`` for other kinds, and in
    #: run files written before text data existed).
    vocab: str = ""
    #: Audio data: the spectrogram transform (an ``AudioSpec``'s dict; empty for other kinds).
    audio: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataInfo:
        return cls(
            name=d["name"],
            kind=d["kind"],
            sample_shape=tuple(d["sample_shape"]),
            value_range=(float(d["value_range"][0]), float(d["value_range"][1])),
            num_classes=int(d.get("num_classes", 0)),
            class_names=tuple(d.get("class_names", ())),
            size=int(d.get("size", 0)),
            vocab=str(d.get("vocab", "")),
            audio=dict(d.get("audio") or {}),
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run.

    Attributes:
        family: Model family name.
        data: Built-in data set name or path, as given.
        hparams: Family hyper-parameters (defaults merged with the user's overrides).
        data_info: Description of the data the model was trained on.
        preprocessing: Map from data units to the model's range.
        seed: Seed of weights, batches and noise.
        provenance: Versions, the torch thread count (``threads``) and how the run was launched.
        data_options: How ``data`` is read, as passed to
            :func:`~genedge.train.data.load_dataset` (e.g. ``sequence_id``).
    """

    family: str
    data: str
    hparams: dict[str, Any]
    data_info: DataInfo
    preprocessing: Preprocessing
    seed: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        d["format"] = RUN_FORMAT
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> RunConfig:
        try:
            d = json.loads(text)
            if d.get("format") != RUN_FORMAT:
                raise RunError(f"{where} is not a genedge run file")
            p = d["preprocessing"]
            return cls(
                family=d["family"],
                data=d["data"],
                hparams=dict(d["hparams"]),
                data_info=DataInfo.from_dict(d["data_info"]),
                preprocessing=Preprocessing.from_dict(p, "run.preprocessing"),
                seed=int(d.get("seed", 0)),
                provenance=dict(d.get("provenance", {})),
                data_options=dict(d.get("data_options", {})),
            )
        except RunError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RunError(f"{where} is malformed ({type(e).__name__}: {e})") from None


def save_config(run_dir: Path, config: RunConfig) -> None:
    """Write ``run.json`` atomically."""
    write_bytes_atomic(run_dir / RUN_FILE, config.to_json().encode())


def load_config(run_dir: str | Path) -> RunConfig:
    """Read a run folder's ``run.json``.

    Raises:
        RunError: The folder or its ``run.json`` is missing or malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder not found: {run_dir}")
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a genedge run folder (no {RUN_FILE})")
    return RunConfig.from_json(path.read_text(), str(path))
