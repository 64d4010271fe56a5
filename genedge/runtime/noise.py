"""Seeded noise and labels, drawn in numpy so every backend sees the same inputs.

Draws are chunk-invariant: drawing ``n`` rows in one call or in several consecutive calls from
the same generator gives the same numbers, so the batch size never changes the samples.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from genedge.runtime.errors import InputError


def make_rng(seed: int | None) -> np.random.Generator:
    """A PCG64 generator; ``None`` draws fresh entropy from the OS."""
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise InputError(f"seed must be an integer or None, got {type(seed).__name__}")
    if seed is not None and seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    return np.random.Generator(np.random.PCG64(seed))


def draw_latents(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    truncation: float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Standard-normal float32 latents of ``shape``, optionally truncated to ``[-psi, psi]``.

    Truncation uses the inverse CDF of a uniform draw restricted to ``[Phi(-psi), Phi(psi)]``,
    so it consumes a fixed amount of the stream per value and stays chunk-invariant.
    """
    if truncation is None:
        if out is not None:
            rng.standard_normal(dtype=np.float32, out=out)
            return out
        return rng.standard_normal(shape, dtype=np.float32)
    if not (isinstance(truncation, (int, float)) and math.isfinite(truncation) and truncation > 0):
        raise InputError(f"truncation must be a positive number, got {truncation!r}")
    lo = _normal_cdf(-float(truncation))
    u = rng.random(shape)
    z = _normal_ppf(lo + u * (1.0 - 2.0 * lo)).astype(np.float32)
    np.clip(z, -truncation, truncation, out=z)
    if out is not None:
        out[...] = z
        return out
    return z


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """Labels ``0, 1, ..., K-1, 0, 1, ...``: every class equally often (to within one)."""
    return (np.arange(n, dtype=np.int64) % num_classes).astype(np.int64)


def check_labels(labels: object, n: int, num_classes: int, *, repeat: bool = False) -> np.ndarray:
    """Validate user labels: one per sample (or one for all), integers in ``[0, K)``.

    With ``repeat``, a list shorter than ``n`` repeats in order (``0,1,2`` for 7 samples gives
    ``0,1,2,0,1,2,0``): balanced over the listed classes when ``n`` is a multiple of its length.
    """
    if num_classes <= 0:
        raise InputError("this model takes no labels (it is not conditional)")
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iu":
        if (
            arr.dtype.kind == "f"
            and arr.size
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).reshape(-1)
    if arr.size == 1:
        arr = np.full(n, arr[0], dtype=np.int64)
    if repeat and 0 < arr.size < n:
        arr = np.resize(arr, n)
    if arr.size != n:
        hint = "at most one per sample" if repeat else "one per sample or one for all"
        raise InputError(f"got {arr.size} labels for {n} samples; give {hint}")
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        raise InputError(
            f"label {int(arr[bad][0])} is out of range: this model has classes 0..{num_classes - 1}"
        )
    return arr


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _normal_ppf(prob: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Inverse standard-normal CDF (Acklam's rational approximation + one Halley step)."""
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p: npt.NDArray[np.float64] = np.clip(np.asarray(prob, dtype=np.float64), 1e-300, 1 - 1e-16)
    x = np.empty_like(p)
    plow = 0.02425
    lo, hi = p < plow, p > 1 - plow
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    x[mid] = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    for mask, sign, pp in ((lo, 1.0, p[lo]), (hi, -1.0, 1 - p[hi])):
        q = np.sqrt(-2 * np.log(pp))
        x[mask] = (
            sign
            * (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        )
    # One Halley refinement brings the error to ~1e-15.
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    cdf: npt.NDArray[np.float64] = 0.5 * erfc(-x / math.sqrt(2))  # np.vectorize returns Any
    e = cdf - p
    u = e * math.sqrt(2 * math.pi) * np.exp(x * x / 2)
    return x - u / (1 + x * u / 2)
