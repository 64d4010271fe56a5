"""Within-class diversity of conditional models on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from genedge.eval.diversity import MIN_PER_CLASS, class_recall, class_spread


def _classes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian classes in 4-D, ``n`` samples each."""
    centres = np.array([[0, 0, 0, 0], [20, 0, 0, 0], [0, 20, 0, 0]], float)
    y = np.repeat(np.arange(3), n)
    return centres[y] + rng.standard_normal((3 * n, 4)), y


def test_a_model_drawing_real_like_classes_matches_real_data() -> None:
    rng = np.random.default_rng(0)
    real, y = _classes(rng, 200)
    fake, fake_y = _classes(rng, 200)
    held, held_y = _classes(rng, 200)
    assert class_recall(real, y, fake, fake_y, 3) == pytest.approx(
        class_recall(real, y, held, held_y, 3), abs=0.05
    )
    assert class_spread(fake, fake_y, 3) == pytest.approx(class_spread(held, held_y, 3), rel=0.05)
    # Unit Gaussians in 4-D: the mean distance to the centre is about sqrt(4) (chi, 4 dof: 1.88).
    assert class_spread(fake, fake_y, 3) == pytest.approx(1.88, abs=0.1)


def test_one_prototype_per_class_has_no_variety() -> None:
    rng = np.random.default_rng(1)
    real, y = _classes(rng, 200)
    fake, fake_y = _classes(rng, 200)
    for c in range(3):  # every sample of a class is the same point, slightly jittered
        fake[fake_y == c] = fake[fake_y == c][0] + 1e-3 * rng.standard_normal(4)
    assert class_spread(fake, fake_y, 3) < 0.01
    assert class_recall(real, y, fake, fake_y, 3) < 0.05
    # Right labels, wrong variety: the overall class mix is perfect, so only these catch it.
    assert np.bincount(fake_y).tolist() == np.bincount(y).tolist()


def test_a_swapped_label_scores_no_recall_for_its_classes() -> None:
    rng = np.random.default_rng(2)
    real, y = _classes(rng, 200)
    fake, fake_y = _classes(rng, 200)
    swapped = np.where(fake_y == 1, 2, np.where(fake_y == 2, 1, fake_y))
    # Class 0 is right, classes 1 and 2 are drawn in each other's place.
    assert class_recall(real, y, fake, swapped, 3) < 0.4


def test_classes_with_too_few_samples_are_left_out() -> None:
    rng = np.random.default_rng(3)
    real, y = _classes(rng, 50)
    few = MIN_PER_CLASS - 1
    fake, fake_y = real[:few], y[:few]  # only class 0, and too few of it
    assert np.isnan(class_recall(real, y, fake, fake_y, 3))
    assert np.isnan(class_spread(fake, fake_y, 3))
