"""Min-max scaling between data units and a model's output range (inverted by the runtime)."""

from __future__ import annotations

import numpy as np

from genedge.runtime.manifest import Preprocessing


def minmax(value_range: tuple[float, float], model_range: tuple[float, float]) -> Preprocessing:
    """The preprocessing that maps ``value_range`` onto ``model_range``."""
    lo, hi = value_range
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    return Preprocessing(
        "minmax", float(lo), float(hi), float(model_range[0]), float(model_range[1])
    )


def to_model_units(x: np.ndarray, p: Preprocessing) -> np.ndarray:
    """Data units -> model range, as float32."""
    a, b = p.scale_offset
    out: np.ndarray = (np.asarray(x, np.float32) - np.float32(b)) / np.float32(a)
    return out.astype(np.float32)
