"""k-means, the pseudo-labels of the self-conditioned DCGAN."""

from __future__ import annotations

import numpy as np
import pytest

from genedge.train.clusters import kmeans


def _blobs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (6, 5))
    truth = rng.integers(0, 6, 600)
    return centres[truth] + rng.normal(0, 0.5, (600, 5)), truth


def test_recovers_planted_blobs_deterministically() -> None:
    x, truth = _blobs(0)
    labels = kmeans(x.reshape(600, 1, 5), 6, seed=3)  # any trailing shape is flattened
    assert labels.dtype == np.int64 and labels.shape == (600,)
    # Each found cluster is exactly one planted blob (up to renaming).
    pairs = {(a, b) for a, b in zip(labels.tolist(), truth.tolist(), strict=True)}
    assert len(pairs) == 6 and len({a for a, _ in pairs}) == len({b for _, b in pairs}) == 6
    np.testing.assert_array_equal(labels, kmeans(x, 6, seed=3))


def test_every_cluster_is_used_even_with_duplicates() -> None:
    # 30 copies of 3 points and k=5: two clusters would empty out without reseeding.
    x = np.repeat(np.array([[0.0], [1.0], [5.0]]), 10, axis=0)
    x[::7] += 0.01
    labels = kmeans(x, 5, seed=0)
    assert set(labels.tolist()) == set(range(5))


@pytest.mark.parametrize("k", [0, 31])
def test_k_out_of_range(k: int) -> None:
    with pytest.raises(ValueError, match="k must be in 1..30"):
        kmeans(np.zeros((30, 2)), k, seed=0)
