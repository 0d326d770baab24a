"""Bootstrap intervals over test stars: seeded, around the estimate, and paired."""

from __future__ import annotations

import numpy as np
import pytest

from desa.evaluate import bootstrap_interval, paired_difference, paired_verdict, scored
from desa.evaluate.bootstrap import statistics


def _mean_of(values: np.ndarray, ids: np.ndarray):
    return scored(ids, lambda rows: float(values[rows].mean()))


def test_interval_contains_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 0.5, 80)
    item = _mean_of(values, np.arange(80) + 1000)
    first = bootstrap_interval(item, n_resamples=500, seed=3)
    assert first == bootstrap_interval(item, n_resamples=500, seed=3)  # seeded
    assert first != bootstrap_interval(item, n_resamples=500, seed=4)
    low, high = first
    assert low < item.value < high
    # The percentile interval of a mean is about ±1.96 standard errors.
    half = 1.96 * values.std(ddof=1) / np.sqrt(80)
    assert high - low == pytest.approx(2 * half, rel=0.2)


def test_a_star_with_several_rows_is_resampled_as_one() -> None:
    # Star 7 has three rows; every resample takes 0 or a multiple of 3 of its rows.
    ids = np.array([7, 7, 7, 8, 9])
    values = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    taken = []
    item = scored(ids, lambda rows: taken.append(np.sort(rows)) or float(values[rows].sum()))
    draws = np.array([[7, 7, 8], [8, 9, 9], [7, 8, 9]])
    np.testing.assert_array_equal(statistics(item, draws), [6.0, 0.0, 3.0])
    np.testing.assert_array_equal(taken[0], [0, 0, 1, 1, 2, 2, 3])
    with pytest.raises(ValueError, match="no rows"):
        statistics(item, np.array([[7, 10, 8]]))


def test_paired_difference_cancels_what_the_models_share() -> None:
    # Both models see the same hard and easy stars; b is worse by exactly 0.1 on every star.
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 1.0, 60)
    ids = np.arange(60)
    a = _mean_of(difficulty, ids)
    b = _mean_of(difficulty - 0.1, ids)
    paired = paired_difference(a, b, n_resamples=300, seed=0)
    assert paired["n_stars"] == 60
    assert paired["diff"] == pytest.approx(0.1)
    assert paired["diff_ci"] == pytest.approx([0.1, 0.1])  # resolved despite the spread
    # Unpaired, each interval is wide and they overlap: the pairing is what resolves it.
    ci_a, ci_b = (bootstrap_interval(x, n_resamples=300, seed=0) for x in (a, b))
    assert ci_a[0] < ci_b[1]
    assert paired_verdict(paired["diff_ci"], higher_is_better=True) == "ahead"
    assert paired_verdict(paired["diff_ci"], higher_is_better=False) == "behind"


def test_paired_difference_uses_only_common_stars() -> None:
    a = _mean_of(np.array([1.0, 2.0, 3.0, 100.0]), np.array([1, 2, 3, 4]))
    b = _mean_of(np.array([0.0, 1.0, 2.0]), np.array([1, 2, 3]))
    paired = paired_difference(a, b, n_resamples=50, seed=0)
    assert paired["n_stars"] == 3 and paired["diff"] == pytest.approx(1.0)
    assert paired_difference(a, _mean_of(np.zeros(1), np.array([9])))["diff"] is None


def test_verdicts_say_ahead_only_when_the_interval_excludes_zero() -> None:
    assert paired_verdict([0.01, 0.2], higher_is_better=True) == "ahead"
    assert paired_verdict([-0.01, 0.2], higher_is_better=True) == "not resolved"
    assert paired_verdict([-0.3, -0.1], higher_is_better=True) == "behind"
    assert paired_verdict([-0.3, -0.1], higher_is_better=False) == "ahead"
    assert paired_verdict(None, higher_is_better=True) == "no interval"


def test_undefined_resamples_are_skipped() -> None:
    ids = np.arange(6)
    labels = np.array([0, 0, 0, 0, 0, 1])

    def one_class_fails(rows: np.ndarray) -> float:
        if labels[rows].min() == labels[rows].max():
            raise ValueError("one class")
        return float(labels[rows].mean())

    low, high = bootstrap_interval(scored(ids, one_class_fails), n_resamples=400, seed=0)
    assert 0 < low <= high < 1
    rare = scored(np.arange(40), lambda rows: 1.0 if (rows == 39).sum() >= 2 else np.nan)
    assert bootstrap_interval(rare, n_resamples=200, seed=0) is None  # mostly undefined
