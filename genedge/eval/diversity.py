"""Within-class diversity of a conditional model: does each class vary as much as the real
class does, or does the model draw a few prototypes per label?

Both figures are computed per class in a feature space and averaged over the classes that
have enough samples on both sides; the evaluation sets them beside the same figure for real
data (real half B against real half A), so a ratio near 1 means real-like variety.

* :func:`class_recall`: improved recall (k-NN manifolds, :func:`~genedge.eval.metrics.
  precision_recall`) of each class's real samples against the samples generated for that
  label;
* :func:`class_spread`: the mean distance of each class's samples to their class centroid.
"""

from __future__ import annotations

import numpy as np

from genedge.eval.metrics import precision_recall

#: Samples a class needs on each side to be scored (more than the k of the k-NN radii).
MIN_PER_CLASS = 8


def _classes(y_a: np.ndarray, y_b: np.ndarray, num_classes: int) -> list[int]:
    return [
        c
        for c in range(num_classes)
        if (y_a == c).sum() >= MIN_PER_CLASS and (y_b == c).sum() >= MIN_PER_CLASS
    ]


def class_recall(
    real: np.ndarray,
    real_y: np.ndarray,
    other: np.ndarray,
    other_y: np.ndarray,
    num_classes: int,
    k: int = 3,
) -> float:
    """Mean over classes of the recall (k-NN, ``k``) of ``real``'s class-``c`` samples on the
    manifold of ``other``'s class-``c`` samples; NaN when no class has
    :data:`MIN_PER_CLASS` samples on both sides."""
    scores = [
        precision_recall(real[real_y == c], other[other_y == c], k=k)[1]
        for c in _classes(real_y, other_y, num_classes)
    ]
    return float(np.mean(scores)) if scores else float("nan")


def class_spread(x: np.ndarray, y: np.ndarray, num_classes: int) -> float:
    """Mean over classes (with :data:`MIN_PER_CLASS` samples) of the mean Euclidean distance
    of the class's samples to its centroid; 0 for a model that draws one sample per class."""
    x = x.reshape(len(x), -1).astype(np.float64)
    spreads = [
        float(np.linalg.norm(x[y == c] - x[y == c].mean(0), axis=1).mean())
        for c in range(num_classes)
        if (y == c).sum() >= MIN_PER_CLASS
    ]
    return float(np.mean(spreads)) if spreads else float("nan")
