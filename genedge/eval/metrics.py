"""Sample-quality metrics that need no downloaded weights (numpy only).

2-D toys follow the VEEGAN/PacGAN protocol: a sample is high quality when it lies within
3 standard deviations of its nearest mode; a mode is captured when high-quality samples land on
it; the mode histogram's KL divergence to uniform measures balance.

For any feature vectors (a classifier's penultimate layer, or raw points): the Fréchet distance,
improved precision/recall (Kynkäänniemi 2019, k=3), density/coverage (Naeem 2020, k=5) and a
predicted-class histogram. None of these is comparable across feature spaces or sample sizes:
report each beside its real-vs-real floor (see :mod:`genedge.eval.evaluate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ModeReport:
    """Mode coverage of 2-D samples around known mode centres."""

    modes_total: int
    modes_captured: int
    high_quality: float
    kl_to_uniform: float
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def mode_metrics(
    samples: np.ndarray, centres: np.ndarray, std: float, min_count: int | None = None
) -> ModeReport:
    """Modes captured, share of high-quality samples, and KL(mode histogram || uniform).

    Args:
        samples: ``(N, D)`` samples.
        centres: ``(M, D)`` mode centres.
        std: The modes' standard deviation; "high quality" means within ``3 * std``.
        min_count: High-quality samples a mode needs to count as captured. Defaults to
            ``max(1, N / M / 20)`` - a twentieth of its fair share, so a stray sample does
            not count as capturing a mode.
    """
    samples = np.asarray(samples, np.float64)
    centres = np.asarray(centres, np.float64)
    d2 = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    dist = np.sqrt(d2[np.arange(len(samples)), nearest])
    hq = dist <= 3 * std
    m = len(centres)
    counts = np.bincount(nearest[hq], minlength=m)
    need = max(1, len(samples) // m // 20) if min_count is None else min_count
    captured = int((counts >= need).sum())
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        kl = float((p[nz] * np.log(p[nz] * m)).sum())
    else:
        kl = float("inf")
    return ModeReport(m, captured, float(hq.mean()), kl, tuple(int(c) for c in counts))


# --- distribution metrics on feature vectors --------------------------------------------------


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.

    Args:
        a: ``(N, D)`` features, e.g. of real samples.
        b: ``(M, D)`` features, e.g. of generated samples.
    """
    a, b = _features(a), _features(b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = _cov(a), _cov(b)
    # Tr((S_a S_b)^(1/2)) equals the sum of square roots of the eigenvalues of the symmetric PSD
    # matrix S_a^(1/2) S_b S_a^(1/2): exact, and unlike scipy's sqrtm of the non-symmetric
    # product it never returns complex values for (near-)singular covariances, e.g. a collapse.
    root_a = _psd_sqrt(cov_a)
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    tr_sqrt = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_sqrt)
    return max(fd, 0.0)


@dataclass(frozen=True)
class ManifoldReport:
    """k-NN manifold metrics of generated samples against real ones."""

    precision: float
    recall: float
    density: float
    coverage: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    A point lies on a set's manifold when it is within the ``k``-th-nearest-neighbour radius of
    some point of that set. Precision is the share of ``fake`` on the real manifold, recall the
    share of ``real`` on the fake manifold.
    """
    real, fake = _features(real), _features(fake)
    precision = float(_inside_any(fake, real, _knn_radii(real, k)).mean())
    recall = float(_inside_any(real, fake, _knn_radii(fake, k)).mean())
    return precision, recall


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020).

    Density counts, per fake sample, the real ``k``-NN balls that contain it, divided by ``k``
    and averaged (about 1 when the sets match, above 1 for samples bunched on dense regions);
    coverage is the share of real balls that contain at least one fake sample.
    """
    real, fake = _features(real), _features(fake)
    radii = _knn_radii(real, k)
    hits = np.zeros(len(real), np.int64)  # fake samples inside each real ball
    for start, d2 in _sq_dist_blocks(real, fake):
        hits[start : start + len(d2)] = (d2 <= radii[start : start + len(d2), None] ** 2).sum(1)
    return float(hits.sum() / (k * len(fake))), float((hits > 0).mean())


def manifold_metrics(real: np.ndarray, fake: np.ndarray) -> ManifoldReport:
    """Precision/recall with k=3 and density/coverage with k=5, as the papers recommend."""
    precision, recall = precision_recall(real, fake, k=3)
    density, coverage = density_coverage(real, fake, k=5)
    return ManifoldReport(precision, recall, density, coverage)


@dataclass(frozen=True)
class ClassReport:
    """Histogram of the classes a classifier assigns to samples."""

    classes_total: int
    classes_covered: int
    kl_to_data: float
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def class_histogram(
    predicted: np.ndarray, data_mix: np.ndarray, min_count: int | None = None
) -> ClassReport:
    """Classes covered and KL(predicted class mix || the data's class mix).

    Args:
        predicted: ``(N,)`` predicted class of each sample.
        data_mix: ``(K,)`` class shares of the real data (summing to 1).
        min_count: Samples a class needs to count as covered; defaults, as in
            :func:`mode_metrics`, to a twentieth of a fair share.
    """
    mix = np.asarray(data_mix, np.float64)
    k = len(mix)
    counts = np.bincount(np.asarray(predicted, np.int64), minlength=k)[:k]
    need = max(1, len(predicted) // k // 20) if min_count is None else min_count
    p = counts / max(1, counts.sum())
    nz = p > 0
    kl = float((p[nz] * np.log(p[nz] / np.clip(mix[nz], 1e-12, None))).sum())
    return ClassReport(k, int((counts >= need).sum()), kl, tuple(int(c) for c in counts))


def _features(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x.reshape(len(x), -1)


def _cov(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.cov(x, rowvar=False))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(m)
    root: np.ndarray = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    return root


#: Rows of a distance block: bounds memory to about 64 MB for 2000 columns.
_BLOCK = 4096


def _sq_dist_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Squared Euclidean distances from blocks of rows of ``a`` to all of ``b``."""
    b_sq = (b**2).sum(1)
    for start in range(0, len(a), _BLOCK):
        block = a[start : start + _BLOCK]
        d2 = (block**2).sum(1)[:, None] + b_sq[None, :] - 2.0 * block @ b.T
        yield start, np.clip(d2, 0.0, None)


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its ``k``-th nearest neighbour in ``x`` (itself excluded)."""
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} needs more than k points, got {len(x)}")
    radii = np.empty(len(x))
    for start, d2 in _sq_dist_blocks(x, x):
        # Column k of the partition: index 0 is the point itself (distance 0).
        radii[start : start + len(d2)] = np.sqrt(np.partition(d2, k, axis=1)[:, k])
    return radii


def _inside_any(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies within ``radii[j]`` of some ``centres[j]``."""
    inside = np.zeros(len(points), bool)
    r2 = radii[None, :] ** 2
    for start, d2 in _sq_dist_blocks(points, centres):
        inside[start : start + len(d2)] = (d2 <= r2).any(1)
    return inside
