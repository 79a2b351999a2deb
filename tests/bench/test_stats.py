"""Percentiles, precision/recall and interval coverage against hand-computed answers."""

from __future__ import annotations

import random

import numpy as np
import pytest

from voiceframe.bench.stats import covered, mean, percentile, precision_recall


def test_percentile_known_values() -> None:
    xs = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(xs, 0) == 10.0
    assert percentile(xs, 50) == 30.0
    assert percentile(xs, 100) == 50.0
    assert percentile(xs, 95) == pytest.approx(48.0)  # rank 3.8: 40 + 0.8 * 10
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order does not matter


def test_percentile_matches_numpy_linear() -> None:
    rng = random.Random(7)
    for n in (2, 3, 10, 101):
        xs = [rng.uniform(-5, 5) for _ in range(n)]
        for q in (1, 25, 50, 90, 95, 99):
            assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        mean([])


def test_precision_recall() -> None:
    predicted = [True, True, False, False, True]
    actual = [True, False, False, True, True]
    p, r, acc = precision_recall(predicted, actual)
    assert (p, r, acc) == (pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(3 / 5))
    # "always complete" (VAD only): recall 1, precision = share of complete turns
    assert precision_recall([True] * 4, [True, False, True, False])[:2] == (0.5, 1.0)
    # never predicting positive is no false alarm
    assert precision_recall([False, False], [True, False])[:2] == (1.0, 0.0)


def test_covered_merges_overlaps_and_clips() -> None:
    assert covered([], 0, 10) == 0.0
    assert covered([(0.0, 2.0), (1.0, 3.0)], 0.0, 10.0) == 3.0
    assert covered([(0.0, 2.0), (1.0, 3.0), (5.0, 9.0)], 1.0, 6.0) == 3.0
    assert covered([(5.0, 6.0), (0.0, 1.0)], 2.0, 4.0) == 0.0
    assert covered([(0.0, 10.0), (2.0, 3.0)], 1.0, 4.0) == 3.0
