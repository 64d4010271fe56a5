"""The text statistics of genedge.eval.text_eval, on texts whose answers are known."""

from __future__ import annotations

import math

import pytest

from genedge.eval.text_eval import char_distance, copied_share, distinct_ngrams, unigram_entropy


def test_unigram_entropy_is_that_of_the_character_frequencies() -> None:
    assert unigram_entropy("abab") == pytest.approx(math.log(2))
    assert unigram_entropy("aaab") == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    )
    assert unigram_entropy("aaaa") == 0.0


def test_distinct_ngrams_counts_repeats() -> None:
    assert distinct_ngrams(["abcd"], 2) == 1.0  # ab bc cd
    assert distinct_ngrams(["abab"], 2) == pytest.approx(2 / 3)  # ab ba ab
    assert distinct_ngrams(["a"], 2) == 0.0


def test_copied_share_finds_verbatim_windows() -> None:
    train = "x" * 10 + "the quick brown fox jumps over the lazy dog" + "y" * 10
    assert copied_share(["the quick brown fox jumps over the lazy dog"], train, window=8) == 1.0
    assert copied_share(["zzzzzzzzzzzzzzzzzzzzzzzz"], train, window=8) == 0.0
    half = copied_share(["the quick brown zzzzzzzzzzzzzzzz"], train, window=16)
    assert half == pytest.approx(1 / 3)  # windows at 0, 8, 16: only the first is copied


def test_char_distance_is_total_variation() -> None:
    assert char_distance("aabb", "abab") == 0.0
    assert char_distance("aaaa", "bbbb") == 1.0
    assert char_distance("aaab", "abbb") == pytest.approx(0.5)
