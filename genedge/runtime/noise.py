"""Seeded noise and labels, drawn in numpy so every backend sees the same inputs.

Draws are chunk-invariant: drawing ``n`` rows in one call or in several consecutive calls from
the same generator gives the same numbers, so the batch size never changes the samples.

How a seed becomes a graph input's values is the manifest's ``noise_scheme``, and this module
is the one place that implements it (:func:`draw_noise`, :class:`NoiseDraw`; the recipe, for
other languages, is in ``docs/manifest.md``). Input ``k`` is 0 for the latent and 1, 2, ...
for the graph's ``noise`` inputs in graph order:

- ``"stream"`` (schema 1.x): input ``k``'s values for all samples come in turn from one
  generator, ``PCG64(seed)`` for ``k = 0`` and ``PCG64(SeedSequence([seed, k]))`` after.
- ``"blocks64"`` (schema 2.0): sample ``i`` is row ``i % 64`` of block ``b = i // 64``, drawn
  from ``PCG64(SeedSequence([seed, k, b]))`` as ``(64, *per_sample_shape)``: positional, so
  any slice of a run can be drawn alone (``--shard``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from genedge.runtime.errors import InputError

#: Samples per block of the ``blocks64`` scheme.
BLOCK = 64
#: The most values a discarding draw holds at once (stream scheme, ``start > 0``).
_DISCARD_VALUES = 1 << 20


def check_seed(seed: object) -> None:
    """Refuse a seed that is not a whole number >= 0 (or ``None``)."""
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise InputError(f"seed must be an integer or None, got {type(seed).__name__}")
    if seed is not None and seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")


def make_rng(seed: int | None) -> np.random.Generator:
    """A PCG64 generator; ``None`` draws fresh entropy from the OS."""
    check_seed(seed)
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


def balanced_labels(n: int, num_classes: int, start: int = 0) -> np.ndarray:
    """Labels ``0, 1, ..., K-1, 0, 1, ...``: every class equally often (to within one).

    Positional: sample ``i`` gets ``i % K``; ``start`` is the position of the first one.
    """
    return (np.arange(start, start + n, dtype=np.int64) % num_classes).astype(np.int64)


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


def check_start(start: object) -> int:
    """Validate a first sample's position (``start``)."""
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise InputError(f"start must be a whole number >= 0, got {start!r}")
    return int(start)


def check_seeded_start(seed: int | None, start: object) -> int:
    """Validate ``start``; a position past 0 needs a seed (unseeded samples have none)."""
    start = check_start(start)
    if start and seed is None:
        raise InputError("start (or --shard) needs a seed: unseeded samples have no positions")
    return start


def stream_generator(seed: int, k: int) -> np.random.Generator:
    """The ``stream`` scheme's generator of input ``k``: ``PCG64(seed)`` for the latent
    (``k = 0``), ``PCG64(SeedSequence([seed, k]))`` for the ``k``-th noise input."""
    if k == 0:
        return make_rng(seed)
    check_seed(seed)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), k])))


def block_generator(seed: int, k: int, block: int) -> np.random.Generator:
    """The ``blocks64`` scheme's generator of input ``k``'s block ``block`` (samples
    ``64 * block`` to ``64 * block + 63``): ``PCG64(SeedSequence([seed, k, block]))``."""
    entropy = np.array(_words(int(seed)) + _words(int(k)) + _words(int(block)), np.uint32)
    # SeedSequence reads a list as its items' 32-bit words concatenated, so this array is the
    # same entropy as [seed, k, block]; given as uint32 words it seeds ~5 us faster.
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _words(v: int) -> list[int]:
    """A whole number as SeedSequence reads it: 32-bit words, least significant first."""
    out = [v & 0xFFFFFFFF]
    v >>= 32
    while v:
        out.append(v & 0xFFFFFFFF)
        v >>= 32
    return out


def _fill(rng: np.random.Generator, out: np.ndarray, lo: float | None, psi: float | None) -> None:
    """Fill ``out`` (C-contiguous float32) with the next values of ``rng``."""
    if lo is None or psi is None:
        rng.standard_normal(dtype=np.float32, out=out)
        return
    z = _normal_ppf(lo + rng.random(out.shape) * (1.0 - 2.0 * lo)).astype(np.float32)
    np.clip(z, -psi, psi, out=out)


class NoiseDraw:
    """Successive samples' values of one graph input for one seeded request, by the scheme.

    ``take(m)`` returns the next ``m`` samples' values, starting at sample ``start``; any
    split of a request into ``take`` calls gives the same numbers. ``per_sample_shape`` is one
    sample's shape (a sequence's includes its length); ``truncation`` draws from the normal
    truncated to ``[-psi, psi]`` (inverse CDF of a uniform draw).

    For ``"stream"``, a ``start > 0`` draws and discards the first ``start`` samples' values
    (exact; costs time in proportion to ``start``). ``"blocks64"`` builds generators only for
    the blocks it touches and draws only the rows up to the last one it needs.
    """

    def __init__(
        self,
        scheme: str,
        seed: int,
        k: int,
        start: int,
        per_sample_shape: tuple[int, ...],
        truncation: float | None = None,
    ) -> None:
        self._lo = _truncation_lo(truncation)
        self._psi = None if truncation is None else float(truncation)
        self.per_sample_shape = tuple(int(d) for d in per_sample_shape)
        self.position = check_start(start)
        check_seed(seed)
        self._seed, self._k = int(seed), int(k)
        if scheme == "stream":
            self._rng: np.random.Generator | None = stream_generator(self._seed, self._k)
            self._skip(self._rng, self.position)
        elif scheme == "blocks64":
            self._rng = None
            # The block the last take stopped inside: (the position it stopped at, its rng).
            self._block: tuple[int, np.random.Generator] | None = None
        else:
            raise InputError(f"unknown noise scheme {scheme!r} (known: stream, blocks64)")

    @classmethod
    def continuing(
        cls, rng: np.random.Generator, per_sample_shape: tuple[int, ...], truncation: float | None
    ) -> NoiseDraw:
        """Unseeded draws continuing ``rng`` (a sampler's own stream): not positional."""
        self = cls.__new__(cls)
        self._lo = _truncation_lo(truncation)
        self._psi = None if truncation is None else float(truncation)
        self.per_sample_shape = tuple(int(d) for d in per_sample_shape)
        self.position = 0
        self._rng = rng
        return self

    def take(self, count: int, out: np.ndarray | None = None) -> np.ndarray:
        """The next ``count`` samples' values, float32 ``(count, *per_sample_shape)``."""
        if out is None:
            out = np.empty((count, *self.per_sample_shape), np.float32)
        if self._rng is not None:
            _fill(self._rng, out, self._lo, self._psi)
        else:
            self._take_blocks(out)
        self.position += count
        return out

    def _take_blocks(self, out: np.ndarray) -> None:
        pos, end, done = self.position, self.position + len(out), 0
        while pos < end:
            b, r = divmod(pos, BLOCK)
            m = min(BLOCK - r, end - pos)
            if self._block is not None and self._block[0] == pos:
                rng = self._block[1]  # continue where the last take stopped
            else:
                rng = block_generator(self._seed, self._k, b)
                if r:
                    self._skip(rng, r)
            _fill(rng, out[done : done + m], self._lo, self._psi)
            self._block = (pos + m, rng) if r + m < BLOCK else None
            pos, done = pos + m, done + m

    def _skip(self, rng: np.random.Generator, rows: int) -> None:
        """Draw and drop ``rows`` samples' values (chunk-invariance makes this exact)."""
        size = max(1, math.prod(self.per_sample_shape))
        step = max(1, _DISCARD_VALUES // size)
        while rows > 0:
            m = min(step, rows)
            _fill(rng, np.empty((m, *self.per_sample_shape), np.float32), self._lo, self._psi)
            rows -= m


def draw_noise(
    scheme: str,
    seed: int,
    k: int,
    start: int,
    count: int,
    per_sample_shape: tuple[int, ...],
    truncation: float | None = None,
) -> np.ndarray:
    """Samples ``start`` to ``start + count - 1``'s values of graph input ``k`` for ``seed``
    under noise scheme ``scheme`` (see the module docstring): float32
    ``(count, *per_sample_shape)``.

    Example:
        >>> z = draw_noise("blocks64", 0, 0, 100, 5, (8,))  # == draw_noise(.., 0, 105, ..)[100:]
    """
    return NoiseDraw(scheme, seed, k, start, per_sample_shape, truncation).take(count)


def _truncation_lo(truncation: float | None) -> float | None:
    """``Phi(-psi)`` of a valid truncation ``psi``; ``None`` for none."""
    if truncation is None:
        return None
    if not (isinstance(truncation, (int, float)) and math.isfinite(truncation) and truncation > 0):
        raise InputError(f"truncation must be a positive number, got {truncation!r}")
    return _normal_cdf(-float(truncation))


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
