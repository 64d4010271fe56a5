"""`--labels` lists shorter than n repeat in order, in the library and the CLI alike."""

from __future__ import annotations

import numpy as np
import pytest

from genedge.runtime.errors import InputError
from genedge.runtime.noise import check_labels


def test_a_shorter_list_repeats_in_order_only_when_asked() -> None:
    np.testing.assert_array_equal(
        check_labels([0, 1, 2], 7, 10, repeat=True), [0, 1, 2, 0, 1, 2, 0]
    )
    counts = np.bincount(check_labels([0, 1, 2], 99, 10, repeat=True), minlength=10)
    assert counts[:3].tolist() == [33, 33, 33] and counts[3:].sum() == 0
    with pytest.raises(InputError, match="got 3 labels for 7 samples"):
        check_labels([0, 1, 2], 7, 10)  # the API keeps one per sample (or one for all)
    with pytest.raises(InputError, match="at most one per sample"):
        check_labels([0, 1, 2], 2, 10, repeat=True)
    with pytest.raises(InputError, match="out of range"):
        check_labels([0, 12], 4, 10, repeat=True)
