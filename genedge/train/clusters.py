"""k-means clusters of the training data, the pseudo-labels of self-conditioned GANs.

An unconditional generator maps one connected latent space onto every kind of image, so the
images between two kinds (a 3 turning into an 8) are malformed. Self-conditioning (Liu et al.,
"Diverse Image Generation via Self-Conditioned GANs", CVPR 2020) clusters the real data and
trains a generator conditioned on the cluster: each cluster is a narrower, better connected
target, and sampling first picks a cluster by its share of the data. No labels are used.
"""

from __future__ import annotations

import numpy as np

#: Lloyd iterations after k-means++ seeding; MNIST's assignments settle well within this.
KMEANS_ITERATIONS = 40


def kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster index (int64, ``0..k-1``) of each row of ``x``, by seeded k-means++ and Lloyd.

    Deterministic for a given ``x``, ``k`` and ``seed``. Clusters that empty out are reseeded
    with the point farthest from its centre, so every index is used when ``k <= len(x)``.

    Args:
        x: ``(N, ...)`` samples, flattened to vectors.
        k: Number of clusters, ``1 <= k <= N``.
        seed: Seeds the k-means++ initialisation.

    Raises:
        ValueError: ``k`` is out of range.
    """
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    if not 1 <= k <= len(flat):
        raise ValueError(f"k must be in 1..{len(flat)}, got {k}")
    rng = np.random.default_rng(seed)
    sq = (flat**2).sum(1)
    centres = np.empty((k, flat.shape[1]))
    centres[0] = flat[rng.integers(len(flat))]
    nearest = _sq_dist(flat, sq, centres[:1])[:, 0]
    for j in range(1, k):
        p = nearest / nearest.sum() if nearest.sum() > 0 else None
        centres[j] = flat[rng.choice(len(flat), p=p)]
        nearest = np.minimum(nearest, _sq_dist(flat, sq, centres[j : j + 1])[:, 0])
    labels = np.zeros(len(flat), np.int64)
    for _ in range(KMEANS_ITERATIONS):
        dist = _sq_dist(flat, sq, centres)
        labels = dist.argmin(1)
        counts = np.bincount(labels, minlength=k)
        for empty in np.flatnonzero(counts == 0):
            far = int(dist[np.arange(len(flat)), labels].argmax())
            labels[far] = empty
            dist[far] = 0.0
            counts = np.bincount(labels, minlength=k)
        new = np.zeros_like(centres)
        np.add.at(new, labels, flat)
        new /= counts[:, None]
        if np.allclose(new, centres):
            break
        centres = new
    return labels.astype(np.int64)


def _sq_dist(x: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(N, K)``, clipped at 0 against rounding."""
    d: np.ndarray = np.maximum(sq[:, None] - 2 * x @ centres.T + (centres**2).sum(1)[None], 0.0)
    return d
