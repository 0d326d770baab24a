"""Fast rotators: GMM sides, the linear SVM boundary and per-side statistics."""

from __future__ import annotations

import numpy as np
import pytest

from desa.evaluate import fast_rotator_sides

OFFSETS = np.array([[0.0, 0.0], [0.3, 0.1], [-0.2, 0.3], [0.1, -0.3], [-0.3, -0.1], [0.2, 0.2]])


def _two_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = np.vstack([OFFSETS, OFFSETS + np.array([10.0, 0.0])])
    delta_k = np.array([1, 2, 3, 4, 5, np.nan, -1, -2, -3, -4, -5, -6], dtype=float)
    velocity = np.array([10, 12, 14, np.nan, np.nan, np.nan, 20, 30, 40, 50, 60, 70], dtype=float)
    return points, delta_k, velocity


def test_sides_of_two_blobs() -> None:
    points, delta_k, velocity = _two_blobs()
    result = fast_rotator_sides(points, delta_k, velocity, seed=0)
    labels = result["labels"]
    assert result["n"] == 12
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
    left, right = result["sides"][labels[0]], result["sides"][labels[6]]
    # Left blob: ΔK 1..5 (NaN skipped) -> median = mean = 3; velocities 10, 12, 14 -> std 2.
    assert (left["n"], left["n_delta_k"], left["n_velocity"]) == (6, 5, 3)
    assert left["delta_k_median"] == 3.0 and left["delta_k_mean"] == 3.0
    assert left["velocity_dispersion"] == pytest.approx(2.0)
    np.testing.assert_array_equal(left["delta_k"], [1, 2, 3, 4, 5])
    # Right blob: ΔK -1..-6 -> median = mean = -3.5; velocities 20..70 step 10 -> std sqrt(350).
    assert right["delta_k_median"] == -3.5 and right["delta_k_mean"] == -3.5
    assert right["velocity_dispersion"] == pytest.approx(np.sqrt(350.0))


def test_svm_boundary_separates_the_blobs() -> None:
    points, delta_k, velocity = _two_blobs()
    result = fast_rotator_sides(points, delta_k, velocity)
    svm = result["svm"]
    assert svm["accuracy"] == 1.0
    w, b = np.array(svm["w"]), svm["b"]
    decision = points @ w + b
    np.testing.assert_array_equal(decision > 0, result["labels"] == 1)
    # On the x axis the line crosses between the blobs.
    assert 0.3 < -b / w[0] < 9.7


def test_velocity_dispersion_needs_two_values() -> None:
    points, delta_k, velocity = _two_blobs()
    velocity[:6] = [np.nan, np.nan, np.nan, np.nan, np.nan, 5.0]
    result = fast_rotator_sides(points, delta_k, velocity)
    assert result["sides"][result["labels"][0]]["velocity_dispersion"] is None


def test_errors() -> None:
    points, delta_k, velocity = _two_blobs()
    with pytest.raises(ValueError, match="at least 4 points"):
        fast_rotator_sides(points[:3], delta_k[:3], velocity[:3])
    bad = points.copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError, match=r"rows \[4\]"):
        fast_rotator_sides(bad, delta_k, velocity)
    with pytest.raises(ValueError, match="12 values"):
        fast_rotator_sides(points, delta_k[:-1], velocity)
