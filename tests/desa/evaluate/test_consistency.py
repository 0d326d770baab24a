"""Pair distances between rows of one star, and their summary."""

from __future__ import annotations

import numpy as np
import pytest

from desa.evaluate import distance_summary, pair_distances, pair_star_ids, random_pair_median


def test_pair_distances_constructed_case() -> None:
    points = np.array([[1, 1], [0, 0], [9, 9], [1, 2], [3, 4], [1, 4]], dtype=float)
    ids = ["B", "A", "C", "B", "A", "B"]
    # A: (0,0)-(3,4) = 5. B: rows 0, 3, 5 -> (1,1)-(1,2) = 1, (1,1)-(1,4) = 3, (1,2)-(1,4) = 2.
    # C has one row: no pair.
    np.testing.assert_allclose(pair_distances(points, ids), [5.0, 1.0, 3.0, 2.0])


def test_pair_distances_none_repeated() -> None:
    result = pair_distances(np.zeros((3, 2)), [1, 2, 3])
    assert result.shape == (0,)


def test_pair_distances_of_no_rows() -> None:
    assert pair_distances(np.empty((0, 2)), np.empty(0, dtype=int)).size == 0


def test_pair_distances_errors() -> None:
    with pytest.raises(ValueError, match="star_ids"):
        pair_distances(np.zeros((3, 2)), [1, 2])
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        pair_distances([[0.0, 0.0], [np.nan, 1.0]], [1, 1])


def test_distance_summary_by_hand() -> None:
    summary = distance_summary([1.0, 2.0, 3.0, 4.0], bins=2)
    assert summary["n_pairs"] == 4
    assert summary["mean"] == 2.5 and summary["median"] == 2.5
    assert summary["std"] == pytest.approx(np.sqrt(1.25))
    assert summary["hist_counts"] == [2, 2]
    assert summary["hist_edges"] == [1.0, 2.5, 4.0]


def test_distance_summary_empty() -> None:
    summary = distance_summary(np.empty(0))
    assert summary["n_pairs"] == 0
    assert all(summary[k] is None for k in ("mean", "std", "median", "hist_counts", "hist_edges"))


def test_pair_star_ids_follow_pair_distances() -> None:
    ids = ["B", "A", "C", "B", "A", "B"]  # the constructed case above: A once, B three times
    np.testing.assert_array_equal(pair_star_ids(ids), ["A", "B", "B", "B"])
    assert pair_star_ids([1, 2]).size == 0


def test_random_pair_median_by_hand() -> None:
    # Two stars 10 apart; pairs within a star are never counted.
    points = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0]])
    assert random_pair_median(points, [1, 1, 2], n_pairs=500, seed=0) == 10.0
    assert random_pair_median(points, [1, 1, 1]) is None


def test_normalised_pair_distance_is_invariant_to_the_scale_of_the_space() -> None:
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(40), 2)
    points = rng.normal(size=(40, 6))[ids]  # both rows of a star at the star's place
    points = points + 0.1 * rng.normal(size=points.shape)

    def normalised(x: np.ndarray) -> float:
        return np.median(pair_distances(x, ids)) / random_pair_median(x, ids, seed=3)

    assert normalised(points) == pytest.approx(normalised(7.5 * points))
    assert normalised(points) < 0.2  # two spectra of a star sit much closer than two stars
    assert random_pair_median(points, ids, seed=3) == random_pair_median(points, ids, seed=3)
